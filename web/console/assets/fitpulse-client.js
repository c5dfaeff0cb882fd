// @fitpulse/client, bundled by clients/typescript/scripts/bundle.mjs. Do not edit.

// src/devices.ts
var INSTALL_KEY = "fitpulse.install_id";
var REGISTERED_KEY = "fitpulse.push_registered";
function randomId() {
  const crypto = globalThis.crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
}
var Devices = class {
  constructor(rest, storage) {
    this.rest = rest;
    this.storage = storage;
  }
  /** This install's id, created on first use. */
  async installId() {
    const known = await this.storage.get(INSTALL_KEY);
    if (known) return known;
    const id = randomId();
    await this.storage.set(INSTALL_KEY, id);
    return id;
  }
  /** Registers (or updates) this install for push with its current token. */
  async register(device) {
    const device_id = await this.installId();
    const answer = await this.rest.put("/v1/me/devices/{device_id}", { path: { device_id }, body: device });
    await this.storage.set(REGISTERED_KEY, "1");
    return answer;
  }
  /** Stops pushes to this install (a sign-out, or the member turned notifications off). */
  async unregister() {
    if (!await this.storage.get(REGISTERED_KEY)) return;
    const device_id = await this.installId();
    await this.rest.delete("/v1/me/devices/{device_id}", { path: { device_id } }).catch((err) => {
      if (err?.status !== 404) throw err;
    });
    await this.storage.remove(REGISTERED_KEY);
  }
  /** The member's categories and quiet hours. */
  async settings() {
    return this.rest.get("/v1/me/notification-settings");
  }
  /** Changes what is given: `{categories: {social: true}}`, `{quiet_hours: null}`. */
  async changeSettings(patch) {
    return this.rest.patch("/v1/me/notification-settings", { body: patch });
  }
};

