// End-to-end tests of the web consoles in one headless Chromium (Debian's, through
// playwright-core): a coach and two members run a class; a coach runs a class on a
// workout's interval timeline; ops publishes a feature message
// that reaches a member live; the member app resumes after a network drop with nothing
// lost and nothing twice; a web app on a listed origin calls the API and one on another
// origin is refused. Run by scripts/browser-test, which starts the server and passes:
//   FITPULSE_URL, CHROMIUM, SCREENSHOT_DIR, COACH_EMAIL/COACH_PASSWORD, ADMIN_EMAIL/ADMIN_PASSWORD,
//   APP_ORIGIN_PORT (the web-app origin the server allows)
// Every wait is bounded; a failure leaves a screenshot of each open page beside the others.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run scripts/browser-test)`);
  return value;
};
const BASE = env("FITPULSE_URL");
const SHOTS = env("SCREENSHOT_DIR");
const COACH = { email: env("COACH_EMAIL"), password: env("COACH_PASSWORD") };
const ADMIN = { email: env("ADMIN_EMAIL"), password: env("ADMIN_PASSWORD") };
/** The port of the web-app origin the server lists in `http.cors.allowed_origins`. */
const APP_ORIGIN_PORT = Number(env("APP_ORIGIN_PORT"));
/** Bound on every single wait. */
const WAIT = 15_000;
const VIEWPORT = { width: 1440, height: 1000 };

let browser;
const pages = new Map(); // name -> { page, context, errors }

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: env("CHROMIUM"), timeout: 30_000 });
});

after(async () => {
  await browser?.close();
});

