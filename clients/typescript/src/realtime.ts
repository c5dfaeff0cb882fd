/**
 * The realtime connection: one socket to `/v1/ws` that an app keeps for its lifetime.
 *
 * - Every event of the user's feed is delivered once and in order: the last processed `seq`
 *   is kept in the app's storage and the socket resumes with `?since=` it, after a network
 *   drop, a server restart or an app restart. `resume.incomplete` becomes a `refetch` event.
 * - Classes joined with `join` are re-joined after a reconnect from their last `class_seq`,
 *   so a participant catches up the cues missed meanwhile.
 * - Reconnects wait a full-jitter exponential backoff; close codes are honoured as
 *   docs/protocol.md says: 4001 refreshes the token once and reconnects; 4003 and 4010 stop.
 * - `token.expiring` refreshes the token (one refresh shared with REST) and sends
 *   `auth.refresh` on the open socket.
 * - In a browser the connection pauses while offline and after the page has been hidden for
 *   `backgroundGraceMs`, and comes back when it returns; other platforms call `pause()` and
 *   `resume()` (React Native: from `AppState`).
 * - Requests are matched to replies by id and reject after a timeout.
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { FitpulseError } from "./errors.js";
import {
  CloseCode,
  type ClassFrame,
  type FeedFrame,
  type FrameOf,
  type ReplyFrame,
  type Requests,
  type ServerFrame,
  type ServerFrameData,
} from "./protocol.js";
import type { KeyValueStorage } from "./storage.js";
import type { Tokens } from "./tokens.js";

/** The part of the WebSocket API the SDK uses: browsers', React Native's and `ws`'s. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "paused" | "stopped";

export interface StateChange {
  state: ConnectionState;
  /** The close code that led here, if any. */
  code?: number;
  reason?: string;
  /** Reconnect attempts since the last successful connection. */
  attempt: number;
  /** When reconnecting: the delay before the next attempt. */
  inMs?: number;
}

export interface RealtimeEvents {
  state: StateChange;
  /** The socket is attached to the session; `resumedFrom` is the `since` it resumed from. */
  ready: { data: ServerFrameData["session.ready"]; resumedFrom: number | null };
  /** Events after the last processed `seq` are no longer all kept: refetch the app's state. */
  refetch: ServerFrameData["resume.incomplete"];
  /** Every frame delivered (each sequenced one once). */
  frame: ServerFrame;
  /** A class's events after the last `class_seq` are no longer all kept (the class keeps
   *  its last 200): take the snapshot as the class's state; the cues in between are gone. */
  classRefetch: { classId: string; classSeq: number };
  /** A class could not be re-joined after a reconnect (ended, cancelled, forbidden). */
  rejoinFailed: { classId: string; error: FitpulseError };
}

type FrameEvents = { [K in keyof ServerFrameData]: FrameOf<K> };
type AllEvents = RealtimeEvents & FrameEvents;

export interface RealtimeOptions {
  /** `platform`, `app_version`, `locale`: feature messages target by them. */
  params?: { platform?: string; app_version?: string; locale?: string };
  backoff?: BackoffOptions;
  /** How long a request waits for its reply (and for the connection) before rejecting. */
  requestTimeoutMs?: number;
  /** How long `session.ready` may take after dialing before the attempt counts as failed. */
  connectTimeoutMs?: number;
  /** Browsers: pause after the page has been hidden this long (0: never). */
  backgroundGraceMs?: number;
  /** Follow the browser's online/offline and visibility events (default: when present). */
  autoLifecycle?: boolean;
}

interface Pending {
  resolve: (data: unknown) => void;
  reject: (err: FitpulseError) => void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;
/** How long a connection must hold before the reconnect backoff starts over. */
const STABLE_AFTER_MS = 10_000;
const FINAL_CLOSES = new Set<number>([CloseCode.notAUser, CloseCode.tooManySockets]);

export class Realtime extends Emitter<AllEvents> {
  private ws: WebSocketLike | null = null;
  private socketToken: string | null = null;
  private stateValue: ConnectionState = "idle";
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  /** Resets the backoff once a connection has stayed up a while (not merely said ready). */
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  /** Bumped by every dial and every shut: an `open()` that awaited and finds it changed
   *  was overtaken (paused, closed, or dialed again) and gives up. */
  private generation = 0;
  private backgroundTimer: ReturnType<typeof setTimeout> | null = null;
  private pending = new Map<number, Pending>();
  private waiters = new Set<() => void>();
  private nextId = 1;
  /** The user's last processed feed `seq` (null before the first connection). */
  private lastSeqValue: number | null = null;
  /** Whose feed `lastSeq` belongs to (`null`: a token without a user id); `undefined`
   *  until the position is read from storage. */
  private seqUser: string | null | undefined = undefined;
  /** Classes to re-join after a reconnect, with the last `class_seq` seen of each. */
  private classes = new Map<string, number | null>();
  /** Classes whose `join` call is waiting for its reply (not re-joined meanwhile). */
  private joining = new Set<string>();
  /** A 4001 was answered with a refresh; another before `session.ready` stops. */
  private refreshedAfterRefusal = false;
  private detachLifecycle: (() => void) | null = null;
  private readonly options: Required<Omit<RealtimeOptions, "params">> & { params: Record<string, string> };

