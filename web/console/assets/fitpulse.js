// The one client module of the consoles, shared by the coach, app and ops pages:
// - Api: REST calls with bearer tokens, refreshed through `/oauth/token` (refresh_token
//   grant, rotating) shortly before they expire and once more after a 401;
// - LiveSocket: the `/v1/ws` socket (`?access_token=`), replies matched by frame id,
//   the user's `seq` tracked and resumed with `?since=` after any drop, reconnects with
//   jittered exponential backoff, live classes re-joined from their own class seq;
// - small DOM helpers (no innerHTML anywhere: text is always inserted as text).
// Tokens and seq live in sessionStorage: one login per tab, surviving a reload.

const store = window.sessionStorage;

/** An error answer of the API (`{"error":{"code","message","details"}}`) or the socket. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details || {};
  }
}

/** The claims of a JWT (not verified: the server does that; this is for display). */
export function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

export class Api extends EventTarget {
  /** `name` keeps each console's login apart. */
  constructor(name) {
    super();
    this.key = `fitpulse.${name}.tokens`;
    this.tokens = JSON.parse(store.getItem(this.key) || "null");
    this.refreshing = null;
  }

  get signedIn() {
    return this.tokens !== null;
  }

  get claims() {
    return this.tokens ? claimsOf(this.tokens.access_token) : {};
  }

  get userId() {
    return this.claims.sub;
  }

  hasRole(role) {
    return (this.claims.roles || []).includes(role);
  }

  save(answer) {
    this.tokens = {
      access_token: answer.access_token,
      refresh_token: answer.refresh_token,
      expires_at: Date.now() + answer.expires_in * 1000,
    };
    store.setItem(this.key, JSON.stringify(this.tokens));
    return answer;
  }

  /** Forgets the tokens; `signedout` tells the page unless `quiet`. */
  clear({ quiet = false } = {}) {
    this.tokens = null;
    store.removeItem(this.key);
    if (!quiet) this.dispatchEvent(new Event("signedout"));
  }

  async login(email, password) {
    const body = { grant_type: "password", username: email, password };
    return this.save(await this.request("POST", "/oauth/token", body, { auth: false }));
  }

  async register(email, password, displayName) {
    const body = { email, password, display_name: displayName };
    return this.save(await this.request("POST", "/v1/auth/register", body, { auth: false }));
  }

  async anonymous(deviceId) {
    const body = { device_id: deviceId };
    return this.save(await this.request("POST", "/v1/auth/anonymous", body, { auth: false }));
  }

  async logout() {
    const tokens = this.tokens;
    this.clear();
    if (tokens) {
      const body = { refresh_token: tokens.refresh_token };
      await this.request("POST", "/v1/auth/logout", body, { auth: false }).catch(() => {});
    }
  }

