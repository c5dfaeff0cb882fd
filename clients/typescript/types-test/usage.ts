// Compiled (never run) by scripts/sdk-test: typical app code must type-check against the
// generated types, and misuse must not (`@ts-expect-error` fails the build if it compiles).
import { FitpulseClient, type FrameOf } from "../src/index.js";

export async function usage(client: FitpulseClient): Promise<void> {
  const me = await client.rest.get("/v1/me");
  const name: string = me.display_name;
  // @ts-expect-error: not a field of the profile
  void me.no_such_field;
  await client.rest.post("/v1/live/classes", {
    body: { title: "Intervals", scheduled_at: "2026-12-03T18:00:00Z", duration_minutes: 30 },
  });
  // @ts-expect-error: the schedule body has no such field
  await client.rest.post("/v1/live/classes", { body: { title: "x", scheduled_at: "y", duration_minutes: 1, colour: "red" } });

  const recipe = await client.rest.get("/v1/recipes/{id}", { path: { id: "smoky-bean-chili" } });
  const likes: number = recipe.likes;
  const week = await client.rest.get("/v1/me/plan");
  const firstSlot: string | undefined = week.days[0]?.entries[0]?.slot;
  void [likes, firstSlot];

  const rt = client.realtime();
  rt.on("live.cue", (frame: FrameOf<"live.cue">) => {
    const text: string = frame.data.text;
    const seconds: number | undefined = frame.data.interval?.seconds;
    void [text, seconds, name];
  });
  rt.on("message.feature", (frame) => void frame.data.title.toUpperCase());
  const joined = await rt.request("live.join", { class_id: "c" });
  const classSeq: number = joined.class_seq;
  // @ts-expect-error: live.join needs a class id
  await rt.request("live.join", {});
  void classSeq;
}