/** A page in its own context (its own storage, its own network switch). */
async function open(name, path) {
  const context = await browser.newContext({ viewport: VIEWPORT });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(`uncaught: ${err.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy|SyntaxError|TypeError|ReferenceError/.test(message.text())) {
      errors.push(`console: ${message.text()}`);
    }
  });
  const response = await page.goto(BASE + path);
  assert.equal(response.status(), 200, `${path} answers 200`);
  pages.set(name, { page, context, errors });
  return page;
}

/** No uncaught exception, CSP violation or script error on any page so far. */
function assertNoPageErrors() {
  for (const [name, { errors }] of pages) assert.deepEqual(errors, [], `errors on the ${name} page`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page, { email, password }) {
  await page.fill("#login input[name=email]", email);
  await page.fill("#login input[name=password]", password);
  await page.click("#login button[name=sign-in]");
}

async function registerMember(name) {
  const page = await open(name, "/console/app");
  const email = `${name.toLowerCase()}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@console.test`;
  await page.fill("#login input[name=email]", email);
  await page.fill("#login input[name=password]", "member password 1");
  await page.fill("#login input[name=display_name]", name);
  await page.click("#login button[name=register]");
  await page.waitForSelector("#app:not(.hidden)");
  await page.waitForSelector("#connection[data-state=open]");
  const userId = await page.getAttribute("#who", "data-user-id");
  assert.match(userId, /^[0-9a-f-]{36}$/);
  return { page, userId, email };
}

/** The names in the coach's leaderboard, best first. */
async function waitForLeaderboard(page, names) {
  await page.waitForFunction(
    (expected) => JSON.stringify([...document.querySelectorAll("#leaderboard tr .name")].map((n) => n.textContent)) === JSON.stringify(expected),
    names,
    { timeout: WAIT },
  );
}

async function sendMetrics(page, metrics) {
  for (const [field, value] of Object.entries(metrics)) await page.fill(`#metrics input[name=${field}]`, String(value));
  await page.click("#metrics button[name=send-metrics]");
  await page.waitForFunction(() => document.querySelector("#live-error").textContent === "", null, { timeout: WAIT });
}

async function tokenOf({ email, password }) {
  const response = await fetch(`${BASE}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ grant_type: "password", username: email, password }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).access_token;
}

const adminToken = () => tokenOf(ADMIN);

/** A GET of the API that must answer 200, as parsed JSON. */
async function getJson(path, token) {
  const response = await fetch(BASE + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const body = await response.text();
  assert.equal(response.status, 200, `${path}: ${body}`);
  return JSON.parse(body);
}

/** `m:ss` (or `h:mm:ss`) as the coach console shows durations. */
function clockText(seconds) {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** What the coach console shows of the current interval. */
async function shownInterval(page) {
  return page.evaluate(() => {
    const countdown = document.querySelector("#countdown");
    return {
      index: document.querySelector("#interval-label").dataset.index,
      label: document.querySelector("#interval-label").textContent,
      next: document.querySelector("#next-interval").textContent,
      startedAt: countdown.dataset.startedAt,
      endsAt: countdown.dataset.endsAt,
      countdown: countdown.textContent,
      timeline: [...document.querySelectorAll("#timeline li[data-index]")].map((li) => ({
        label: li.querySelector(".label").textContent,
        seconds: li.querySelector(".seconds").textContent,
        state: li.className,
      })),
    };
  });
}

/** Waits until the countdown shows the whole seconds left to its `ends_at` by the page's
 *  clock (so it counts down to the server's time, not from a local start), then until it
 *  shows a smaller number (so it ticks). */
async function waitForCountdown(page) {
  const left = () =>
    page.waitForFunction(() => {
      const node = document.querySelector("#countdown");
      const seconds = Math.max(0, Math.ceil((Date.parse(node.dataset.endsAt) - Date.now()) / 1000));
      const text = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
      return node.textContent === text ? String(seconds) : false;
    });
  const first = Number(await (await left()).jsonValue());
  await page.waitForFunction((s) => {
    const [m, sec] = document.querySelector("#countdown").textContent.split(":").map(Number);
    return m * 60 + sec < s;
  }, first);
  await left();
}

test("the console index links the three consoles", { timeout: 30_000 }, async () => {
  const page = await open("index", "/console");
  for (const path of ["/console/coach", "/console/app", "/console/ops"]) {
    assert.equal(await page.locator(`a[href="${path}"]`).count(), 1, path);
  }
  await pages.get("index").context.close();
  pages.delete("index");
});

test("a coach and two members run a class end to end", { timeout: 120_000 }, async () => {
  const coach = await open("coach", "/console/coach");
  await signIn(coach, COACH);
  await coach.waitForSelector("#console:not(.hidden)");
  await coach.waitForSelector("#connection[data-state=open]");

  const title = `E2E intervals ${Date.now()}`;
  await coach.fill("#schedule input[name=title]", title);
  await coach.fill("#schedule input[name=starts_in]", "0");
  await coach.click("#schedule button[name=schedule]");
  await coach.waitForFunction((t) => document.querySelector("#run-title").textContent === t, title);
  const classId = await coach.getAttribute(`#classes tr:has-text("${title}")`, "data-class-id");
  assert.match(classId, /^[0-9a-f-]{36}$/);
  await coach.waitForSelector("#run-state[data-state=waiting_room]");
  await coach.click("#start");
  await coach.waitForSelector("#run-state[data-state=live]");

  const ana = await registerMember("Ana");
  const ben = await registerMember("Ben");
  for (const member of [ana, ben]) {
    await member.page.click(`button[data-join="${classId}"]`);
    await member.page.waitForSelector("#class:not(.hidden)");
  }
  // Ana and Ben: the coach runs the class and is not counted.
  await coach.waitForFunction(() => document.querySelector("#participants").textContent === "2");

  // A quick cue and a free-text one reach both members.
  await coach.click('#quick-cues button[data-cue="Sprint!"]');
  for (const member of [ana, ben]) await member.page.waitForFunction(() => document.querySelector("#cue").textContent.startsWith("Sprint!"));
  const freeText = `Hold the plank ${Math.floor(Math.random() * 1000)}`;
  await coach.fill("#cue-form input[name=text]", freeText);
  await coach.fill("#cue-form input[name=seconds]", "30");
  await coach.click("#cue-form button[name=send-cue]");
  for (const member of [ana, ben]) await member.page.waitForFunction((t) => document.querySelector("#cue").textContent.startsWith(t), freeText);
  // The coach's count follows the cues' echo on the coach's own socket, which may come
  // after the members' copies.
  await coach.waitForFunction(() => document.querySelector("#cue-count").textContent === "2");

  // Metrics order the coach's leaderboard, and it follows them as they change (values a
  // person can ride in the first seconds: the server drops implausible jumps).
  await sendMetrics(ana.page, { output: 5, reps: 10 });
  await sendMetrics(ben.page, { output: 12, reps: 5 });
  await waitForLeaderboard(coach, ["Ben", "Ana"]);
  await sendMetrics(ana.page, { output: 20 });
  await waitForLeaderboard(coach, ["Ana", "Ben"]);
  await ana.page.waitForFunction(() => document.querySelector("#rank").textContent === "1/2");

  // A high-five from Ana reaches Ben and shows on the coach's feed.
  await ana.page.click(`#leaderboard button[data-high-five="${ben.userId}"]`);
  await ben.page.waitForSelector('#cues li:has-text("Ana high-fived you")');
  await coach.waitForSelector('#feed li[data-kind=high-five]:has-text("Ana high-fived")');

  await shot(coach, "coach");
  await shot(ana.page, "app");

  await coach.click("#end");
  await coach.waitForSelector("#run-state[data-state=ended]");
  await coach.waitForFunction(() => document.querySelector("#results").textContent.startsWith("Ended"));
  for (const member of [ana, ben]) await member.page.waitForSelector('#class-state .badge:has-text("ended")');
  assertNoPageErrors();
  for (const name of ["coach", "Ana", "Ben"]) {
    await pages.get(name).context.close();
    pages.delete(name);
  }
});

test("a coach runs a class on a workout's timeline: start, skip and +30s", { timeout: 120_000 }, async () => {
  // The workout as the catalog has it, read apart from the page: a free one, whose blocks
  // (the class's timeline to be) anyone may read.
  const listed = await getJson("/v1/workouts?limit=100");
  const free = listed.items.find((w) => !w.premium);
  assert.ok(free, "the catalog lists a free workout");
  const workout = await getJson(`/v1/workouts/${free.id}`);
  const blocks = workout.blocks;
  assert.ok(blocks.length >= 3, `a workout of three blocks or more: ${JSON.stringify(blocks)}`);

  const coach = await open("coach-timeline", "/console/coach");
  await signIn(coach, COACH);
  await coach.waitForSelector("#console:not(.hidden)");
  await coach.waitForSelector("#connection[data-state=open]");

  // The picker lists the workout with its minutes; picking it sets the class's duration.
  const option = `#schedule select[name=workout_id] option[value="${workout.id}"]`;
  await coach.waitForSelector(option, { state: "attached" });
  const optionText = await coach.textContent(option);
  assert.ok(optionText.includes(workout.title) && optionText.includes(`${workout.duration_minutes} min`), optionText);
  await coach.fill("#schedule input[name=duration]", "1");
  await coach.selectOption("#schedule select[name=workout_id]", workout.id);
  assert.equal(await coach.inputValue("#schedule input[name=duration]"), String(workout.duration_minutes));

  const title = `E2E timeline ${Date.now()}`;
  await coach.fill("#schedule input[name=title]", title);
  await coach.fill("#schedule input[name=starts_in]", "0");
  await coach.click("#schedule button[name=schedule]");
  await coach.waitForFunction((t) => document.querySelector("#run-title").textContent === t, title);
  const classId = await coach.getAttribute(`#classes tr:has-text("${title}")`, "data-class-id");
  const scheduled = await getJson(`/v1/live/classes/${classId}`, await tokenOf(COACH));
  assert.equal(scheduled.workout_id, workout.id);
  assert.equal(scheduled.duration_minutes, workout.duration_minutes);
  await coach.waitForSelector("#run-state[data-state=waiting_room]");
  await coach.click("#start");
  await coach.waitForSelector("#run-state[data-state=live]");
  await coach.waitForFunction(() => /^\d+:\d\d$/.test(document.querySelector("#class-clock").textContent));

  try {
    // Start: the first block (a refusal of the control frame fails the test).
    await coach.click("#interval-start:not([disabled])");
    await coach.waitForFunction(
      () => document.querySelector("#interval-label").dataset.index !== "" || document.querySelector("#timeline-error").dataset.code,
    );
    const code = await coach.getAttribute("#timeline-error", "data-code");
    assert.equal(code, null, `Start was refused: ${await coach.textContent("#timeline-error")}`);
    await coach.waitForSelector('#interval-label[data-index="0"]');
    let shown = await shownInterval(coach);
    assert.equal(shown.label, blocks[0].name);
    assert.ok(shown.next.startsWith(`${blocks[1].name} · ${clockText(blocks[1].seconds)}`), shown.next);
    assert.equal(Date.parse(shown.endsAt) - Date.parse(shown.startedAt), blocks[0].seconds * 1000, JSON.stringify(shown));
    assert.deepEqual(
      shown.timeline.map((i) => [i.label, i.seconds]),
      blocks.map((b) => [b.name, clockText(b.seconds)]),
    );
    assert.deepEqual(shown.timeline.map((i) => i.state), ["current", ...blocks.slice(1).map(() => "")]);
    await waitForCountdown(coach);

    // Skip: the second block, the first one done.
    await coach.click("#interval-skip");
    await coach.waitForSelector('#interval-label[data-index="1"]');
    shown = await shownInterval(coach);
    assert.equal(shown.label, blocks[1].name);
    assert.ok(shown.next.startsWith(blocks[2].name), shown.next);
    assert.equal(Date.parse(shown.endsAt) - Date.parse(shown.startedAt), blocks[1].seconds * 1000, JSON.stringify(shown));
    assert.deepEqual(shown.timeline.slice(0, 2).map((i) => i.state), ["done", "current"]);
    await waitForCountdown(coach);

    // +30s: the same interval ends 30 s later, and the list shows its new length.
    const endsBefore = shown.endsAt;
    await coach.click("#interval-extend");
    await coach.waitForFunction((before) => document.querySelector("#countdown").dataset.endsAt !== before, endsBefore);
    shown = await shownInterval(coach);
    assert.equal(shown.index, "1");
    assert.equal(shown.label, blocks[1].name);
    assert.equal(Date.parse(shown.endsAt) - Date.parse(endsBefore), 30_000);
    assert.equal(shown.timeline[1].seconds, clockText(blocks[1].seconds + 30));
    await waitForCountdown(coach);
    assert.equal(await coach.textContent("#timeline-error"), "");
    await shot(coach, "coach-timeline");
  } finally {
    await coach.click("#end");
    await coach.waitForSelector("#run-state[data-state=ended]");
    assertNoPageErrors();
    await pages.get("coach-timeline").context.close();
    pages.delete("coach-timeline");
  }
});

test("ops publishes a feature message that reaches a member live", { timeout: 90_000 }, async () => {
  const cy = await registerMember("Cy");
  const ops = await open("ops", "/console/ops");
  await signIn(ops, ADMIN);
  await ops.waitForSelector("#ops:not(.hidden)");
  await ops.waitForFunction(() => Number(document.querySelector("#sessions").textContent) >= 1);
  await ops.waitForFunction(() => Number(document.querySelector("#sockets").textContent) >= 1);
  // A single node lists itself in the cluster card, serving, on the local bus.
  await ops.waitForSelector("#nodes tr[data-node-id]");
  assert.equal(await ops.locator("#nodes tr[data-node-id]").count(), 1);
  assert.match(await ops.textContent("#nodes tr[data-node-id]"), /this node.*serving/s);
  assert.match(await ops.textContent("#bus"), /local, connected/);

  // The dry run counts the audience among connected users: Cy alone, then no premium user.
  const title = `Try the new plan ${Date.now()}`;
  await ops.fill("#message input[name=title]", title);
  await ops.fill("#message input[name=user_ids]", cy.userId);
  await ops.click("#dry-run");
  await ops.waitForSelector('#audience[data-audience="1"]');
  await ops.fill("#message input[name=user_ids]", "");
  await ops.selectOption("#message select[name=entitlement]", "premium");
  await ops.click("#dry-run");
  await ops.waitForSelector('#audience[data-audience="0"]');
  await ops.selectOption("#message select[name=entitlement]", "");
  await ops.fill("#message input[name=platforms]", "web");

  await ops.click("#publish");
  await ops.waitForFunction((t) => document.querySelector("#message-notice").textContent.includes(t), title);
  await ops.waitForSelector(`#messages tr:has-text("${title}")`);
  await cy.page.waitForSelector(`#feature .message:has-text("${title}")`);
  await cy.page.waitForSelector(`#inbox li:has-text("${title}")`);
  await cy.page.waitForSelector(`#events li[data-type="message.feature"]`);

  // A drop created through the API shows in the list, with its sales on demand.
  const response = await fetch(`${BASE}/v1/admin/drops`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await adminToken()}` },
    body: JSON.stringify({
      title: "Launch hoodie", stock: 500, price_cents: 4900, currency: "EUR",
      starts_at: new Date(Date.now() + 3_600_000).toISOString(), per_user_limit: 2,
      reservation_ttl_seconds: 600, admission_per_second: null,
    }),
  });
  const drop = await response.json();
  assert.equal(response.status, 201, JSON.stringify(drop));
  await ops.click("#refresh");
  const row = ops.locator(`#drops tr[data-drop-id="${drop.id}"]`);
  await row.locator("button").click();
  await row.locator('td:has-text("0 sold")').waitFor();
  await shot(ops, "ops");
  assertNoPageErrors();
});

test("ops creates staff, changes its role and ends its logins, each in the admin actions", { timeout: 60_000 }, async () => {
  const ops = await open("ops-accounts", "/console/ops");
  await signIn(ops, ADMIN);
  await ops.waitForSelector("#ops:not(.hidden)");
  const email = `staff-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@console.test`;
  await ops.fill("#staff input[name=email]", email);
  await ops.selectOption("#staff select[name=role]", "coach");
  await ops.click("#staff button[name=create-staff]");
  await ops.waitForFunction((e) => document.querySelector("#account-notice").textContent.includes(`created ${e}`), email);
  await ops.waitForSelector('#account[data-role="coach"]');
  const userId = await ops.getAttribute("#account", "data-user-id");
  assert.match(userId, /^[0-9a-f-]{36}$/);
  assert.match(await ops.textContent("#account-facts"), /roles: member, coach · email not verified · no password/);

  await ops.selectOption("#account-role", "admin");
  await ops.click("#set-role");
  await ops.waitForSelector('#account[data-role="admin"]');
  await ops.click("#revoke");
  await ops.waitForFunction(() => document.querySelector("#account-notice").textContent.includes("every login"));
  // Newest first: the revoke, the role change, the creation, all by this admin.
  await ops.waitForFunction(
    () => [...document.querySelectorAll("#audit tr[data-route]")].slice(0, 3).map((r) => r.dataset.route).join(" ") ===
      "/v1/admin/users/{id}/revoke /v1/admin/users/{id} /v1/admin/users",
  );
  assert.match(await ops.textContent("#audit tr[data-route]"), new RegExp(`/v1/admin/users/\\{id\\}/revoke`));

  // An address without an account says so, and changes nothing.
  await ops.fill("#lookup input[name=email]", `nobody-${Date.now()}@console.test`);
  await ops.click("#lookup button[name=look-up]");
  await ops.waitForFunction(() => document.querySelector("#account-error").textContent.startsWith("not_found"));
  await shot(ops, "ops-accounts");
  assertNoPageErrors();
});

test("the member app browses, likes and follows a plan", { timeout: 60_000 }, async () => {
  const { page } = await registerMember("Dee");
  // Premium items are listed but locked for a free member.
  const locked = page.locator('#catalog li[data-locked="true"]').first();
  await locked.waitFor();
  await locked.locator("a.title").click();
  await page.waitForSelector("#locked");
  // A like counts once and shows at once.
  const free = page.locator('#catalog li[data-locked="false"]').first();
  const likesBefore = Number(await free.locator(".likes").textContent());
  await free.locator("button[title=like]").click();
  await page.waitForFunction(
    ([key, count]) => document.querySelector(`#catalog li[data-item="${key}"] .likes`).textContent === String(count),
    [await free.getAttribute("data-item"), likesBefore + 1],
  );
  // Following a plan shows the week and its shopping list, and the plan event arrives.
  await page.locator('#plan button[data-template][data-locked="false"]').first().click();
  await page.waitForSelector("#plan .entry");
  await page.waitForSelector("#shopping .entry");
  await page.waitForSelector('#events li[data-type="plan.updated"]');
  assertNoPageErrors();
});

test("the member app resumes after a network drop with nothing lost or repeated", { timeout: 90_000 }, async () => {
  const cy = pages.get("Cy");
  assert.ok(cy, "the previous test left Cy's page open");
  const { page, context } = cy;
  const userId = await page.getAttribute("#who", "data-user-id");
  const token = await adminToken();
  const push = async (text) => {
    const response = await fetch(`${BASE}/v1/admin/users/${userId}/events`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ type: "custom.note", data: { text } }),
    });
    const body = await response.text();
    assert.equal(response.status, 202, body);
    return JSON.parse(body).seq;
  };

  const beforeSeq = await push(`before the drop ${Date.now()}`);
  await page.waitForSelector(`#events li[data-seq="${beforeSeq}"]`);

  // Offline, the SDK pauses the connection; the event published meanwhile cannot arrive.
  await context.setOffline(true);
  await page.waitForSelector('#connection[data-state="paused"]');
  const missed = `while offline ${Date.now()}`;
  const missedSeq = await push(missed);
  assert.equal(missedSeq, beforeSeq + 1);
  await page.waitForTimeout(1500);
  assert.equal(await page.getAttribute("#connection", "data-state"), "paused");
  assert.equal(await page.locator(`#events li[data-seq="${missedSeq}"]`).count(), 0);

  // Back online it resumes from the last seq it processed.
  await context.setOffline(false);
  await page.waitForSelector('#connection[data-state="open"]', { timeout: 20_000 });
  await page.waitForSelector(`#events li[data-seq="${missedSeq}"]:has-text("${missed}")`);
  assert.equal(await page.getAttribute("#resume", "data-resumed-from"), String(beforeSeq));

  // A dropped socket (the page's "drop" button) reconnects and resumes the same way.
  await page.click("#drop");
  await page.waitForSelector(`#resume[data-resumed-from="${missedSeq}"]`, { timeout: 20_000 });
  await page.waitForSelector('#connection[data-state="open"]', { timeout: 20_000 });
  const after = await push(`after the drop ${Date.now()}`);
  await page.waitForSelector(`#events li[data-seq="${after}"]`);

  // Every seq is listed exactly once.
  const seqs = await page.$$eval("#events li[data-seq]", (items) => items.map((i) => i.dataset.seq).filter(Boolean));
  assert.equal(new Set(seqs).size, seqs.length, `no event twice: ${seqs}`);
  for (const seq of [beforeSeq, missedSeq, after]) assert.ok(seqs.includes(String(seq)), `seq ${seq} listed`);
  await shot(page, "app-resumed");
  assertNoPageErrors();
});

