// The coach's console: schedule classes (optionally on a catalog workout, whose blocks
// become the class's timeline), start and end them over REST; join the selected class on
// the socket to run its interval clock (coach-timeline.js), send cues and watch presence,
// the roster, flagged members, the leaderboard and high-fives live.

import { $, Api, LiveSocket, badge, busy, connectionBadge, every, fill, h, mountLogin, showError, time } from "./fitpulse.js";
import { TimelinePanel } from "./coach-timeline.js";

/** Pages of the workout catalog the picker reads at most (100 workouts each). */
const WORKOUT_PAGES = 10;

const QUICK_CUES = [
  ["Warm up", { label: "warm-up", seconds: 120 }],
  ["Sprint!", { label: "sprint", seconds: 30 }],
  ["Recover", { label: "recover", seconds: 60 }],
  ["Climb!", { label: "climb", seconds: 45 }],
  ["Last minute, all out!", { label: "finish", seconds: 60 }],
  ["Cool down", { label: "cool-down", seconds: 180 }],
];

const api = new Api("coach");
let socket = null;
let me = null;
let classes = [];
let selected = null;
let cueCount = 0;
let timeline = null;
let workouts = new Map();
let flagged = new Map();
let rosterCursor = null;

mountLogin($("#login"), api, { title: "Coach console", hint: "Sign in with a coach account.", role: "coach" }, start);

async function start() {
  $("#console").classList.remove("hidden");
  $("#logout").classList.remove("hidden");
  $("#logout").addEventListener("click", () => api.logout());
  me = await api.get("/v1/me");
  $("#who").textContent = me.display_name || me.email;
  socket = new LiveSocket(api, { name: "coach" });
  $("#status").append(connectionBadge(socket));
  timeline = new TimelinePanel((action, seconds) => {
    if (!selected) throw new Error("select a class first");
    const data = seconds === undefined ? { class_id: selected, action } : { class_id: selected, action, seconds };
    return socket.request("live.interval.control", data);
  });
  socket.addEventListener("live.snapshot", (e) => onSnapshot(e.detail.data));
  socket.addEventListener("live.interval", (e) => forSelected(e.detail.data, (d) => timeline.moved(d)));
  socket.addEventListener("live.roster", (e) => forSelected(e.detail.data, (d) => renderRoster(d)));
  socket.addEventListener("live.flagged", (e) => forSelected(e.detail.data, (d) => onFlagged(d)));
  socket.addEventListener("live.presence", (e) => forSelected(e.detail.data, (d) => ($("#participants").textContent = d.participants)));
  socket.addEventListener("live.leaderboard", (e) => forSelected(e.detail.data, (d) => renderLeaderboard(d.top, d.ranked)));
  socket.addEventListener("live.cue", (e) => forSelected(e.detail.data, (d) => showCue(d)));
  socket.addEventListener("live.high_five", (e) => forSelected(e.detail.data, (d) => feed(`${d.from_name} high-fived ${nameOf(d.to_user_id)}`, "high-five")));
  socket.addEventListener("live.started", (e) => forSelected(e.detail.data, (d) => { feed("class started", "state"); timeline.started(d); refresh(); }));
  socket.addEventListener("live.ended", (e) => forSelected(e.detail.data, (d) => { feed("class ended", "state"); timeline.ended(); renderLeaderboard(d.top || [], (d.top || []).length); showResults(d); refresh(); }));
  socket.addEventListener("live.cancelled", (e) => forSelected(e.detail.data, () => { feed("class cancelled", "state"); refresh(); }));
  socket.addEventListener("rejoin_failed", (e) => showError($("#run-error"), e.detail.error));
  socket.start();

  QUICK_CUES.forEach(([text, interval]) => {
    const button = h("button", { type: "button", "data-cue": text }, text);
    button.addEventListener("click", () => busy(button, $("#run-error"), () => sendCue(text, interval)));
    $("#quick-cues").append(button);
  });
  $("#cue-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const text = form.text.value.trim();
    if (!text) return;
    const seconds = Number(form.seconds.value);
    const interval = seconds > 0 ? { seconds, ...(form.label.value.trim() ? { label: form.label.value.trim() } : {}) } : undefined;
    busy(form.querySelector("button"), $("#run-error"), async () => {
      await sendCue(text, interval);
      form.text.value = "";
    });
  });
  $("#schedule").workout_id.addEventListener("change", (event) => {
    const workout = workouts.get(event.target.value);
    if (workout) event.target.form.duration.value = String(workout.duration_minutes);
  });
  $("#schedule").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const startsIn = Number(form.starts_in.value || 0);
    busy(form.querySelector("button"), $("#schedule-error"), async () => {
      const created = await api.post("/v1/live/classes", {
        title: form.title.value.trim(),
        ...(form.workout_id.value ? { workout_id: form.workout_id.value } : {}),
        scheduled_at: new Date(Date.now() + startsIn * 60_000).toISOString(),
        duration_minutes: Number(form.duration.value),
        premium: form.premium.checked,
      });
      await refresh();
      await select(created.id);
    });
  });
  for (const [id, action] of [["#start", "start"], ["#end", "end"], ["#cancel", "cancel"]]) {
    $(id).addEventListener("click", () =>
      busy($(id), $("#run-error"), async () => {
        await api.post(`/v1/live/classes/${selected}/${action}`);
        await refresh();
        if (action === "start" && !socket.joined.has(selected)) await joinSelected();
      }),
    );
  }
  $("#roster-more").addEventListener("click", () => busy($("#roster-more"), $("#run-error"), moreRoster));
  loadWorkouts().catch((err) => showError($("#schedule-error"), err));
  every(5000, refresh);
}