  /** Trades the refresh token for new tokens; concurrent callers share one exchange. */
  refresh() {
    if (!this.refreshing) {
      const tokens = this.tokens;
      this.refreshing = (async () => {
        if (!tokens) throw new ApiError(401, { error: { code: "unauthorized", message: "signed out" } });
        const body = { grant_type: "refresh_token", refresh_token: tokens.refresh_token };
        try {
          return this.save(await this.request("POST", "/oauth/token", body, { auth: false }));
        } catch (err) {
          if (err.status === 400 || err.status === 401) this.clear();
          throw err;
        }
      })().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async accessToken() {
    if (this.tokens && this.tokens.expires_at - Date.now() < REFRESH_MARGIN_MS) {
      await this.refresh();
    }
    if (!this.tokens) throw new ApiError(401, { error: { code: "unauthorized", message: "signed out" } });
    return this.tokens.access_token;
  }

  /** Sends a request; answers the parsed JSON body (null for 204) or throws ApiError. */
  async request(method, path, body, { auth = true, headers = {} } = {}) {
    const send = async () => {
      const sent = { ...headers };
      if (body !== undefined) sent["content-type"] = "application/json";
      if (auth) sent.authorization = `Bearer ${await this.accessToken()}`;
      return fetch(path, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body) });
    };
    let response = await send();
    if (response.status === 401 && auth && this.tokens) {
      await this.refresh();
      response = await send();
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { error: { code: "not_json", message: text.slice(0, 200) } };
      }
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body = {}) { return this.request("POST", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  del(path) { return this.request("DELETE", path); }
}

/** Class events carry the class's own seq, not the user's (docs/protocol.md). */
const CLASS_EVENTS = new Set(["live.started", "live.cue", "live.ended", "live.cancelled"]);
/** Close codes after which reconnecting would not help. */
const FINAL_CLOSES = new Set([4003, 4010]);
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const REPLY_TIMEOUT_MS = 10_000;

/**
 * The user's socket. Events: `state` (detail: {state, code, attempt}), `ready` (detail:
 * {data, resumedFrom}), `resync` (resume was incomplete: refetch), `frame` for every frame
 * delivered once (frames with a seq get `feed`: "user" or "class"), and one event named
 * after each frame's type.
 */
export class LiveSocket extends EventTarget {
  constructor(api, { name, appVersion = "1.0.0" }) {
    super();
    this.api = api;
    this.seqKey = `fitpulse.${name}.seq.${api.userId}`;
    const stored = store.getItem(this.seqKey);
    this.lastSeq = stored === null ? null : Number(stored);
    this.params = { platform: "web", app_version: appVersion, locale: navigator.language || "en" };
    this.classSeq = new Map();
    // Classes to (re-)join, and those whose snapshot this connection has seen: only in
    // the latter do live.* frames with a seq carry the class's seq. Before it (or for a
    // class the user is not in) they are events of the user's own feed.
    this.joined = new Set();
    this.inClass = new Set();
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.state = "idle";
    this.ws = null;
    this.stopped = true;
    this.onOnline = () => {
      if (this.state === "reconnecting") this.open();
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.retry);
    if (this.ws) this.ws.close(1000, "bye");
    this.setState("stopped");
  }

  /** Closes the socket as a network drop would; the client reconnects and resumes. */
  drop() {
    if (this.ws) this.ws.close(4000, "dropped by the user");
  }

  setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, attempt: this.attempt, ...extra } }));
  }

  async open() {
    clearTimeout(this.retry);
    if (this.stopped) return;
    let token;
    try {
      token = await this.api.accessToken();
    } catch (err) {
      if (!this.api.signedIn) return this.setState("stopped", { reason: "signed out" });
      return this.reconnectLater();
    }
    const query = new URLSearchParams({ access_token: token, ...this.params });
    if (this.lastSeq !== null) query.set("since", String(this.lastSeq));
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/v1/ws?${query}`);
    if (this.ws) this.ws.close(1000, "replaced");
    this.ws = ws;
    this.inClass.clear();
    this.setState("connecting");
    ws.onmessage = (message) => {
      if (ws === this.ws) this.receive(message.data);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.closed(event);
    };
  }

  closed(event) {
    this.ws = null;
    for (const [, waiter] of this.pending) waiter.reject(new ApiError(0, { error: { code: "disconnected", message: "the socket closed" } }));
    this.pending.clear();
    if (this.stopped) return;
    if (FINAL_CLOSES.has(event.code)) {
      return this.setState("stopped", { code: event.code, reason: event.reason });
    }
    if (event.code === 4001) {
      // The token expired or was refused: a fresh one, then straight back.
      this.api.refresh().then(() => this.open(), () => this.setState("stopped", { code: 4001 }));
      return;
    }
    this.reconnectLater(event.code);
  }

  reconnectLater(code) {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling * (0.5 + Math.random() / 2));
    this.attempt += 1;
    this.setState("reconnecting", { code, in_ms: delay });
    this.retry = setTimeout(() => this.open(), delay);
  }

  rememberSeq(seq) {
    this.lastSeq = seq;
    store.setItem(this.seqKey, String(seq));
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if ("reply_to" in frame) {
      const waiter = this.pending.get(frame.reply_to);
      if (waiter) {
        this.pending.delete(frame.reply_to);
        if (frame.error) waiter.reject(new ApiError(0, frame));
        else waiter.resolve(frame.data || {});
      }
      return;
    }
    const data = frame.data || {};
    if (frame.seq !== undefined) {
      // Which sequence the seq belongs to: the user's feed or a class's.
      frame.feed = CLASS_EVENTS.has(frame.type) && this.inClass.has(data.class_id) ? "class" : "user";
      if (frame.feed === "class") {
        if (frame.seq <= (this.classSeq.get(data.class_id) || 0)) return;
        this.classSeq.set(data.class_id, frame.seq);
        if (frame.type === "live.ended" || frame.type === "live.cancelled") {
          this.joined.delete(data.class_id);
          this.inClass.delete(data.class_id);
        }
      } else {
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
        this.rememberSeq(frame.seq);
      }
    }
    switch (frame.type) {
      case "session.ready": {
        const resumedFrom = data.since ?? null;
        if (this.lastSeq === null) this.rememberSeq(data.last_seq);
        this.attempt = 0;
        this.setState("open", { resumedFrom });
        this.dispatchEvent(new CustomEvent("ready", { detail: { data, resumedFrom } }));
        for (const classId of this.joined) this.rejoin(classId);
        break;
      }
      case "resume.incomplete":
        this.rememberSeq(data.last_seq);
        this.dispatchEvent(new CustomEvent("resync", { detail: data }));
        break;
      case "live.snapshot":
        this.inClass.add(data.class.id);
        if (data.since === null || data.since === undefined) this.classSeq.set(data.class.id, data.class_seq);
        break;
      case "token.expiring":
        this.reauthenticate();
        break;
      default:
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    this.dispatchEvent(new CustomEvent(frame.type, { detail: frame }));
  }

  /** Sends a client frame; resolves with the reply's data or rejects with its error. */
  request(type, data = {}) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new ApiError(0, { error: { code: "not_connected", message: "not connected; retrying" } }));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ApiError(0, { error: { code: "timeout", message: `no reply to ${type}` } }));
      }, REPLY_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (value) => { clearTimeout(timer); resolve(value); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      });
      this.ws.send(JSON.stringify({ id, type, data }));
    });
  }

  async reauthenticate() {
    try {
      await this.api.refresh();
      await this.request("auth.refresh", { access_token: this.api.tokens.access_token });
    } catch {
      // The socket closes with 4001 at expiry and reconnects with a fresh token then.
    }
  }

  /** Joins a class; after a reconnect it is re-joined from its last class seq. */
  async join(classId) {
    this.joined.add(classId);
    try {
      return await this.request("live.join", { class_id: classId });
    } catch (err) {
      this.joined.delete(classId);
      throw err;
    }
  }

  rejoin(classId) {
    const since = this.classSeq.get(classId);
    const data = since === undefined ? { class_id: classId } : { class_id: classId, since };
    this.request("live.join", data).catch((err) => {
      this.joined.delete(classId);
      this.dispatchEvent(new CustomEvent("rejoin_failed", { detail: { class_id: classId, error: err } }));
    });
  }

  async leave(classId) {
    this.joined.delete(classId);
    this.inClass.delete(classId);
    return this.request("live.leave", { class_id: classId });
  }
}

// --- DOM helpers -------------------------------------------------------------------------

export const $ = (selector, root = document) => root.querySelector(selector);

/** Builds an element: `on*` attributes become listeners, the rest attributes; children
 *  are nodes or text. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

export function time(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  return at.toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
}

export function badge(text, kind = text) {
  return h("span", { class: `badge ${kind}` }, text);
}

/** Shows an error (or clears it with null) in `node`. */
export function showError(node, err) {
  node.textContent = err ? (err.code && err.code !== "http_error" ? `${err.code}: ${err.message}` : err.message) : "";
}

/** Runs `action` for a button, disabling it meanwhile and showing errors in `errorNode`. */
export async function busy(button, errorNode, action) {
  button.disabled = true;
  if (errorNode) showError(errorNode, null);
  try {
    return await action();
  } catch (err) {
    if (errorNode) showError(errorNode, err);
    else console.error(err);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/** Repeats `task` every `ms` while the page is open (errors are shown, not thrown). */
export function every(ms, task) {
  const run = () => Promise.resolve().then(task).catch((err) => console.warn(err));
  run();
  return setInterval(run, ms);
}

/**
 * The sign-in panel every console opens with. `options.role` is required of the account
 * (coach, admin); `options.register` and `options.anonymous` offer those ways in.
 * Calls `onSignedIn` once the API holds tokens.
 */
export function mountLogin(root, api, options, onSignedIn) {
  const error = h("p", { class: "error", role: "alert" });
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true, placeholder: "email" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, placeholder: "password" });
  const displayName = h("input", { name: "display_name", placeholder: "display name (to register)" });
  const finish = () => {
    if (options.role && !api.hasRole(options.role)) {
      api.clear({ quiet: true });
      throw new ApiError(403, { error: { code: "forbidden", message: `this account is not a ${options.role}` } });
    }
    root.classList.add("hidden");
    onSignedIn();
  };
  const signIn = h("button", { class: "primary", type: "submit", name: "sign-in" }, "Sign in");
  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        busy(signIn, error, async () => {
          await api.login(email.value.trim(), password.value);
          finish();
        });
      },
    },
    h("label", {}, "Email", email),
    h("label", {}, "Password", password),
    signIn,
  );
  const extra = [];
  if (options.register) {
    form.insertBefore(h("label", {}, "Display name", displayName), signIn);
    const register = h("button", { type: "button", name: "register" }, "Register");
    register.addEventListener("click", () =>
      busy(register, error, async () => {
        if (!form.reportValidity()) return;
        await api.register(email.value.trim(), password.value, displayName.value.trim() || email.value.split("@")[0]);
        finish();
      }),
    );
    extra.push(register);
  }
  if (options.anonymous) {
    const anonymous = h("button", { type: "button", name: "anonymous" }, "Continue without an account");
    anonymous.addEventListener("click", () =>
      busy(anonymous, error, async () => {
        let device = localStorage.getItem("fitpulse.device_id");
        if (!device) {
          device = crypto.randomUUID();
          localStorage.setItem("fitpulse.device_id", device);
        }
        await api.anonymous(device);
        finish();
      }),
    );
    extra.push(anonymous);
  }
  fill(root, h("div", { class: "card login" }, h("h1", {}, options.title), h("p", { class: "muted" }, options.hint || ""), form, h("div", { class: "row" }, extra), error));
  if (api.signedIn && (!options.role || api.hasRole(options.role))) {
    root.classList.add("hidden");
    onSignedIn();
  } else {
    root.classList.remove("hidden");
  }
  api.addEventListener("signedout", () => location.reload());
}

/** The header's connection badge, following a socket's state. */
export function connectionBadge(socket) {
  const node = badge("idle", "connecting");
  node.id = "connection";
  socket.addEventListener("state", (event) => {
    const { state, attempt } = event.detail;
    node.className = `badge ${state}`;
    node.textContent = state === "reconnecting" ? `reconnecting (${attempt})` : state;
    node.dataset.state = state;
  });
  return node;
}