// src/errors.ts
var FitpulseError = class _FitpulseError extends Error {
  /** The HTTP status, or 0 for socket replies and local errors. */
  status;
  /** A code of the server's error catalogue, or one of the SDK's local codes. */
  code;
  details;
  constructor(status, code, message, details = {}) {
    super(message);
    this.name = "FitpulseError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** Reads an error body of the server (REST or a socket reply); anything else is kept as text. */
  static fromBody(status, body) {
    const error = body?.error;
    if (error && typeof error.code === "string") {
      const details = error.details && typeof error.details === "object" ? error.details : {};
      return new _FitpulseError(status, error.code, typeof error.message === "string" ? error.message : error.code, details);
    }
    return new _FitpulseError(status, "http_error", `HTTP ${status}`);
  }
};

// src/backoff.ts
var DEFAULT_BACKOFF = { baseMs: 500, capMs: 3e4 };
function backoffDelay(attempt, options = DEFAULT_BACKOFF, random = Math.random) {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

// src/emitter.ts
var Emitter = class {
  handlers = /* @__PURE__ */ new Map();
  /** Calls `handler` for every `event`; returns a function that stops it. */
  on(event, handler) {
    let set = this.handlers.get(event);
    if (!set) {
      set = /* @__PURE__ */ new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    return () => this.off(event, handler);
  }
  /** Calls `handler` for the next `event` only. */
  once(event, handler) {
    const stop = this.on(event, (payload) => {
      stop();
      handler(payload);
    });
    return stop;
  }
  off(event, handler) {
    this.handlers.get(event)?.delete(handler);
  }
  emit(event, payload) {
    for (const handler of [...this.handlers.get(event) ?? []]) {
      try {
        handler(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
};

// src/protocol.ts
var CloseCode = {
  normal: 1e3,
  goingAway: 1001,
  tooBig: 1009,
  internal: 1011,
  unauthorized: 4001,
  notAUser: 4003,
  rateLimited: 4008,
  tooSlow: 4009,
  tooManySockets: 4010
};

// src/realtime.ts
var OPEN = 1;
var STABLE_AFTER_MS = 1e4;
var FINAL_CLOSES = /* @__PURE__ */ new Set([CloseCode.notAUser, CloseCode.tooManySockets]);
var Realtime = class _Realtime extends Emitter {
  constructor(wsUrl, tokens, storage, WebSocketImpl, options = {}) {
    super();
    this.wsUrl = wsUrl;
    this.tokens = tokens;
    this.storage = storage;
    this.WebSocketImpl = WebSocketImpl;
    const params = {};
    for (const [key, value] of Object.entries(options.params ?? {})) if (value) params[key] = value;
    this.options = {
      params,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      requestTimeoutMs: options.requestTimeoutMs ?? 1e4,
      connectTimeoutMs: options.connectTimeoutMs ?? 15e3,
      backgroundGraceMs: options.backgroundGraceMs ?? 3e4,
      autoLifecycle: options.autoLifecycle ?? typeof globalThis.document !== "undefined"
    };
    this.tokens.on("signedout", () => {
      if (this.stateValue !== "idle" && this.stateValue !== "stopped") this.shut("stopped", CloseCode.normal, "signed out");
      this.forgetUser();
    });
  }
  ws = null;
  socketToken = null;
  stateValue = "idle";
  attempt = 0;
  retry = null;
  connectTimer = null;
  /** Resets the backoff once a connection has stayed up a while (not merely said ready). */
  stableTimer = null;
  /** Bumped by every dial and every shut: an `open()` that awaited and finds it changed
   *  was overtaken (paused, closed, or dialed again) and gives up. */
  generation = 0;
  backgroundTimer = null;
  pending = /* @__PURE__ */ new Map();
  waiters = /* @__PURE__ */ new Set();
  nextId = 1;
  /** The user's last processed feed `seq` (null before the first connection). */
  lastSeqValue = null;
  /** Whose feed `lastSeq` belongs to (`null`: a token without a user id); `undefined`
   *  until the position is read from storage. */
  seqUser = void 0;
  /** Classes to re-join after a reconnect, with the last `class_seq` seen of each. */
  classes = /* @__PURE__ */ new Map();
  /** Classes whose `join` call is waiting for its reply (not re-joined meanwhile). */
  joining = /* @__PURE__ */ new Set();
  /** A 4001 was answered with a refresh; another before `session.ready` stops. */
  refreshedAfterRefusal = false;
  detachLifecycle = null;
  options;
  get state() {
    return this.stateValue;
  }
  /** The last processed `seq` of the user's feed. */
  get lastSeq() {
    return this.lastSeqValue;
  }
  /** The last `class_seq` seen of each joined class. */
  get classSeqs() {
    return this.classes;
  }
  /** Opens the connection and keeps it open until `close()`. */
  connect() {
    if (this.stateValue !== "idle" && this.stateValue !== "stopped") return;
    if (this.options.autoLifecycle) this.detachLifecycle = this.attachLifecycle();
    void this.open();
  }
  /** Closes the connection for good (until `connect()` again). */
  close() {
    this.detachLifecycle?.();
    this.detachLifecycle = null;
    this.shut("stopped", CloseCode.normal, "closed by the app");
  }
  /** Closes the socket while the app is in the background or offline; `resume()` reopens. */
  pause(reason = "paused by the app") {
    if (this.stateValue === "stopped" || this.stateValue === "idle" || this.stateValue === "paused") return;
    this.shut("paused", CloseCode.normal, reason);
  }
  /** Reopens a paused connection now (and a reconnecting one without waiting). */
  resume() {
    if (this.stateValue !== "paused" && this.stateValue !== "reconnecting") return;
    this.attempt = 0;
    void this.open();
  }
  /** Drops the current socket and dials again through the backoff, as after a network
   *  drop (the feed resumes from the last processed `seq`). */
  reconnect() {
    if (this.stateValue === "stopped" || this.stateValue === "idle") return;
    this.shut("reconnecting", CloseCode.normal, "reconnect asked by the app");
    this.reconnectLater();
  }
  /** Sends a request and resolves with its reply's `data`; rejects with its error, or
   *  `timeout` when neither the connection nor the reply came within `timeoutMs`. */
  request(type, data, options) {
    return this.requestRaw(type, data, options);
  }
  /** `request` for a frame type this SDK version does not know (no types). */
  async requestRaw(type, data = {}, options = {}) {
    const deadline = Date.now() + (options.timeoutMs ?? this.options.requestTimeoutMs);
    await this.whenOpen(deadline, type);
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) throw new FitpulseError(0, "disconnected", "the socket closed");
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FitpulseError(0, "timeout", `no reply to ${type}`));
      }, Math.max(0, deadline - Date.now()));
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ id, type, data }));
    });
  }
  /** Joins a class; it is re-joined after every reconnect, from its last `class_seq`. */
  async join(classId, options) {
    const since = this.classes.get(classId) ?? void 0;
    this.classes.set(classId, since ?? null);
    this.joining.add(classId);
    try {
      const data = since === void 0 ? { class_id: classId } : { class_id: classId, since };
      return await this.request("live.join", data, options);
    } catch (err) {
      if (err instanceof FitpulseError && err.code !== "timeout" && err.code !== "disconnected") this.classes.delete(classId);
      throw err;
    } finally {
      this.joining.delete(classId);
    }
  }
  async leave(classId, options) {
    this.classes.delete(classId);
    return this.request("live.leave", { class_id: classId }, options);
  }
  /** Acknowledges the feed up to `seq` (shared by the user's devices). */
  ack(seq) {
    return this.request("feed.ack", { seq });
  }
  // --- connection --------------------------------------------------------------------------
  setState(state, extra = {}) {
    this.stateValue = state;
    this.emit("state", { state, attempt: this.attempt, ...extra });
  }
  shut(state, code, reason) {
    this.generation += 1;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    this.failPending("disconnected", "the socket closed");
    if (state === "stopped") this.failWaiters();
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(code, reason);
      } catch {
      }
    }
    this.setState(state, { reason });
  }
  clearTimers() {
    for (const timer of [this.retry, this.connectTimer, this.stableTimer]) if (timer) clearTimeout(timer);
    this.retry = null;
    this.connectTimer = null;
    this.stableTimer = null;
  }
  /** Requests waiting for a connection that will not come. */
  failWaiters() {
    for (const fail of [...this.waiters]) fail();
    this.waiters.clear();
  }
  forgetUser() {
    this.seqUser = void 0;
    this.lastSeqValue = null;
    this.classes.clear();
  }
  async open() {
    this.clearTimers();
    const generation = ++this.generation;
    this.setState("connecting");
    try {
      const token = await this.tokens.access();
      const user = await this.tokens.userId();
      if (user !== this.seqUser) await this.loadSeq(user);
      if (generation !== this.generation) return;
      if (!token) {
        this.setState("stopped", { reason: "signed out" });
        return;
      }
      this.dial(token);
    } catch {
      if (generation === this.generation) this.reconnectLater();
    }
  }
  dial(token) {
    let query = `access_token=${encodeURIComponent(token)}`;
    for (const [key, value] of Object.entries(this.options.params)) query += `&${key}=${encodeURIComponent(value)}`;
    if (this.lastSeqValue !== null) query += `&since=${this.lastSeqValue}`;
    const ws = new this.WebSocketImpl(`${this.wsUrl}?${query}`);
    const previous = this.ws;
    this.ws = ws;
    this.socketToken = token;
    if (previous) {
      previous.onclose = null;
      previous.onmessage = null;
      try {
        previous.close(CloseCode.normal, "replaced");
      } catch {
      }
    }
    ws.onmessage = (event) => {
      if (ws === this.ws && typeof event.data === "string") this.receive(event.data);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.closed(event.code, event.reason);
    };
    ws.onerror = () => {
    };
    this.connectTimer = setTimeout(() => {
      if (ws === this.ws && this.stateValue === "connecting") {
        ws.onclose = null;
        ws.close(CloseCode.normal, "no session.ready in time");
        this.closed(1006, "no session.ready in time");
      }
    }, this.options.connectTimeoutMs);
  }
  closed(code, reason) {
    this.ws = null;
    this.failPending("disconnected", "the socket closed");
    if (this.stateValue === "stopped" || this.stateValue === "paused") return;
    if (FINAL_CLOSES.has(code)) {
      this.clearTimers();
      this.setState("stopped", { code, reason });
      return;
    }
    if (code === CloseCode.unauthorized) {
      if (this.refreshedAfterRefusal) {
        this.clearTimers();
        this.setState("stopped", { code, reason });
        return;
      }
      this.refreshedAfterRefusal = true;
      this.clearTimers();
      this.setState("reconnecting", { code, reason, inMs: 0 });
      this.tokens.refresh().then(
        (token) => {
          if (this.stateValue !== "reconnecting") return;
          if (token) void this.open();
          else this.setState("stopped", { code, reason: "signed out" });
        },
        () => {
          if (this.stateValue === "reconnecting") this.reconnectLater(code, reason);
        }
      );
      return;
    }
    this.reconnectLater(code, reason);
  }
  reconnectLater(code, reason) {
    this.clearTimers();
    const delay = backoffDelay(this.attempt, this.options.backoff);
    this.attempt += 1;
    this.setState("reconnecting", { code, reason, inMs: delay });
    this.retry = setTimeout(() => void this.open(), delay);
  }
  failPending(code, message) {
    for (const [, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new FitpulseError(0, code, message));
    }
    this.pending.clear();
  }
  whenOpen(deadline, type) {
    if (this.stateValue === "open" && this.ws?.readyState === OPEN) return Promise.resolve();
    if (this.stateValue === "stopped" || this.stateValue === "idle") {
      return Promise.reject(new FitpulseError(0, "not_connected", `not connected: ${type} was not sent`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new FitpulseError(0, "timeout", `not connected in time to send ${type}`));
      }, Math.max(0, deadline - Date.now()));
      const wake = () => {
        clearTimeout(timer);
        if (this.stateValue === "open") resolve();
        else reject(new FitpulseError(0, "not_connected", `the connection stopped: ${type} was not sent`));
      };
      this.waiters.add(wake);
    });
  }
  // --- frames ------------------------------------------------------------------------------
  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if ("reply_to" in frame) {
      this.reply(frame);
      return;
    }
    if ("class_seq" in frame) {
      if (!this.acceptClassFrame(frame)) return;
    } else if ("seq" in frame) {
      if (this.lastSeqValue !== null && frame.seq <= this.lastSeqValue) return;
    }
    const data = frame.data;
    switch (frame.type) {
      case "session.ready":
        this.ready(data);
        break;
      case "resume.incomplete":
        this.rememberSeq(data.last_seq);
        this.emit("refetch", data);
        break;
      case "live.snapshot": {
        const snapshot = data;
        const incomplete = snapshot.since != null && !snapshot.complete;
        if ((snapshot.since == null || incomplete) && this.classes.has(snapshot.class.id)) {
          this.classes.set(snapshot.class.id, snapshot.class_seq);
        }
        if (incomplete) this.emit("classRefetch", { classId: snapshot.class.id, classSeq: snapshot.class_seq });
        break;
      }
      case "token.expiring":
        void this.reauthenticate();
        break;
      default:
    }
    this.emit("frame", frame);
    this.emit(frame.type, frame);
    if ("seq" in frame && !("class_seq" in frame)) this.rememberSeq(frame.seq);
  }
  acceptClassFrame(frame) {
    const last = this.classes.get(frame.class_id);
    if (last !== void 0 && last !== null && frame.class_seq <= last) return false;
    if (this.classes.has(frame.class_id)) this.classes.set(frame.class_id, frame.class_seq);
    if (frame.type === "live.ended" || frame.type === "live.cancelled") this.classes.delete(frame.class_id);
    return true;
  }
  ready(data) {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.refreshedAfterRefusal = false;
    this.stableTimer = setTimeout(() => {
      this.attempt = 0;
    }, STABLE_AFTER_MS);
    if (this.lastSeqValue === null) this.rememberSeq(data.last_seq);
    this.setState("open");
    for (const wake of [...this.waiters]) wake();
    this.waiters.clear();
    this.emit("ready", { data, resumedFrom: data.since ?? null });
    for (const [classId, since] of this.classes) {
      if (this.joining.has(classId)) continue;
      const body = since === null ? { class_id: classId } : { class_id: classId, since };
      this.request("live.join", body).catch((error) => {
        if (error.code === "timeout" || error.code === "disconnected") return;
        this.classes.delete(classId);
        this.emit("rejoinFailed", { classId, error });
      });
    }
  }
  reply(frame) {
    if (frame.reply_to === null) return;
    const waiter = this.pending.get(frame.reply_to);
    if (!waiter) return;
    this.pending.delete(frame.reply_to);
    clearTimeout(waiter.timer);
    if (frame.error) waiter.reject(FitpulseError.fromBody(0, frame));
    else waiter.resolve(frame.data ?? {});
  }
  /** A new token for the open socket: the current one if REST already refreshed it. */
  async reauthenticate() {
    try {
      let token = await this.tokens.access();
      if (!token || token === this.socketToken) token = await this.tokens.refresh();
      if (!token) return;
      await this.request("auth.refresh", { access_token: token });
      this.socketToken = token;
    } catch {
    }
  }
  // --- the feed position -------------------------------------------------------------------
  static seqKey(user) {
    return `fitpulse.seq.${user ?? "anonymous"}`;
  }
  async loadSeq(user) {
    const stored = await this.storage.get(_Realtime.seqKey(user));
    if (this.seqUser !== void 0 && user !== this.seqUser) this.classes.clear();
    const value = stored === null ? NaN : Number(stored);
    this.lastSeqValue = Number.isSafeInteger(value) && value >= 0 ? value : null;
    this.seqUser = user;
  }
  rememberSeq(seq) {
    this.lastSeqValue = seq;
    if (this.seqUser !== void 0) void this.storage.set(_Realtime.seqKey(this.seqUser), String(seq));
  }
  // --- the app's lifecycle (browsers) ------------------------------------------------------
  attachLifecycle() {
    const target = globalThis;
    if (!target.addEventListener || !target.removeEventListener) return null;
    const online = () => this.resume();
    const offline = () => this.pause("offline");
    const visibility = () => {
      if (this.backgroundTimer) clearTimeout(this.backgroundTimer);
      this.backgroundTimer = null;
      if (target.document?.visibilityState === "hidden") {
        if (this.options.backgroundGraceMs > 0) {
          this.backgroundTimer = setTimeout(() => this.pause("in the background"), this.options.backgroundGraceMs);
        }
      } else {
        this.resume();
      }
    };
    target.addEventListener("online", online);
    target.addEventListener("offline", offline);
    target.document?.addEventListener("visibilitychange", visibility);
    return () => {
      if (this.backgroundTimer) clearTimeout(this.backgroundTimer);
      target.removeEventListener?.("online", online);
      target.removeEventListener?.("offline", offline);
      target.document?.removeEventListener("visibilitychange", visibility);
    };
  }
};

