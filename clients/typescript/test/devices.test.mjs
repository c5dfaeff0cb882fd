// Push registration through the SDK against a real server: an install id that survives a
// restart (shared storage), registration with a token refresh, notification settings,
// and a sign-out that unregisters the install so the next account on the phone does not
// get the last one's pushes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { FitpulseClient, FitpulseError, memoryStorage } from "../dist/index.js";
import { Server } from "./harness.mjs";

let server;
before(async () => {
  server = new Server();
  await server.start();
});
after(async () => {
  await server?.stop();
});

const token = (n) => n.toString(16).padStart(2, "0").repeat(32);

test("an install registers, refreshes its token, and a sign-out unregisters it", async () => {
  const storage = memoryStorage();
  const sdk = new FitpulseClient({ baseUrl: server.baseUrl, storage });
  await sdk.auth.register(`d-${crypto.randomUUID()}@sdk.test`, "a long password 1", "Ada");
  const first = await sdk.devices.register({ platform: "ios", push_token: token(1), locale: "pt-BR" });
  const installId = await sdk.devices.installId();
  assert.equal(first.device_id, installId);
  assert.equal(first.locale, "pt-BR");
  // The same install after a restart (same storage) keeps its id; the token moves on.
  const restarted = new FitpulseClient({ baseUrl: server.baseUrl, storage });
  assert.equal(await restarted.devices.installId(), installId);
  await restarted.devices.register({ platform: "ios", push_token: token(2) });
  const listed = await restarted.rest.request("get", "/v1/me/devices");
  assert.deepEqual(
    listed.data.items.map((d) => [d.device_id, d.push_token]),
    [[installId, token(2)]],
  );

  const changed = await restarted.devices.changeSettings({ categories: { social: true }, quiet_hours: { start: "22:00", end: "07:00" } });
  assert.equal(changed.categories.social, true);
  assert.deepEqual((await restarted.devices.settings()).quiet_hours, { start: "22:00", end: "07:00" });
  await assert.rejects(restarted.devices.changeSettings({ quiet_hours: { start: "25:00", end: "07:00" } }), (err) => err instanceof FitpulseError && err.status === 400);

  // Signing out removes the install: signed in again, the member has no device.
  const email = `e-${crypto.randomUUID()}@sdk.test`;
  const other = new FitpulseClient({ baseUrl: server.baseUrl, storage: memoryStorage() });
  await other.auth.register(email, "a long password 1", "Bo");
  await other.devices.register({ platform: "android", push_token: `fcm:${"x".repeat(60)}` });
  assert.equal((await other.rest.request("get", "/v1/me/devices")).data.items.length, 1);
  await other.auth.logout();
  await other.auth.login(email, "a long password 1");
  assert.equal((await other.rest.request("get", "/v1/me/devices")).data.items.length, 0);
});