test("after a reload the app refreshes a refused token and resumes from its stored seq", { timeout: 60_000 }, async () => {
  const cy = pages.get("Cy");
  assert.ok(cy, "an earlier test left Cy's page open");
  const { page } = cy;
  const tokens = () => page.evaluate(() => JSON.parse(sessionStorage.getItem("app.fitpulse.tokens")));
  const storedSeq = () =>
    page.evaluate(() => Object.entries(sessionStorage).find(([key]) => key.startsWith("app.fitpulse.seq."))[1]);
  const before = await tokens();
  const lastSeq = await storedSeq();
  // An access token the server refuses (revoked, or signed with a retired key).
  await page.evaluate(() => {
    const stored = JSON.parse(sessionStorage.getItem("app.fitpulse.tokens"));
    stored.access_token = "not-a-token";
    sessionStorage.setItem("app.fitpulse.tokens", JSON.stringify(stored));
  });
  await page.reload();
  await page.waitForSelector("#app:not(.hidden)");
  await page.waitForSelector("#connection[data-state=open]");
  assert.equal(await page.textContent("#who"), "Cy");
  assert.equal(await page.getAttribute("#resume", "data-resumed-from"), lastSeq);
  const after = await tokens();
  assert.notEqual(after.access_token, "not-a-token");
  assert.notEqual(after.refresh_token, before.refresh_token, "the refresh token rotated");
  assertNoPageErrors();
});