  constructor(
    private readonly wsUrl: string,
    private readonly tokens: Tokens,
    private readonly storage: KeyValueStorage,
    private readonly WebSocketImpl: WebSocketConstructor,
    options: RealtimeOptions = {},
  ) {
    super();
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(options.params ?? {})) if (value) params[key] = value;
    this.options = {
      params,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
      backgroundGraceMs: options.backgroundGraceMs ?? 30_000,
      autoLifecycle: options.autoLifecycle ?? typeof (globalThis as { document?: unknown }).document !== "undefined",
    };
    // Signed out: this user's socket closes and nothing of theirs is carried to the next.
    this.tokens.on("signedout", () => {
      if (this.stateValue !== "idle" && this.stateValue !== "stopped") this.shut("stopped", CloseCode.normal, "signed out");
      this.forgetUser();
    });
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The last processed `seq` of the user's feed. */
  get lastSeq(): number | null {
    return this.lastSeqValue;
  }

  /** The last `class_seq` seen of each joined class. */
  get classSeqs(): ReadonlyMap<string, number | null> {
    return this.classes;
  }

  /** Opens the connection and keeps it open until `close()`. */
  connect(): void {
    if (this.stateValue !== "idle" && this.stateValue !== "stopped") return;
    if (this.options.autoLifecycle) this.detachLifecycle = this.attachLifecycle();
    void this.open();
  }

  /** Closes the connection for good (until `connect()` again). */
  close(): void {
    this.detachLifecycle?.();
    this.detachLifecycle = null;
    this.shut("stopped", CloseCode.normal, "closed by the app");
  }

  /** Closes the socket while the app is in the background or offline; `resume()` reopens. */
  pause(reason = "paused by the app"): void {
    if (this.stateValue === "stopped" || this.stateValue === "idle" || this.stateValue === "paused") return;
    this.shut("paused", CloseCode.normal, reason);
  }

  /** Reopens a paused connection now (and a reconnecting one without waiting). */
  resume(): void {
    if (this.stateValue !== "paused" && this.stateValue !== "reconnecting") return;
    this.attempt = 0;
    void this.open();
  }

  /** Drops the current socket and dials again through the backoff, as after a network
   *  drop (the feed resumes from the last processed `seq`). */
  reconnect(): void {
    if (this.stateValue === "stopped" || this.stateValue === "idle") return;
    this.shut("reconnecting", CloseCode.normal, "reconnect asked by the app");
    this.reconnectLater();
  }

  /** Sends a request and resolves with its reply's `data`; rejects with its error, or
   *  `timeout` when neither the connection nor the reply came within `timeoutMs`. */
  request<T extends keyof Requests>(type: T, data: Requests[T]["data"], options?: { timeoutMs?: number }): Promise<Requests[T]["reply"]> {
    return this.requestRaw(type, data, options) as Promise<Requests[T]["reply"]>;
  }