/** Fills the schedule form's workout picker from the catalog (titles and minutes). */
async function loadWorkouts() {
  let cursor = null;
  for (let page = 0; page < WORKOUT_PAGES; page += 1) {
    const query = new URLSearchParams({ limit: "100", ...(cursor ? { cursor } : {}) });
    const list = await api.get(`/v1/workouts?${query}`);
    for (const w of list.items) workouts.set(w.id, w);
    cursor = list.next_cursor;
    if (!cursor) break;
  }
  const options = [...workouts.values()]
    .sort((a, b) => a.title.localeCompare(b.title))
    .map((w) => h("option", { value: w.id, "data-minutes": w.duration_minutes }, `${w.title} · ${w.duration_minutes} min${w.premium ? " · premium" : ""}`));
  fill($("#schedule").workout_id, h("option", { value: "" }, "No workout"), options);
}

/** Runs `apply` when a class frame is about the selected class. */
function forSelected(data, apply) {
  if (data.class_id === selected || (data.class && data.class.id === selected)) apply(data);
}

let names = new Map();
function nameOf(userId) {
  if (userId === me.id) return "you";
  return names.get(userId) || "a participant";
}

async function refresh() {
  const list = await api.get("/v1/live/classes?all=true");
  classes = list.items.filter((c) => c.coach_id === me.id || api.hasRole("admin"));
  const rows = classes.map((c) => {
    const run = h("button", { type: "button", "data-run": c.id }, c.id === selected ? "Running" : "Open");
    run.disabled = c.id === selected;
    run.addEventListener("click", () => busy(run, $("#schedule-error"), () => select(c.id)));
    return h(
      "tr",
      { "data-class-id": c.id },
      h("td", {}, c.title, c.premium ? " " : "", c.premium ? badge("premium") : null),
      h("td", { class: "small" }, time(c.scheduled_at)),
      h("td", {}, badge(c.state)),
      h("td", { class: "num" }, c.participants),
      h("td", {}, run),
    );
  });
  fill($("#classes"), rows.length ? rows : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No classes yet: schedule one.")));
  const current = classes.find((c) => c.id === selected);
  if (current) {
    renderState(current);
    timeline.update(current);
  }
}

function renderState(c) {
  $("#run-title").textContent = c.title;
  fill($("#run-state"), badge(c.state));
  $("#run-state").dataset.state = c.state;
  $("#start").disabled = !(c.state === "scheduled" || c.state === "waiting_room");
  $("#end").disabled = c.state !== "live";
  $("#cancel").disabled = !(c.state === "scheduled" || c.state === "waiting_room");
}

async function select(classId) {
  if (selected && selected !== classId && socket.joined.has(selected)) await socket.leave(selected).catch(() => {});
  selected = classId;
  cueCount = 0;
  $("#cue-count").textContent = "0";
  $("#participants").textContent = "0";
  $("#last-cue").textContent = "–";
  fill($("#feed"));
  fill($("#leaderboard"));
  $("#results").textContent = "";
  timeline.reset(classes.find((c) => c.id === classId) || { id: classId });
  flagged = new Map();
  rosterCursor = null;
  fill($("#roster"));
  fill($("#flagged"));
  $("#roster-count").textContent = "";
  $("#roster-more").classList.add("hidden");
  await refresh();
  await joinSelected();
}

/** The coach joins the class to hear its frames (the waiting room opens 10 minutes ahead). */
async function joinSelected() {
  try {
    const ack = await socket.join(selected);
    $("#participants").textContent = ack.participants;
    showError($("#run-error"), null);
  } catch (err) {
    if (err.code === "class_not_open") feed("the class opens 10 minutes before it starts", "state");
    else showError($("#run-error"), err);
  }
}

function onSnapshot(data) {
  if (data.class.id !== selected) return;
  $("#participants").textContent = data.participants;
  renderLeaderboard(data.leaderboard, data.leaderboard.length);
  timeline.snapshot(data);
  if (data.since === null || data.since === undefined) {
    for (const cue of data.cues) showCue(cue, { replayed: true });
  }
}

async function sendCue(text, interval) {
  if (!selected) throw new Error("select a class first");
  await socket.request("live.cue", interval ? { class_id: selected, text, interval } : { class_id: selected, text });
}

function showCue(cue, { replayed = false } = {}) {
  fill($("#last-cue"), cue.text, cue.interval ? h("span", { class: "interval" }, `${cue.interval.label || ""} ${cue.interval.seconds}s`) : null);
  if (!replayed) {
    cueCount += 1;
    $("#cue-count").textContent = String(cueCount);
  }
  feed(`cue: ${cue.text}`, "cue");
}

function renderLeaderboard(top, ranked) {
  $("#ranked").textContent = String(ranked ?? top.length);
  for (const entry of top) names.set(entry.user_id, entry.name);
  const fmt = (v) => (v === undefined || v === null ? "–" : String(Math.round(v * 10) / 10));
  fill(
    $("#leaderboard"),
    top.map((e) =>
      h(
        "tr",
        { "data-user-id": e.user_id, "data-rank": e.rank },
        h("td", {}, e.rank),
        h("td", { class: "name" }, e.name),
        h("td", { class: "num" }, fmt(e.output)),
        h("td", { class: "num" }, fmt(e.reps)),
        h("td", { class: "num" }, fmt(e.heart_rate)),
      ),
    ),
  );
}

/** `live.roster`: the first page of who is here, replacing what was shown. */
function renderRoster(data) {
  $("#roster-count").textContent = `${data.participants} here`;
  fill($("#roster"), data.entries.map(rosterEntry));
  rosterCursor = data.next_cursor || null;
  $("#roster-more").classList.toggle("hidden", !rosterCursor);
}

/** The roster's next page, from the REST route the frame's cursor is for. */
async function moreRoster() {
  if (!rosterCursor || !selected) return;
  const page = await api.get(`/v1/live/classes/${selected}/roster?cursor=${encodeURIComponent(rosterCursor)}`);
  $("#roster").append(...(page.items || page.entries || []).map(rosterEntry));
  rosterCursor = page.next_cursor || null;
  $("#roster-more").classList.toggle("hidden", !rosterCursor);
}

function rosterEntry(entry) {
  names.set(entry.user_id, entry.name);
  const reason = entry.flagged || (flagged.get(entry.user_id) || {}).reason;
  return h(
    "li",
    { "data-user-id": entry.user_id, "data-flagged": reason ? "true" : null },
    h("span", { class: "grow name" }, entry.name),
    entry.following ? badge("following", "ok") : null,
    reason ? badge(`flagged: ${reason}`, "cancelled") : null,
  );
}

/** `live.flagged`: a member is off the public board; one line per member, kept current. */
function onFlagged(data) {
  flagged.set(data.user_id, data);
  names.set(data.user_id, data.name);
  fill(
    $("#flagged"),
    [...flagged.values()].map((f) =>
      h(
        "li",
        { "data-user-id": f.user_id },
        h("span", { class: "grow name" }, f.name),
        h("span", { class: "muted small" }, `${f.reason} · ${f.rejected} rejected`),
      ),
    ),
  );
  const row = $(`#roster li[data-user-id="${CSS.escape(data.user_id)}"]`);
  if (row && !row.dataset.flagged) row.replaceWith(rosterEntry({ user_id: data.user_id, name: data.name, following: Boolean(row.querySelector(".badge.ok")) }));
  feed(`${data.name} flagged: ${data.reason}`, "flagged");
}

function showResults(data) {
  $("#results").textContent = `Ended ${time(data.ended_at)} with ${data.participants} participants.`;
}

function feed(text, kind) {
  const list = $("#feed");
  list.prepend(h("li", { "data-kind": kind }, h("span", { class: "muted" }, new Date().toLocaleTimeString()), h("span", { class: "grow" }, text)));
  while (list.children.length > 200) list.lastChild.remove();
}
