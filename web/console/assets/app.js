// The member demo app: browse the catalog (premium locked without the entitlement), like,
// follow a weekly plan and its shopping list, join a live class and send metrics, and
// hear feature messages, community and plan events live. Every event with a seq is listed
// once; after a drop the socket resumes from the last seq it processed.

import { $, Api, LiveSocket, badge, busy, connectionBadge, every, fill, h, mountLogin, showError, time } from "./fitpulse.js";

const APP_VERSION = "1.0.0";
const api = new Api("app");
let socket = null;
let me = null;
let entitlements = [];
let liked = new Set();
let kind = "recipe";
let cursor = null;
let current = null; // the class joined
let autoTimer = null;
let autoOutput = 0;

mountLogin(
  $("#login"),
  api,
  { title: "fitpulse demo app", hint: "Register, sign in, or look around without an account.", register: true, anonymous: true },
  start,
);

async function start() {
  $("#app").classList.remove("hidden");
  for (const id of ["#logout", "#drop"]) $(id).classList.remove("hidden");
  $("#logout").addEventListener("click", () => api.logout());
  me = await api.get("/v1/me");
  $("#who").textContent = me.anonymous ? "guest" : me.display_name || me.email;
  $("#who").dataset.userId = me.id;

  socket = new LiveSocket(api, { name: "app", appVersion: APP_VERSION });
  $("#status").append(connectionBadge(socket));
  $("#drop").addEventListener("click", () => socket.drop());
  socket.addEventListener("ready", (e) => {
    const { data, resumedFrom } = e.detail;
    entitlements = data.entitlements || [];
    renderTier();
    $("#resume").textContent = resumedFrom === null ? "live from here" : `resumed after #${resumedFrom}`;
    $("#resume").dataset.resumedFrom = resumedFrom ?? "";
  });
  socket.addEventListener("resync", () => {
    logEvent({ type: "resume.incomplete", data: {} }, "refetching everything");
    loadAll();
  });
  socket.addEventListener("frame", (e) => onFrame(e.detail));
  socket.addEventListener("rejoin_failed", (e) => showError($("#live-error"), e.detail.error));
  socket.start();

  $("#catalog-tabs").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-kind]");
    if (!button) return;
    for (const b of $("#catalog-tabs").children) b.classList.toggle("active", b === button);
    kind = button.dataset.kind;
    loadCatalog(true);
  });
  $("#more").addEventListener("click", () => loadCatalog(false));
  $("#leave").addEventListener("click", () => leaveClass());
  $("#metrics").addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.target.querySelector("button"), $("#live-error"), () => sendMetrics(readMetrics()));
  });
  $("#metrics").auto.addEventListener("change", (event) => toggleAuto(event.target.checked));
  await loadAll();
  every(5000, loadClasses);
}

async function loadAll() {
  await Promise.all([loadLikes().then(() => loadCatalog(true)), loadPlan(), loadInbox(), loadClasses()].map((p) => p.catch((err) => console.warn(err))));
}

function renderTier() {
  const premium = entitlements.includes("premium");
  fill($("#tier"), premium ? badge("premium") : badge("free", "ok"));
}

// --- socket frames ----------------------------------------------------------------------

function onFrame(frame) {
  const data = frame.data || {};
  if (frame.feed === "user") logEvent(frame);
  switch (frame.type) {
    case "message.feature":
      showFeature(data);
      loadInbox();
      break;
    case "message.state":
      loadInbox();
      break;
    case "entitlements.changed":
      entitlements = (data.entitlements || []).map((e) => e.name);
      renderTier();
      loadCatalog(true);
      break;
    case "plan.updated":
    case "plan.shopping_list_updated":
      loadPlan();
      break;
    case "content.new":
      logEvent(frame, `new ${data.kind}: ${data.title}`);
      break;
    case "live.snapshot":
      if (current && data.class.id === current.id) onSnapshot(data);
      break;
    case "live.cue":
      if (current && data.class_id === current.id) showCue(data);
      break;
    case "live.presence":
      if (current && data.class_id === current.id) $("#participants").textContent = data.participants;
      break;
    case "live.leaderboard":
      if (current && data.class_id === current.id) renderLeaderboard(data.top);
      break;
    case "live.rank":
      if (current && data.class_id === current.id) $("#rank").textContent = `${data.rank}/${data.of}`;
      break;
    case "live.high_five":
      if (current && data.class_id === current.id) cueLine(`${data.from_name} high-fived you`);
      break;
    case "live.countdown":
      if (current && data.class_id === current.id) $("#cue").textContent = `Starts in ${Math.ceil(data.starts_in_seconds / 60)} min`;
      break;
    case "live.started":
    case "live.ended":
    case "live.cancelled":
      if (current && data.class_id === current.id) {
        fill($("#class-state"), badge(frame.type.slice(5)));
        cueLine(frame.type === "live.started" ? "the class started" : `the class ${frame.type.slice(5)}`);
        if (frame.type !== "live.started") toggleAuto(false);
      }
      loadClasses();
      break;
    default:
  }
}