  /** `request` for a frame type this SDK version does not know (no types). */
  async requestRaw(type: string, data: unknown = {}, options: { timeoutMs?: number } = {}): Promise<unknown> {
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
  async join(classId: string, options?: { timeoutMs?: number }): Promise<Requests["live.join"]["reply"]> {
    const since = this.classes.get(classId) ?? undefined;
    this.classes.set(classId, since ?? null);
    this.joining.add(classId);
    try {
      const data = since === undefined ? { class_id: classId } : { class_id: classId, since };
      return await this.request("live.join", data, options);
    } catch (err) {
      if (err instanceof FitpulseError && err.code !== "timeout" && err.code !== "disconnected") this.classes.delete(classId);
      throw err;
    } finally {
      this.joining.delete(classId);
    }
  }

  async leave(classId: string, options?: { timeoutMs?: number }): Promise<Requests["live.leave"]["reply"]> {
    this.classes.delete(classId);
    return this.request("live.leave", { class_id: classId }, options);
  }

  /** Acknowledges the feed up to `seq` (shared by the user's devices). */
  ack(seq: number): Promise<Requests["feed.ack"]["reply"]> {
    return this.request("feed.ack", { seq });
  }

  // --- connection --------------------------------------------------------------------------

  private setState(state: ConnectionState, extra: Partial<StateChange> = {}): void {
    this.stateValue = state;
    this.emit("state", { state, attempt: this.attempt, ...extra });
  }

  private shut(state: ConnectionState, code: number, reason: string): void {
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
        // Closing a socket that never opened may throw; it is gone either way.
      }
    }
    this.setState(state, { reason });
  }

  private clearTimers(): void {
    for (const timer of [this.retry, this.connectTimer, this.stableTimer]) if (timer) clearTimeout(timer);
    this.retry = null;
    this.connectTimer = null;
    this.stableTimer = null;
  }

  /** Requests waiting for a connection that will not come. */
  private failWaiters(): void {
    for (const fail of [...this.waiters]) fail();
    this.waiters.clear();
  }

  private forgetUser(): void {
    this.seqUser = undefined;
    this.lastSeqValue = null;
    this.classes.clear();
  }

  private async open(): Promise<void> {
    this.clearTimers();
    const generation = ++this.generation;
    this.setState("connecting");
    try {
      const token = await this.tokens.access();
      const user = await this.tokens.userId();
      if (user !== this.seqUser) await this.loadSeq(user);
      if (generation !== this.generation) return; // paused, closed or dialed again meanwhile
      if (!token) {
        this.setState("stopped", { reason: "signed out" });
        return;
      }
      this.dial(token);
    } catch {
      // Storage, the token source or the WebSocket constructor failed: try again later.
      if (generation === this.generation) this.reconnectLater();
    }
  }

