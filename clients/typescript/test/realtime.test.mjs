// The SDK against a real fitpulse server: resume across a restart and a network drop,
// single-flight token refresh, 4001 handling, class catch-up by class seq, and request
// timeouts. Every wait is bounded.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { FitpulseClient, FitpulseError, memoryStorage } from "../dist/index.js";
import { Proxy, Server, sleep, until } from "./harness.mjs";

const FAST = { backoff: { baseMs: 50, capMs: 400 }, requestTimeoutMs: 5_000 };

/** A client whose `fetch` counts refresh-token exchanges. */
function client(baseUrl, extra = {}) {
  const counts = { refreshes: 0 };
  const counting = async (url, init) => {
    if (String(url).endsWith("/oauth/token") && String(init?.body).includes('"refresh_token"')) counts.refreshes += 1;
    return fetch(url, init);
  };
  const sdk = new FitpulseClient({ baseUrl, WebSocket, fetch: counting, storage: memoryStorage(), ...extra });
  return { sdk, counts };
}

/** Signs up a fresh member; answers the client and the user id. */
async function member(baseUrl, extra) {
  const { sdk, counts } = client(baseUrl, extra);
  const email = `m-${crypto.randomUUID()}@sdk.test`;
  const answer = await sdk.auth.register(email, "a long password 1", "Member");
  return { sdk, counts, userId: answer.user.id, email };
}

/** Collects the feed events a connection delivers. */
function collect(rt) {
  const seen = [];
  rt.on("custom.note", (frame) => seen.push(frame));
  return seen;
}

function assertExactly(seen, count) {
  assert.deepEqual(
    seen.map((f) => f.seq),
    Array.from({ length: count }, (_, i) => i + 1),
    "every seq once, in order",
  );
  assert.deepEqual(
    seen.map((f) => f.data.n),
    Array.from({ length: count }, (_, i) => i + 1),
  );
}

describe("resume", () => {
  let server;
  before(async () => {
    server = await new Server().start();
  });
  after(() => server.dispose());

  test("a server restart mid-stream loses no event", async () => {
    const admin = server.adminToken();
    const { sdk, userId } = await member(server.baseUrl);
    const rt = sdk.realtime(FAST);
    const seen = collect(rt);
    const states = [];
    rt.on("state", (s) => states.push(s.state));
    rt.connect();
    await until(() => rt.state === "open", 10_000, "the first connection");
    for (let n = 1; n <= 10; n++) await server.push(admin, userId, { n });
    await until(() => seen.length === 10, 10_000, "the first ten events");

    // The server restarts while events keep coming: some land before the app reconnects.
    await server.stop();
    await server.start();
    for (let n = 11; n <= 20; n++) await server.push(admin, userId, { n });
    await until(() => seen.length >= 20 && rt.state === "open", 20_000, "all twenty events after the restart");
    assertExactly(seen, 20);
    assert.ok(states.includes("reconnecting"), "the restart was noticed");
    assert.equal(rt.lastSeq, 20);
    rt.close();
  });

  test("a dropped network resumes exactly", async () => {
    const proxy = await new Proxy(server.port).listen();
    try {
      const admin = server.adminToken();
      const { userId, sdk } = await member(proxy.baseUrl);
      const rt = sdk.realtime(FAST);
      const seen = collect(rt);
      rt.connect();
      await until(() => rt.state === "open", 10_000, "the connection");
      for (let n = 1; n <= 5; n++) await server.push(admin, userId, { n });
      await until(() => seen.length === 5, 10_000, "five events");
      // The network goes away and stays away while events are published.
      proxy.refuse(true);
      proxy.cut();
      await until(() => rt.state === "reconnecting", 10_000, "the drop to be noticed");
      for (let n = 6; n <= 12; n++) await server.push(admin, userId, { n });
      proxy.refuse(false);
      for (let n = 13; n <= 15; n++) await server.push(admin, userId, { n });
      await until(() => seen.length >= 15, 20_000, "fifteen events");
      // A positive control for "nothing twice": one more event arrives after them.
      await server.push(admin, userId, { n: 16 });
      await until(() => seen.length >= 16, 10_000, "the sixteenth event");
      assertExactly(seen, 16);
      rt.close();
    } finally {
      await proxy.close();
    }
  });

  test("an app restart resumes from the stored position", async () => {
    const admin = server.adminToken();
    const storage = memoryStorage();
    const { sdk, userId } = await member(server.baseUrl, { storage });
    const first = sdk.realtime(FAST);
    const seen = collect(first);
    first.connect();
    await until(() => first.state === "open", 10_000, "the first connection");
    for (let n = 1; n <= 3; n++) await server.push(admin, userId, { n });
    await until(() => seen.length === 3, 10_000, "three events");
    first.close();
    for (let n = 4; n <= 6; n++) await server.push(admin, userId, { n });
    // A new client on the same storage (the app restarted) gets exactly what it missed.
    const again = new FitpulseClient({ baseUrl: server.baseUrl, WebSocket, storage }).realtime(FAST);
    const rest = collect(again);
    again.connect();
    await until(() => rest.length >= 3, 10_000, "the missed events");
    await server.push(admin, userId, { n: 7 });
    await until(() => rest.length >= 4, 10_000, "a live event");
    assert.deepEqual(rest.map((f) => f.seq), [4, 5, 6, 7]);
    again.close();
  });
});

