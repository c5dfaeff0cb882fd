// The ops console (admin role): publish feature messages after an audience dry run; look
// accounts up, change their roles, end their logins and create staff; watch this node's
// sessions, the cluster's nodes, the classes, drops, the admin actions and outbox dead
// letters (polled).

import { $, Api, badge, busy, every, fill, h, mountLogin, showError, time } from "./fitpulse.js";

const REFRESH_MS = 5000;
const api = new Api("ops");

mountLogin($("#login"), api, { title: "Ops console", hint: "Sign in with an admin account.", role: "admin" }, start);

async function start() {
  $("#ops").classList.remove("hidden");
  for (const id of ["#logout", "#refresh"]) $(id).classList.remove("hidden");
  $("#logout").addEventListener("click", () => api.logout());
  $("#refresh").addEventListener("click", () => busy($("#refresh"), null, refresh));
  const me = await api.get("/v1/me");
  $("#who").textContent = me.display_name || me.email;
  $("#dry-run").addEventListener("click", () =>
    busy($("#dry-run"), $("#message-error"), async () => {
      const answer = await api.post("/v1/admin/messages?dry_run=true", messageBody());
      $("#audience").textContent = `audience now: ${answer.audience}`;
      $("#audience").dataset.audience = String(answer.audience);
    }),
  );
  $("#publish").addEventListener("click", () =>
    busy($("#publish"), $("#message-error"), async () => {
      if (!$("#message").reportValidity()) return;
      const created = await api.post("/v1/admin/messages", messageBody());
      $("#message-notice").textContent = `published "${created.title}"`;
      await loadMessages();
    }),
  );
  mountAccounts();
  every(REFRESH_MS, refresh);
}

/** The account the lookup found, for the role and revoke buttons. */
let account = null;

function mountAccounts() {
  const error = $("#account-error");
  $("#lookup").addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("#lookup button"), error, () => lookUp($("#lookup").email.value.trim()));
  });
  $("#set-role").addEventListener("click", () =>
    busy($("#set-role"), error, async () => {
      const role = $("#account-role").value;
      await api.request("PATCH", `/v1/admin/users/${account.user.id}`, { roles: [role] });
      $("#account-notice").textContent = `${account.user.email} is now ${role}`;
      await lookUp(account.user.email);
      await loadAudit();
    }),
  );
  $("#revoke").addEventListener("click", () =>
    busy($("#revoke"), error, async () => {
      await api.post(`/v1/admin/users/${account.user.id}/revoke`);
      $("#account-notice").textContent = `every login of ${account.user.email} ended`;
      await loadAudit();
    }),
  );
  $("#staff").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = $("#staff");
    busy(form.querySelector("button"), error, async () => {
      const created = await api.post("/v1/admin/users", { email: form.email.value.trim(), roles: [form.role.value] });
      $("#account-notice").textContent = `created ${created.email}; a link to set the password is on its way`;
      await lookUp(created.email);
      await loadAudit();
    });
  });
}

async function lookUp(email) {
  account = await api.get(`/v1/admin/users?email=${encodeURIComponent(email)}`);
  const { user } = account;
  $("#account").classList.remove("hidden");
  $("#account").dataset.userId = user.id;
  $("#account-name").textContent = user.display_name;
  $("#account-email").textContent = user.email;
  const top = ["admin", "coach"].find((r) => user.roles.includes(r)) || "member";
  $("#account-role").value = top;
  $("#account").dataset.role = top;
  const facts = [
    `roles: ${user.roles.join(", ")}`,
    user.email_verified ? "email verified" : "email not verified",
    account.has_password ? "has a password" : "no password",
    account.identities.length ? `signs in with ${account.identities.map((i) => i.provider).join(", ")}` : null,
    account.session.here ? "online here" : null,
  ].filter(Boolean);
  $("#account-facts").textContent = facts.join(" · ");
  $("#account-subscriptions").textContent = account.subscriptions.length
    ? account.subscriptions.map((s) => `${s.product_id}: ${s.state}`).join(" · ")
    : "no subscriptions";
}

async function loadAudit() {
  const log = await api.get("/v1/admin/audit?limit=20");
  fill(
    $("#audit"),
    log.items.length
      ? log.items.map((e) =>
          h(
            "tr",
            { "data-audit-id": e.id, "data-route": e.route },
            h("td", { class: "small" }, time(e.at)),
            h("td", { class: "small wrap" }, e.actor),
            h("td", { class: "small wrap", title: e.path }, `${e.method} ${e.route}`),
            h("td", { class: "num" }, e.status),
          ),
        )
      : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No admin actions yet.")),
  );
}

function list(value) {
  return value.split(",").map((v) => v.trim()).filter(Boolean);
}