  private dial(token: string): void {
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
        // Already gone.
      }
    }
    ws.onmessage = (event) => {
      if (ws === this.ws && typeof event.data === "string") this.receive(event.data);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.closed(event.code, event.reason);
    };
    ws.onerror = () => {
      // A close follows every error; it decides what happens next.
    };
    this.connectTimer = setTimeout(() => {
      if (ws === this.ws && this.stateValue === "connecting") {
        ws.onclose = null;
        ws.close(CloseCode.normal, "no session.ready in time");
        this.closed(1006, "no session.ready in time");
      }
    }, this.options.connectTimeoutMs);
  }

  private closed(code: number, reason: string): void {
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
        // A fresh token was refused too: retrying would loop.
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
        },
      );
      return;
    }
    this.reconnectLater(code, reason);
  }

  private reconnectLater(code?: number, reason?: string): void {
    this.clearTimers();
    const delay = backoffDelay(this.attempt, this.options.backoff);
    this.attempt += 1;
    this.setState("reconnecting", { code, reason, inMs: delay });
    this.retry = setTimeout(() => void this.open(), delay);
  }

  private failPending(code: string, message: string): void {
    for (const [, waiter] of this.pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new FitpulseError(0, code, message));
    }
    this.pending.clear();
  }

  private whenOpen(deadline: number, type: string): Promise<void> {
    if (this.stateValue === "open" && this.ws?.readyState === OPEN) return Promise.resolve();
    if (this.stateValue === "stopped" || this.stateValue === "idle") {
      return Promise.reject(new FitpulseError(0, "not_connected", `not connected: ${type} was not sent`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new FitpulseError(0, "timeout", `not connected in time to send ${type}`));
      }, Math.max(0, deadline - Date.now()));
      // Called when the connection opens, or (stopped) when it never will.
      const wake = () => {
        clearTimeout(timer);
        if (this.stateValue === "open") resolve();
        else reject(new FitpulseError(0, "not_connected", `the connection stopped: ${type} was not sent`));
      };
      this.waiters.add(wake);
    });
  }

  // --- frames ------------------------------------------------------------------------------

  private receive(text: string): void {
    let frame: ServerFrame | ReplyFrame;
    try {
      frame = JSON.parse(text) as ServerFrame | ReplyFrame;
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
    const data = frame.data as Record<string, unknown>;
    switch (frame.type) {
      case "session.ready":
        this.ready(data as unknown as ServerFrameData["session.ready"]);
        break;
      case "resume.incomplete":
        this.rememberSeq((data as unknown as ServerFrameData["resume.incomplete"]).last_seq);
        this.emit("refetch", data as unknown as ServerFrameData["resume.incomplete"]);
        break;
      case "live.snapshot": {
        const snapshot = data as unknown as ServerFrameData["live.snapshot"];
        // Without `since` the class starts here; with it, the catch-up frames follow, unless
        // they are no longer all kept: then the snapshot is where the class is.
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
    this.emit(frame.type as keyof FrameEvents, frame as never);
    // Processed: only now does the position move, so a crash in between replays the event.
    if ("seq" in frame && !("class_seq" in frame)) this.rememberSeq((frame as FeedFrame).seq);
  }

  private acceptClassFrame(frame: ClassFrame): boolean {
    const last = this.classes.get(frame.class_id);
    if (last !== undefined && last !== null && frame.class_seq <= last) return false;
    if (this.classes.has(frame.class_id)) this.classes.set(frame.class_id, frame.class_seq);
    if (frame.type === "live.ended" || frame.type === "live.cancelled") this.classes.delete(frame.class_id);
    return true;
  }

  private ready(data: ServerFrameData["session.ready"]): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.refreshedAfterRefusal = false;
    // A server that accepts and then drops every connection must not get a fast loop: the
    // backoff starts over only once this connection has held for a while.
    this.stableTimer = setTimeout(() => {
      this.attempt = 0;
    }, STABLE_AFTER_MS);
    if (this.lastSeqValue === null) this.rememberSeq(data.last_seq);
    this.setState("open");
    for (const wake of [...this.waiters]) wake();
    this.waiters.clear();
    this.emit("ready", { data, resumedFrom: data.since ?? null });
    for (const [classId, since] of this.classes) {
      if (this.joining.has(classId)) continue; // its own join is about to be sent
      const body = since === null ? { class_id: classId } : { class_id: classId, since };
      this.request("live.join", body).catch((error: FitpulseError) => {
        if (error.code === "timeout" || error.code === "disconnected") return; // the next connection retries
        this.classes.delete(classId);
        this.emit("rejoinFailed", { classId, error });
      });
    }
  }

  private reply(frame: ReplyFrame): void {
    if (frame.reply_to === null) return;
    const waiter = this.pending.get(frame.reply_to);
    if (!waiter) return;
    this.pending.delete(frame.reply_to);
    clearTimeout(waiter.timer);
    if (frame.error) waiter.reject(FitpulseError.fromBody(0, frame));
    else waiter.resolve(frame.data ?? {});
  }

  /** A new token for the open socket: the current one if REST already refreshed it. */
  private async reauthenticate(): Promise<void> {
    try {
      let token = await this.tokens.access();
      if (!token || token === this.socketToken) token = await this.tokens.refresh();
      if (!token) return;
      await this.request("auth.refresh", { access_token: token });
      this.socketToken = token;
    } catch {
      // At expiry the socket closes with 4001, which refreshes and reconnects.
    }
  }

  // --- the feed position -------------------------------------------------------------------

  private static seqKey(user: string | null): string {
    return `fitpulse.seq.${user ?? "anonymous"}`;
  }

  private async loadSeq(user: string | null): Promise<void> {
    const stored = await this.storage.get(Realtime.seqKey(user));
    // Another user's classes are not this one's (the first load keeps classes joined early).
    if (this.seqUser !== undefined && user !== this.seqUser) this.classes.clear();
    const value = stored === null ? NaN : Number(stored);
    this.lastSeqValue = Number.isSafeInteger(value) && value >= 0 ? value : null;
    // Only once read: a failed read is tried again on the next dial.
    this.seqUser = user;
  }

  private rememberSeq(seq: number): void {
    this.lastSeqValue = seq;
    if (this.seqUser !== undefined) void this.storage.set(Realtime.seqKey(this.seqUser), String(seq));
  }

  // --- the app's lifecycle (browsers) ------------------------------------------------------

  private attachLifecycle(): (() => void) | null {
    const target = globalThis as unknown as {
      addEventListener?: (type: string, fn: () => void) => void;
      removeEventListener?: (type: string, fn: () => void) => void;
      document?: { visibilityState?: string; addEventListener(type: string, fn: () => void): void; removeEventListener(type: string, fn: () => void): void };
      navigator?: { onLine?: boolean };
    };
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
}