// src/rest.ts
var RestClient = class {
  constructor(baseUrl, tokens, fetchImpl) {
    this.baseUrl = baseUrl;
    this.tokens = tokens;
    this.fetchImpl = fetchImpl;
  }
  get(path, options = {}) {
    return this.call("GET", path, options);
  }
  post(path, options = {}) {
    return this.call("POST", path, options);
  }
  put(path, options = {}) {
    return this.call("PUT", path, options);
  }
  patch(path, options = {}) {
    return this.call("PATCH", path, options);
  }
  delete(path, options = {}) {
    return this.call("DELETE", path, options);
  }
  async call(method, path, options) {
    return (await this.request(method, path, options)).data;
  }
  /** Any request, untyped, with status and headers: for what the typed helpers do not cover. */
  async request(method, path, options = {}) {
    const url = this.url(path, options.path, options.query);
    const auth = options.auth ?? true;
    const send = async (token2) => {
      const headers = { accept: "application/json", ...options.headers };
      if (options.body !== void 0) headers["content-type"] = "application/json";
      if (auth) {
        if (!token2) throw new FitpulseError(401, "signed_out", "no access token: sign in first");
        headers.authorization = `Bearer ${token2}`;
      }
      try {
        return await this.fetchImpl(url, {
          method,
          headers,
          body: options.body === void 0 ? void 0 : JSON.stringify(options.body),
          signal: options.signal
        });
      } catch (err) {
        if (err instanceof FitpulseError) throw err;
        throw new FitpulseError(0, "network_error", err instanceof Error ? err.message : String(err));
      }
    };
    const token = auth ? await this.tokens.access() : null;
    let response = await send(token);
    if (response.status === 401 && auth) {
      const current = await this.tokens.access().catch(() => null);
      const fresh = current && current !== token ? current : await this.tokens.refresh().catch(() => null);
      if (fresh) response = await send(fresh);
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = response.ok ? text : { error: { code: "not_json", message: text.slice(0, 200) } };
      }
    }
    if (!response.ok) throw FitpulseError.fromBody(response.status, data);
    return { status: response.status, headers: response.headers, data };
  }
  /** An unauthenticated POST (token endpoints), for the token manager. */
  postJson = async (path, body) => (await this.request("POST", path, { body, auth: false })).data;
  url(path, params, query) {
    const filled = path.replace(/\{([^}]+)\}/g, (_, name) => {
      const value = params?.[name];
      if (value === void 0) throw new FitpulseError(0, "invalid_request", `missing path parameter ${name}`);
      return encodeURIComponent(String(value));
    });
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== void 0) search.set(key, String(value));
    }
    const text = search.toString();
    const suffix = text ? `?${text}` : "";
    return `${this.baseUrl}${filled}${suffix}`;
  }
};