/** A page of a web app on another origin, built on the SDK (`@fitpulse/client`, its bundle
 *  served beside the page): it signs in anonymously, reads `/v1/me` and opens the realtime
 *  connection, and says how that went in `#out[data-result]`. */
function webAppPage() {
  return `<!doctype html><meta charset="utf-8"><title>web app</title><pre id="out"></pre><script type="module">
    import { FitpulseClient, webStorage } from "./fitpulse-client.js";
    const out = document.getElementById("out");
    const client = new FitpulseClient({ baseUrl: ${JSON.stringify(BASE)}, storage: webStorage(localStorage) });
    try {
      await client.auth.anonymous("web-app-" + Math.random().toString(36).slice(2));
      const me = await client.rest.request("GET", "/v1/me");
      const rt = client.realtime();
      const ready = new Promise((resolve, reject) => {
        rt.once("ready", resolve);
        setTimeout(() => reject(new Error("no session.ready")), 10000);
      });
      rt.connect();
      await ready;
      out.dataset.result = "ok " + me.status + " " + (me.headers.get("x-request-id") ? "with-request-id" : "no-request-id") + " " + rt.state;
      rt.close();
    } catch (err) {
      out.dataset.result = "refused " + err.code;
    }
  </script>`;
}

const SDK_BUNDLE = readFileSync(new URL("../../web/console/assets/fitpulse-client.js", import.meta.url));