test("a paused connection receives nothing and catches up exactly on resume", async () => {
  const server = await new Server().start();
  try {
    const admin = server.adminToken();
    const { sdk, userId } = await member(server.baseUrl);
    const rt = sdk.realtime(FAST);
    const seen = collect(rt);
    rt.connect();
    await until(() => rt.state === "open", 10_000, "the connection");
    await server.push(admin, userId, { n: 1 });
    await until(() => seen.length === 1, 10_000, "the first event");
    rt.pause("in the background");
    assert.equal(rt.state, "paused");
    for (let n = 2; n <= 4; n++) await server.push(admin, userId, { n });
    await sleep(300);
    assert.equal(seen.length, 1, "nothing arrives while paused");
    rt.resume();
    await until(() => seen.length >= 4, 10_000, "the events of the pause");
    await server.push(admin, userId, { n: 5 });
    await until(() => seen.length >= 5, 10_000, "a live event");
    assertExactly(seen, 5);
    rt.close();
  } finally {
    await server.dispose();
  }
});

test("a position the server no longer has becomes a refetch, then live delivery", async () => {
  const server = await new Server().start();
  try {
    const admin = server.adminToken();
    const storage = memoryStorage();
    const { sdk, userId } = await member(server.baseUrl, { storage });
    for (let n = 1; n <= 2; n++) await server.push(admin, userId, { n });
    // The app believes it processed seq 50 (a restored backup, another server's data).
    storage.set(`fitpulse.seq.${userId}`, "50");
    const rt = sdk.realtime(FAST);
    const refetches = [];
    rt.on("refetch", (data) => refetches.push(data));
    const seen = collect(rt);
    rt.connect();
    await until(() => refetches.length === 1, 10_000, "the refetch signal");
    assert.equal(refetches[0].since, 50);
    assert.equal(refetches[0].last_seq, 2);
    await server.push(admin, userId, { n: 3 });
    await until(() => seen.length === 1, 10_000, "the next live event");
    assert.equal(seen[0].seq, 3);
    assert.equal(rt.lastSeq, 3);
    rt.close();
  } finally {
    await server.dispose();
  }
});

test("closed as the oldest of too many sockets, the connection stops instead of fighting", async () => {
  const server = await new Server({ FITPULSE__WS__MAX_SOCKETS_PER_USER: "2" }).start();
  const others = [];
  try {
    const { sdk } = await member(server.baseUrl);
    const rt = sdk.realtime(FAST);
    const states = [];
    rt.on("state", (s) => states.push(s));
    rt.connect();
    await until(() => rt.state === "open", 10_000, "the connection");
    const token = await sdk.tokens.access();
    for (let i = 0; i < 2; i++) {
      const other = new WebSocket(`${server.baseUrl.replace("http", "ws")}/v1/ws?access_token=${token}`);
      others.push(other);
      await new Promise((resolve, reject) => {
        other.once("message", resolve);
        other.once("error", reject);
      });
    }
    await until(() => rt.state === "stopped", 10_000, "the stop");
    assert.equal(states.at(-1).code, 4010);
    await sleep(300);
    assert.equal(rt.state, "stopped", "no reconnect after 4010");
  } finally {
    for (const other of others) other.close();
    await server.dispose();
  }
});