/** One line per event with a seq; `data-seq` lets anyone check nothing came twice. */
function logEvent(frame, summary) {
  const data = frame.data || {};
  const text = summary || data.text || data.title || data.change || (data.type ? `${data.type}` : JSON.stringify(data).slice(0, 120));
  const item = h(
    "li",
    { "data-seq": frame.seq ?? "", "data-type": frame.type },
    h("span", { class: "muted" }, frame.seq !== undefined ? `#${frame.seq}` : "·"),
    h("span", {}, frame.type),
    h("span", { class: "grow" }, text),
    h("span", { class: "muted" }, time(frame.at)),
  );
  $("#events").prepend(item);
  while ($("#events").children.length > 300) $("#events").lastChild.remove();
  if (socket.lastSeq !== null) $("#seq").textContent = `last seq ${socket.lastSeq}`;
}

// --- feature messages -------------------------------------------------------------------

function showFeature(message) {
  const card = h(
    "div",
    { class: "message", "data-message-id": message.id },
    h("div", { class: "title" }, message.title),
    h("div", {}, message.body),
    message.cta_url ? h("a", { href: message.cta_url, rel: "noopener noreferrer" }, "Open") : null,
  );
  $("#feature").prepend(card);
}

async function loadInbox() {
  const params = new URLSearchParams({ platform: "web", app_version: APP_VERSION, locale: navigator.language || "en" });
  const inbox = await api.get(`/v1/me/messages?${params}`);
  fill(
    $("#inbox"),
    inbox.items.length
      ? inbox.items.map((m) => {
          const read = h("button", { type: "button" }, m.state.read_at ? "read" : "Mark read");
          read.disabled = Boolean(m.state.read_at);
          read.addEventListener("click", () => busy(read, null, () => api.post(`/v1/me/messages/${m.id}/read`).then(loadInbox)));
          return h("li", { "data-message-id": m.id }, h("span", { class: "grow" }, h("strong", {}, m.title), " ", m.body), read);
        })
      : h("li", { class: "muted" }, "Nothing yet."),
  );
}

// --- catalog ----------------------------------------------------------------------------

async function loadLikes() {
  const likes = await api.get("/v1/me/likes");
  liked = new Set(likes.items.map((l) => `${l.item.kind}/${l.item.id}`));
}

async function loadCatalog(reset) {
  if (reset) {
    cursor = null;
    fill($("#catalog"));
    fill($("#detail"));
  }
  const params = new URLSearchParams({ limit: "12" });
  if (cursor) params.set("cursor", cursor);
  const page = await api.get(`/v1/${kind}s?${params}`);
  cursor = page.next_cursor;
  $("#more").classList.toggle("hidden", !cursor);
  const premium = entitlements.includes("premium");
  for (const item of page.items) $("#catalog").append(catalogItem(item, premium));
}

function catalogItem(item, premium) {
  const key = `${item.kind}/${item.id}`;
  const locked = item.premium && !premium;
  const count = h("span", { class: "likes" }, String(item.likes));
  const like = h("button", { type: "button", class: liked.has(key) ? "liked" : "", title: "like" }, "♥ ", count);
  like.addEventListener("click", () =>
    busy(like, $("#catalog-error"), async () => {
      const on = !liked.has(key);
      const answer = await api.request(on ? "PUT" : "DELETE", `/v1/me/likes/${item.kind}/${item.id}`);
      if (on) liked.add(key);
      else liked.delete(key);
      like.classList.toggle("liked", on);
      if (answer && answer.likes !== undefined) count.textContent = String(answer.likes);
    }),
  );
  const facts = item.kind === "recipe" ? `${item.minutes} min · ${item.kcal} kcal` : `${item.duration_minutes} min · ${item.level || ""}`;
  const title = h("a", { href: "#", class: "title" }, item.title);
  title.addEventListener("click", (event) => {
    event.preventDefault();
    showDetail(item);
  });
  return h(
    "li",
    { "data-item": key, "data-locked": locked ? "true" : "false" },
    h("span", { class: "grow" }, title, h("div", { class: "muted small" }, facts)),
    item.premium ? badge(locked ? "premium · locked" : "premium", "premium") : null,
    like,
  );
}