// src/storage.ts
function memoryStorage() {
  const values = /* @__PURE__ */ new Map();
  return {
    get: (key) => values.get(key) ?? null,
    set: (key, value) => {
      values.set(key, value);
    },
    remove: (key) => {
      values.delete(key);
    }
  };
}
function webStorage(storage, prefix = "") {
  return {
    get: (key) => storage.getItem(prefix + key),
    set: (key, value) => storage.setItem(prefix + key, value),
    remove: (key) => storage.removeItem(prefix + key)
  };
}

// src/tokens.ts
var TOKENS_KEY = "fitpulse.tokens";
function claimsOf(token) {
  try {
    const part = token.split(".")[1] ?? "";
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    return JSON.parse(atob(base64));
  } catch {
    return {};
  }
}
var Tokens = class extends Emitter {
  constructor(storage, post, getToken, marginMs) {
    super();
    this.storage = storage;
    this.post = post;
    this.getToken = getToken;
    this.marginMs = marginMs;
  }
  stored;
  inflight = null;
  /** Bumped by every sign-in and sign-out: a refresh that finds it changed when its answer
   *  arrives drops the answer instead of bringing back a login that ended. */
  epoch = 0;
  /** How many refreshes actually ran (not how many were asked for). */
  refreshes = 0;
  /** A valid access token (refreshed first when it expires within the margin), or null. */
  async access() {
    if (this.getToken) return this.getToken({ forceRefresh: false });
    const tokens = await this.load();
    if (!tokens) return null;
    if (tokens.expires_at - Date.now() < this.marginMs && tokens.refresh_token) {
      try {
        return await this.refresh();
      } catch (err) {
        if (this.stored && this.stored.expires_at > Date.now()) return this.stored.access_token;
        throw err;
      }
    }
    return tokens.access_token;
  }
  /** A new access token; callers at the same moment share one refresh. */
  refresh() {
    if (!this.inflight) {
      this.inflight = this.runRefresh().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }
  /** Keeps a token answer of the server (after login, register, a refresh). */
  async save(answer) {
    this.epoch += 1;
    await this.keep(answer);
  }
  async keep(answer) {
    this.stored = {
      access_token: answer.access_token,
      refresh_token: answer.refresh_token ?? null,
      expires_at: Date.now() + answer.expires_in * 1e3
    };
    await this.storage.set(TOKENS_KEY, JSON.stringify(this.stored));
  }
  /** Forgets the tokens (telling `signedout` unless `quiet`); the refresh token is
   *  returned so the caller may revoke it. */
  async clear({ quiet = false } = {}) {
    const refresh = (await this.load())?.refresh_token ?? null;
    this.epoch += 1;
    this.stored = null;
    await this.storage.remove(TOKENS_KEY);
    if (!quiet) this.emit("signedout", void 0);
    return refresh;
  }
  /** The stored access token, read without waiting: for pages whose storage answers at once
   *  (Web Storage, memory); `undefined` when the storage is asynchronous and not yet read. */
  current() {
    if (this.stored === void 0) {
      const raw = this.storage.get(TOKENS_KEY);
      if (raw instanceof Promise) {
        raw.then((text) => {
          if (this.stored === void 0) this.stored = parseTokens(text);
        }, () => void 0);
        return void 0;
      }
      this.stored = parseTokens(raw);
    }
    return this.stored?.access_token ?? null;
  }
  /** The signed-in user's id (`sub`), when known. */
  async userId() {
    const token = this.getToken ? await this.getToken({ forceRefresh: false }) : (await this.load())?.access_token;
    const sub = token ? claimsOf(token).sub : void 0;
    return typeof sub === "string" ? sub : null;
  }
  async runRefresh() {
    this.refreshes += 1;
    if (this.getToken) {
      const token = await this.getToken({ forceRefresh: true });
      if (token) this.emit("refreshed", token);
      return token;
    }
    const before = this.stored;
    this.stored = void 0;
    const tokens = await this.load();
    if (!tokens?.refresh_token) return null;
    if (before && tokens.access_token !== before.access_token && tokens.expires_at - Date.now() >= this.marginMs) {
      this.emit("refreshed", tokens.access_token);
      return tokens.access_token;
    }
    const epoch = this.epoch;
    let answer;
    try {
      answer = await this.post("/oauth/token", {
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token
      });
    } catch (err) {
      if (epoch === this.epoch && err instanceof FitpulseError && (err.status === 400 || err.status === 401)) {
        await this.clear();
      }
      throw err;
    }
    if (epoch !== this.epoch) return (await this.load())?.access_token ?? null;
    await this.keep(answer);
    this.emit("refreshed", answer.access_token);
    return answer.access_token;
  }
  async load() {
    if (this.stored === void 0) this.stored = parseTokens(await this.storage.get(TOKENS_KEY));
    return this.stored;
  }
};
function parseTokens(raw) {
  try {
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

// src/client.ts
var FitpulseClient = class {
  rest;
  tokens;
  /** Push registration of this install and the member's notification settings. */
  devices;
  baseUrl;
  storage;
  WebSocketImpl;
  constructor(options) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.storage = options.storage ?? memoryStorage();
    const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (!fetchImpl) throw new Error("no fetch: pass options.fetch");
    let rest = null;
    this.tokens = new Tokens(this.storage, (path, body) => rest.postJson(path, body), options.getToken, options.refreshMarginMs ?? 6e4);
    rest = new RestClient(this.baseUrl, this.tokens, fetchImpl);
    this.rest = rest;
    this.devices = new Devices(rest, this.storage);
    this.WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
  }
  /** The realtime connection (not yet connected: call `connect()`). */
  realtime(options = {}) {
    if (!this.WebSocketImpl) throw new Error("no WebSocket: pass options.WebSocket (on Node 20: the `ws` package)");
    const wsUrl = `${this.baseUrl.replace(/^http/, "ws")}/v1/ws`;
    return new Realtime(wsUrl, this.tokens, this.storage, this.WebSocketImpl, options);
  }
  /** Sign-in flows that keep the tokens in the SDK (not used with `getToken`). */
  auth = {
    login: (email, password) => this.signIn("/oauth/token", { grant_type: "password", username: email, password }),
    register: (email, password, displayName) => this.signIn("/v1/auth/register", { email, password, display_name: displayName }),
    /** A device account without an email (upgrade it later with `/v1/auth/upgrade`). */
    anonymous: (deviceId) => this.signIn("/v1/auth/anonymous", { device_id: deviceId }),
    /** Keeps tokens obtained elsewhere (an admin tool, a social sign-in answer). */
    use: (answer) => this.tokens.save(answer),
    /**
     * Stops pushes to this install for this account, forgets the tokens and revokes the
     * refresh token on the server.
     */
    logout: async () => {
      await this.devices.unregister().catch(() => void 0);
      const refresh = await this.tokens.clear();
      if (refresh) await this.rest.postJson("/v1/auth/logout", { refresh_token: refresh }).catch(() => void 0);
    }
  };
  async signIn(path, body) {
    const answer = await this.rest.postJson(path, body);
    if (typeof answer?.access_token !== "string") throw new FitpulseError(0, "invalid_answer", `no access_token from ${path}`);
    await this.tokens.save(answer);
    return answer;
  }
};
export {
  CloseCode,
  DEFAULT_BACKOFF,
  Devices,
  FitpulseClient,
  FitpulseError,
  Realtime,
  RestClient,
  Tokens,
  backoffDelay,
  claimsOf,
  memoryStorage,
  webStorage
};