test("after a sign-out the next user on the same client starts from their own feed", async () => {
  const server = await new Server().start();
  try {
    const admin = server.adminToken();
    const storage = memoryStorage();
    const { sdk, userId: first } = await member(server.baseUrl, { storage });
    const rt = sdk.realtime(FAST);
    const seen = collect(rt);
    rt.connect();
    await until(() => rt.state === "open", 10_000, "the first user's connection");
    for (let n = 1; n <= 5; n++) await server.push(admin, first, { n });
    await until(() => seen.length === 5, 10_000, "the first user's events");

    await sdk.auth.logout();
    assert.equal(rt.state, "stopped", "signing out closes the connection");
    const answer = await sdk.auth.register(`m-${crypto.randomUUID()}@sdk.test`, "a long password 1", "Second");
    const second = answer.user.id;
    seen.length = 0;
    rt.connect();
    await until(() => rt.state === "open", 10_000, "the second user's connection");
    // The second user's first event is seq 1 of their own feed, not a repeat of the first's.
    await server.push(admin, second, { n: 1 });
    await until(() => seen.length === 1, 10_000, "the second user's first event");
    assert.equal(seen[0].seq, 1);
    assert.equal(storage.get(`fitpulse.seq.${first}`), "5", "the first user's position is theirs");
    rt.close();
  } finally {
    await server.dispose();
  }
});

describe("tokens", () => {
  let server;
  before(async () => {
    // Tokens live 70 s and the socket is told 67 s before expiry: about 3 s after sign-in.
    server = await new Server({
      FITPULSE__AUTH__ACCESS_TTL_SECONDS: "70",
      FITPULSE__WS__TOKEN_EXPIRY_WARNING_SECONDS: "67",
    }).start();
  });
  after(() => server.dispose());

  test("REST and the socket asking at once make one refresh", async () => {
    const { sdk, counts } = await member(server.baseUrl, { refreshMarginMs: 67_000 });
    const rt = sdk.realtime(FAST);
    const asked = [];
    rt.on("token.expiring", () => {
      // The socket refreshes for this notice; REST needs a token at the same moment.
      asked.push(sdk.rest.get("/v1/me"));
    });
    rt.connect();
    await until(() => asked.length === 1, 15_000, "token.expiring");
    const me = await asked[0];
    assert.equal(typeof me.id, "string");
    await until(() => counts.refreshes >= 1, 10_000, "the refresh");
    // The socket took the new token: `auth.refresh` answered, and the socket stays usable.
    const pong = await rt.request("ping", {});
    assert.equal(typeof pong.server_time, "string");
    await sleep(300);
    assert.equal(counts.refreshes, 1, "one refresh for both");
    assert.equal(rt.state, "open");
    rt.close();
  });

  test("a 4001 makes one refresh and a reconnect", async () => {
    const storage = memoryStorage();
    const { sdk, counts } = await member(server.baseUrl, { storage });
    const stored = JSON.parse(storage.get("fitpulse.tokens"));
    // The stored access token is refused by the server; the refresh token is still good.
    await sdk.auth.use({ access_token: "not.a.token", refresh_token: stored.refresh_token, expires_in: 3600 });
    const rt = sdk.realtime(FAST);
    const closes = [];
    rt.on("state", (s) => s.code && closes.push(s.code));
    rt.connect();
    await until(() => rt.state === "open", 15_000, "the connection after the refresh");
    assert.deepEqual(closes, [4001]);
    assert.equal(counts.refreshes, 1);
    rt.close();
  });

  test("a refused refresh stops instead of looping", async () => {
    const { sdk, counts } = await member(server.baseUrl);
    await sdk.auth.use({ access_token: "not.a.token", refresh_token: "not-a-refresh-token", expires_in: 3600 });
    const rt = sdk.realtime(FAST);
    rt.connect();
    await until(() => rt.state === "stopped", 15_000, "the stop");
    assert.equal(counts.refreshes, 1);
    await assert.rejects(sdk.rest.get("/v1/me"), (err) => err instanceof FitpulseError && err.status === 401);
  });
});

