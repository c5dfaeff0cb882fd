// The coach's console: schedule, start and end classes over REST; join the selected class
// on the socket to send cues and to watch presence, the leaderboard and high-fives live.

import { $, Api, LiveSocket, badge, busy, connectionBadge, every, fill, h, mountLogin, showError, time } from "./fitpulse.js";

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

mountLogin($("#login"), api, { title: "Coach console", hint: "Sign in with a coach account.", role: "coach" }, start);

async function start() {
  $("#console").classList.remove("hidden");
  $("#logout").classList.remove("hidden");
  $("#logout").addEventListener("click", () => api.logout());
  me = await api.get("/v1/me");
  $("#who").textContent = me.display_name || me.email;
  socket = new LiveSocket(api, { name: "coach" });
  $("#status").append(connectionBadge(socket));
  socket.addEventListener("live.snapshot", (e) => onSnapshot(e.detail.data));
  socket.addEventListener("live.presence", (e) => forSelected(e.detail.data, (d) => ($("#participants").textContent = d.participants)));
  socket.addEventListener("live.leaderboard", (e) => forSelected(e.detail.data, (d) => renderLeaderboard(d.top, d.ranked)));
  socket.addEventListener("live.cue", (e) => forSelected(e.detail.data, (d) => showCue(d)));
  socket.addEventListener("live.high_five", (e) => forSelected(e.detail.data, (d) => feed(`${d.from_name} high-fived ${nameOf(d.to_user_id)}`, "high-five")));
  socket.addEventListener("live.started", (e) => forSelected(e.detail.data, () => { feed("class started", "state"); refresh(); }));
  socket.addEventListener("live.ended", (e) => forSelected(e.detail.data, (d) => { feed("class ended", "state"); renderLeaderboard(d.top || [], (d.top || []).length); showResults(d); refresh(); }));
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
  $("#schedule").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    const startsIn = Number(form.starts_in.value || 0);
    busy(form.querySelector("button"), $("#schedule-error"), async () => {
      const created = await api.post("/v1/live/classes", {
        title: form.title.value.trim(),
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
  every(5000, refresh);
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
  if (current) renderState(current);
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

function showResults(data) {
  $("#results").textContent = `Ended ${time(data.ended_at)} with ${data.participants} participants.`;
}

function feed(text, kind) {
  const list = $("#feed");
  list.prepend(h("li", { "data-kind": kind }, h("span", { class: "muted" }, new Date().toLocaleTimeString()), h("span", { class: "grow" }, text)));
  while (list.children.length > 200) list.lastChild.remove();
}