async function showDetail(item) {
  try {
    const full = await api.get(`/v1/${item.kind}s/${item.id}`);
    const lines = full.kind === "recipe"
      ? (full.ingredients || []).map((i) => `${i.quantity} ${i.unit} ${i.name}`)
      : [`${full.level || ""} · ${(full.equipment || []).join(", ")}`];
    fill($("#detail"), h("h3", {}, full.title), h("p", {}, full.summary || ""), h("ul", {}, lines.map((l) => h("li", {}, l))));
  } catch (err) {
    if (err.code === "premium_required") {
      fill($("#detail"), h("p", { class: "lock", id: "locked" }, `${item.title} is premium: ${(err.details.offer_ids || []).join(" or ")} unlocks it.`));
    } else {
      showError($("#catalog-error"), err);
    }
  }
}

// --- plan and shopping list -------------------------------------------------------------

async function loadPlan() {
  let plan;
  try {
    plan = await api.get("/v1/me/plan");
  } catch (err) {
    if (err.code !== "no_plan") throw err;
    return showTemplates();
  }
  const days = plan.days.map((day) =>
    h(
      "div",
      { class: "day" },
      h("h3", {}, `Day ${day.day} · ${day.date}`),
      day.entries.map((entry) => {
        const done = h("input", { type: "checkbox", checked: entry.done, "aria-label": "done" });
        done.addEventListener("change", () =>
          api.request(done.checked ? "PUT" : "DELETE", `/v1/me/plan/items/${entry.id}/done`).catch((err) => showError($("#plan-error"), err)),
        );
        return h("div", { class: "entry", "data-entry": entry.id }, done, h("span", { class: "slot" }, entry.slot), h("span", {}, entry.item ? entry.item.title : "–"));
      }),
    ),
  );
  fill(
    $("#plan"),
    h("p", {}, h("strong", {}, plan.template.title), ` · week ${plan.week} of ${plan.weeks} · ${plan.progress.done}/${plan.progress.total} done`),
    days,
  );
  const list = await api.get(`/v1/me/shopping-list?week=${plan.week}`);
  fill(
    $("#shopping"),
    list.aisles.map((aisle) =>
      h(
        "div",
        { class: "day" },
        h("h3", {}, aisle.aisle),
        aisle.items.map((line) => {
          const box = h("input", { type: "checkbox", checked: line.checked, "aria-label": "checked" });
          box.addEventListener("change", () =>
            api
              .request(box.checked ? "PUT" : "DELETE", `/v1/me/shopping-list/items/${encodeURIComponent(line.id)}/checked?week=${plan.week}`)
              .catch((err) => showError($("#plan-error"), err)),
          );
          return h("div", { class: "entry" }, box, h("span", {}, `${Math.round(line.quantity * 10) / 10} ${line.unit} ${line.name}`));
        }),
      ),
    ),
  );
}

async function showTemplates() {
  const templates = await api.get("/v1/plans");
  const premium = entitlements.includes("premium");
  fill(
    $("#plan"),
    h("p", { class: "muted" }, "No plan yet. Pick one:"),
    h(
      "ul",
      { class: "list" },
      templates.items.map((t) => {
        const follow = h("button", { type: "button", "data-template": t.id, "data-locked": t.premium && !premium ? "true" : "false" }, "Follow");
        follow.addEventListener("click", () => busy(follow, $("#plan-error"), () => api.put("/v1/me/plan", { template_id: t.id }).then(loadPlan)));
        return h("li", {}, h("span", { class: "grow" }, h("strong", {}, t.title), h("div", { class: "muted small" }, t.goal || "")), t.premium ? badge("premium") : null, follow);
      }),
    ),
  );
  fill($("#shopping"), h("p", { class: "muted" }, "Follow a plan to get its shopping list."));
}