describe("classes and requests", () => {
  let server;
  const coach = { email: "coach@sdk.test", password: "coach password 1" };
  before(async () => {
    server = new Server();
    server.cli("admin", "create-user", "--email", coach.email, "--password", coach.password, "--role", "coach");
    await server.start();
  });
  after(() => server.dispose());

  test("a participant who drops catches up the missed cues by class seq", async () => {
    const proxy = await new Proxy(server.port).listen();
    try {
      const teacher = new FitpulseClient({ baseUrl: server.baseUrl, WebSocket });
      await teacher.auth.login(coach.email, coach.password);
      const scheduled = new Date(Date.now() + 60_000).toISOString();
      const klass = await teacher.rest.post("/v1/live/classes", {
        body: { title: "SDK intervals", scheduled_at: scheduled, duration_minutes: 30 },
      });
      await teacher.rest.post("/v1/live/classes/{id}/{action}", { path: { id: klass.id, action: "start" } });
      const coachRt = teacher.realtime(FAST);
      coachRt.connect();

      const { sdk } = await member(proxy.baseUrl);
      const rt = sdk.realtime(FAST);
      const cues = [];
      rt.on("live.cue", (frame) => cues.push(frame));
      rt.connect();
      const joined = await rt.join(klass.id);
      assert.equal(joined.class_id, klass.id);

      const cue = (text) => coachRt.request("live.cue", { class_id: klass.id, text });
      await cue("warm up");
      await until(() => cues.length === 1, 10_000, "the first cue");
      proxy.refuse(true);
      proxy.cut();
      await until(() => rt.state === "reconnecting", 10_000, "the drop");
      await cue("sprint");
      await cue("recover");
      proxy.refuse(false);
      await until(() => cues.length >= 3, 20_000, "the missed cues");
      await cue("cool down");
      await until(() => cues.length >= 4, 10_000, "a live cue after the catch-up");
      assert.deepEqual(cues.map((c) => c.data.text), ["warm up", "sprint", "recover", "cool down"]);
      const seqs = cues.map((c) => c.class_seq);
      assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i), `consecutive class seqs: ${seqs}`);
      for (const c of cues) {
        assert.equal(c.class_id, klass.id);
        assert.equal(c.seq, undefined, "a class event never carries the user's seq");
      }
      assert.equal(rt.classSeqs.get(klass.id), seqs.at(-1));
      rt.close();
      coachRt.close();
    } finally {
      await proxy.close();
    }
  });

  test("a request without a reply rejects after its timeout", async () => {
    const { sdk } = await member(server.baseUrl);
    const rt = sdk.realtime(FAST);
    rt.connect();
    await until(() => rt.state === "open", 10_000, "the connection");
    // Positive control: the same request is answered while the server runs.
    assert.equal(typeof (await rt.request("ping", {}, { timeoutMs: 5_000 })).server_time, "string");
    await server.freeze(true);
    try {
      await assert.rejects(rt.request("ping", {}, { timeoutMs: 300 }), (err) => err instanceof FitpulseError && err.code === "timeout");
    } finally {
      await server.freeze(false);
    }
    rt.close();
  });

  test("a server error reaches the app as its code, message and details", async () => {
    const { sdk } = await member(server.baseUrl);
    await assert.rejects(
      sdk.rest.post("/v1/live/classes", { body: { title: "", scheduled_at: "soon", duration_minutes: 0 } }),
      (err) => err instanceof FitpulseError && err.status === 403 && typeof err.code === "string" && err.message.length > 0,
    );
    const rt = sdk.realtime(FAST);
    rt.connect();
    await assert.rejects(rt.join("00000000-0000-4000-8000-000000000000"), (err) => err.code === "class_not_found");
    rt.close();
  });
});