/** The message as `POST /v1/admin/messages` takes it, from the form. */
function messageBody() {
  const form = $("#message");
  const segment = {};
  if (form.entitlement.value) segment.entitlement = form.entitlement.value;
  if (list(form.platforms.value).length) segment.platforms = list(form.platforms.value);
  if (list(form.locales.value).length) segment.locales = list(form.locales.value);
  if (list(form.user_ids.value).length) segment.user_ids = list(form.user_ids.value);
  const body = {
    title: form.title.value.trim(),
    body: form.body.value.trim(),
    priority: Number(form.priority.value || 0),
    expires_at: new Date(Date.now() + Number(form.hours.value || 24) * 3_600_000).toISOString(),
    segment,
  };
  if (form.cta_url.value.trim()) body.cta_url = form.cta_url.value.trim();
  return body;
}

async function refresh() {
  await Promise.all([loadNode(), loadCluster(), loadMessages(), loadClasses(), loadDrops(), loadAudit(), loadOutbox()].map((p) => p.catch((err) => console.warn(err))));
  $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function loadNode() {
  const node = await api.get("/v1/admin/sessions");
  $("#sessions").textContent = node.sessions;
  $("#sockets").textContent = node.sockets;
  const ready = await api.request("GET", "/readyz", undefined, { auth: false }).then(
    () => "yes",
    () => "no",
  );
  $("#ready").textContent = ready;
}

async function loadCluster() {
  const cluster = await api.get("/v1/admin/cluster");
  $("#bus").textContent = `bus: ${cluster.bus.kind}, ${cluster.bus.connected ? "connected" : "disconnected"}`;
  fill(
    $("#nodes"),
    cluster.nodes.map((n) =>
      h(
        "tr",
        { "data-node-id": n.id },
        h("td", { title: n.http }, n.id, n.this_node ? " (this node)" : ""),
        h("td", { class: "num" }, n.load.sessions),
        h("td", { class: "num" }, n.load.sockets),
        h("td", { class: "num" }, n.load.classes),
        h("td", {}, badge(n.draining ? "draining" : "serving")),
      ),
    ),
  );
}

async function loadMessages() {
  const messages = await api.get("/v1/admin/messages");
  fill(
    $("#messages"),
    messages.items.length
      ? messages.items.map((m) => {
          const cancel = h("button", { type: "button", class: "danger" }, "Cancel");
          cancel.disabled = m.cancelled;
          cancel.addEventListener("click", () => busy(cancel, $("#message-error"), () => api.del(`/v1/admin/messages/${m.id}`).then(loadMessages)));
          return h(
            "tr",
            { "data-message-id": m.id },
            h("td", {}, m.title, m.cancelled ? " " : "", m.cancelled ? badge("cancelled") : null),
            h("td", { class: "small" }, time(m.starts_at)),
            h("td", { class: "small" }, time(m.expires_at)),
            h("td", {}, cancel),
          );
        })
      : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No messages showing.")),
  );
}

async function loadClasses() {
  const classes = await api.get("/v1/live/classes?all=true");
  fill(
    $("#classes"),
    classes.items.length
      ? classes.items.map((c) =>
          h("tr", { "data-class-id": c.id }, h("td", {}, c.title), h("td", { class: "small" }, time(c.scheduled_at)), h("td", {}, badge(c.state)), h("td", { class: "num" }, c.participants)),
        )
      : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No classes from six hours ago to a week ahead.")),
  );
}

async function loadDrops() {
  const drops = await api.get("/v1/admin/drops");
  fill(
    $("#drops"),
    drops.items.length
      ? drops.items.map((d) => {
          const sales = h("td", { class: "small" });
          const show = h("button", { type: "button" }, "Show");
          show.addEventListener("click", () =>
            busy(show, null, async () => {
              const v = await api.get(`/v1/admin/drops/${d.id}`);
              fill(sales, `${v.sold} sold · ${v.reserved} reserved · ${v.remaining} left · ${v.waiting} waiting`);
            }),
          );
          sales.append(show);
          return h("tr", { "data-drop-id": d.id }, h("td", {}, d.title), h("td", { class: "small" }, time(d.starts_at)), h("td", { class: "num" }, d.stock), sales);
        })
      : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No drops from a week ago to a month ahead.")),
  );
}

async function loadOutbox() {
  const [dead, pending] = await Promise.all([api.get("/v1/admin/outbox?state=dead&limit=50"), api.get("/v1/admin/outbox?state=pending&limit=200")]);
  $("#pending").textContent = pending.items.length >= 200 ? "200+" : String(pending.items.length);
  fill(
    $("#dead"),
    dead.items.length
      ? dead.items.map((item) => {
          const retry = h("button", { type: "button" }, "Retry");
          retry.addEventListener("click", () => busy(retry, $("#outbox-error"), () => api.post(`/v1/admin/outbox/${item.id}/retry`).then(loadOutbox)));
          return h(
            "tr",
            { "data-outbox-id": item.id },
            h("td", {}, item.kind),
            h("td", { class: "num" }, item.attempts),
            h("td", { class: "small" }, item.last_error || ""),
            h("td", {}, retry),
          );
        })
      : h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No dead letters.")),
  );
  showError($("#outbox-error"), null);
}
