// The consoles' client module, shared by the coach, app and ops pages. REST and the socket
// are the official SDK (`@fitpulse/client`, clients/typescript, served bundled as
// fitpulse-client.js); this module adapts it to the pages' DOM events:
// - Api: the SDK's typed REST client and token manager (tokens in sessionStorage: one login
//   per tab, surviving a reload), with the `signedout` event;
// - LiveSocket: the SDK's realtime connection (exact resume by seq, classes re-joined by
//   class seq, backoff, close codes, offline and background pauses) as DOM events;
// - small DOM helpers (no innerHTML anywhere: text is always inserted as text).

import { FitpulseClient, FitpulseError, claimsOf, webStorage } from "./fitpulse-client.js";

export { claimsOf };
/** An error answer of the API or the socket: `status`, `code`, `message`, `details`. */
export const ApiError = FitpulseError;

export class Api extends EventTarget {
  /** `name` keeps each console's login apart. */
  constructor(name) {
    super();
    this.client = new FitpulseClient({ baseUrl: location.origin, storage: webStorage(sessionStorage, `${name}.`) });
    this.client.tokens.on("signedout", () => this.dispatchEvent(new Event("signedout")));
  }

  get signedIn() {
    return Boolean(this.client.tokens.current());
  }

  get claims() {
    const token = this.client.tokens.current();
    return token ? claimsOf(token) : {};
  }

  get userId() {
    return this.claims.sub;
  }

  hasRole(role) {
    return (this.claims.roles || []).includes(role);
  }

  login(email, password) {
    return this.client.auth.login(email, password);
  }

  register(email, password, displayName) {
    return this.client.auth.register(email, password, displayName);
  }

  anonymous(deviceId) {
    return this.client.auth.anonymous(deviceId);
  }

  logout() {
    return this.client.auth.logout();
  }

  /** Forgets the tokens; `signedout` tells the page unless `quiet`. */
  clear({ quiet = false } = {}) {
    return this.client.tokens.clear({ quiet });
  }

  /** Sends a request; answers the parsed JSON body (null for 204) or throws ApiError. */
  async request(method, path, body, { auth = true, headers = {} } = {}) {
    return (await this.client.rest.request(method, path, { body, auth, headers })).data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body = {}) { return this.request("POST", path, body); }
  put(path, body) { return this.request("PUT", path, body); }
  del(path) { return this.request("DELETE", path); }
}

/**
 * The user's socket. Events: `state` (detail: {state, code, attempt, in_ms}), `ready`
 * (detail: {data, resumedFrom}), `resync` (resume was incomplete: refetch), `frame` for
 * every frame delivered once (frames with a sequence get `feed`: "user" or "class"),
 * `rejoin_failed`, and one event named after each frame's type.
 */
export class LiveSocket extends EventTarget {
  constructor(api, { appVersion = "1.0.0" } = {}) {
    super();
    this.rt = api.client.realtime({
      params: { platform: "web", app_version: appVersion, locale: navigator.language || "en" },
      backoff: { baseMs: 500, capMs: 15_000 },
    });
    const emit = (type, detail) => this.dispatchEvent(new CustomEvent(type, { detail }));
    this.rt.on("state", (s) => emit("state", { ...s, in_ms: s.inMs }));
    this.rt.on("ready", (detail) => emit("ready", detail));
    this.rt.on("refetch", (detail) => emit("resync", detail));
    this.rt.on("rejoinFailed", ({ classId, error }) => emit("rejoin_failed", { class_id: classId, error }));
    this.rt.on("frame", (frame) => {
      if (frame.class_seq !== undefined) frame.feed = "class";
      else if (frame.seq !== undefined) frame.feed = "user";
      emit("frame", frame);
      emit(frame.type, frame);
    });
  }

  get state() {
    return this.rt.state;
  }

  get lastSeq() {
    return this.rt.lastSeq;
  }

  /** The classes joined (re-joined after a reconnect). */
  get joined() {
    return new Set(this.rt.classSeqs.keys());
  }

  start() {
    this.rt.connect();
  }

  stop() {
    this.rt.close();
  }

  /** Drops the socket as a network failure would; it reconnects and resumes. */
  drop() {
    this.rt.reconnect();
  }

  request(type, data = {}) {
    return this.rt.request(type, data);
  }

  join(classId) {
    return this.rt.join(classId);
  }

  leave(classId) {
    return this.rt.leave(classId);
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
      throw new ApiError(403, "forbidden", `this account is not a ${options.role}`);
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