// --- live classes -----------------------------------------------------------------------

async function loadClasses() {
  const list = await api.get("/v1/live/classes");
  const open = list.items.filter((c) => c.state !== "ended" && c.state !== "cancelled");
  fill(
    $("#classes"),
    open.length
      ? open.map((c) => {
          const join = h("button", { type: "button", class: "primary", "data-join": c.id }, current && current.id === c.id ? "Joined" : "Join");
          join.disabled = Boolean(current && current.id === c.id);
          join.addEventListener("click", () => busy(join, $("#live-error"), () => joinClass(c)));
          return h(
            "li",
            { "data-class-id": c.id },
            h("span", { class: "grow" }, h("strong", {}, c.title), h("div", { class: "muted small" }, `${time(c.scheduled_at)} · ${c.duration_minutes} min · ${c.participants} in`)),
            c.premium ? badge("premium") : null,
            badge(c.state),
            join,
          );
        })
      : h("li", { class: "muted" }, "No classes scheduled."),
  );
}

async function joinClass(c) {
  if (current) await leaveClass();
  // Set before joining: the snapshot may arrive before the reply.
  current = c;
  $("#class-title").textContent = c.title;
  fill($("#class-state"), badge(c.state));
  fill($("#cues"));
  fill($("#leaderboard"));
  $("#rank").textContent = "–";
  autoOutput = 0;
  try {
    const ack = await socket.join(c.id);
    $("#participants").textContent = ack.participants;
  } catch (err) {
    current = null;
    throw err;
  }
  $("#class").classList.remove("hidden");
  await loadClasses();
}

async function leaveClass() {
  if (!current) return;
  toggleAuto(false);
  const id = current.id;
  current = null;
  $("#class").classList.add("hidden");
  await socket.leave(id).catch(() => {});
  await loadClasses();
}

function onSnapshot(data) {
  fill($("#class-state"), badge(data.class.state));
  $("#participants").textContent = data.participants;
  renderLeaderboard(data.leaderboard);
  if (data.since === null || data.since === undefined) {
    for (const cue of data.cues) showCue(cue);
  }
}

function showCue(cue) {
  fill($("#cue"), cue.text, cue.interval ? h("span", { class: "interval" }, `${cue.interval.label || ""} ${cue.interval.seconds}s`) : null);
  cueLine(`cue: ${cue.text}`);
}

function cueLine(text) {
  $("#cues").prepend(h("li", {}, h("span", { class: "muted" }, new Date().toLocaleTimeString()), h("span", { class: "grow" }, text)));
}

function renderLeaderboard(top) {
  fill(
    $("#leaderboard"),
    top.map((e) => {
      const mine = e.user_id === me.id;
      let five = null;
      if (!mine) {
        five = h("button", { type: "button", title: "high five", "data-high-five": e.user_id }, "High five");
        five.addEventListener("click", () =>
          busy(five, $("#live-error"), () => socket.request("live.high_five", { class_id: current.id, to_user_id: e.user_id })),
        );
      }
      return h(
        "tr",
        { "data-user-id": e.user_id, class: mine ? "mine" : "" },
        h("td", {}, e.rank),
        h("td", {}, mine ? `${e.name} (you)` : e.name),
        h("td", { class: "num" }, e.output ?? "–"),
        h("td", { class: "num" }, e.reps ?? "–"),
        h("td", {}, five),
      );
    }),
  );
}

function readMetrics() {
  const form = $("#metrics");
  const sample = {};
  for (const name of ["output", "reps", "heart_rate"]) {
    if (form[name].value !== "") sample[name] = Number(form[name].value);
  }
  return sample;
}

async function sendMetrics(sample) {
  if (!current) throw new Error("join a class first");
  if (Object.keys(sample).length === 0) throw new Error("enter at least one metric");
  await socket.request("live.metric", { class_id: current.id, ...sample });
}

function toggleAuto(on) {
  clearInterval(autoTimer);
  autoTimer = null;
  $("#metrics").auto.checked = on;
  if (!on) return;
  autoTimer = setInterval(() => {
    autoOutput += 2 + Math.random() * 3;
    const sample = { output: Math.round(autoOutput * 10) / 10, heart_rate: 120 + Math.round(Math.random() * 40) };
    sendMetrics(sample).catch((err) => showError($("#live-error"), err));
  }, 1000);
}