/** Serves the web app page and the SDK bundle on `port` of 127.0.0.1 (0: any free port). */
function serveWebApp(port) {
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      if (req.url === "/fitpulse-client.js") {
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
        res.end(SDK_BUNDLE);
        return;
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(webAppPage());
    });
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

test("a web app on a listed origin calls the API; one on another origin is refused", { timeout: 30_000 }, async () => {
  const listed = await serveWebApp(APP_ORIGIN_PORT);
  const other = await serveWebApp(0);
  try {
    const results = [];
    for (const server of [listed, other]) {
      const context = await browser.newContext({ viewport: VIEWPORT });
      context.setDefaultTimeout(WAIT);
      const page = await context.newPage();
      const said = [];
      page.on("console", (m) => said.push(`${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => said.push(`uncaught: ${e.message}`));
      await page.goto(`http://127.0.0.1:${server.address().port}/`);
      await page.waitForSelector("#out[data-result]", { state: "attached" }).catch(async (err) => {
        throw new Error(`${err.message}; the page said ${JSON.stringify(said)}; ${await page.content()}`);
      });
      results.push(await page.getAttribute("#out", "data-result"));
      await context.close();
    }
    assert.deepEqual(results, ["ok 200 with-request-id open", "refused network_error"]);
  } finally {
    listed.close();
    other.close();
  }
});
