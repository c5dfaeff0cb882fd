/**
 * Access tokens for REST and the socket, from one place so that a refresh happens once
 * however many callers need it at the same moment (single flight).
 *
 * Two modes: the app hands over `getToken` (its own backend or auth library holds the
 * tokens; `forceRefresh` asks it for a new one), or the SDK keeps the OAuth tokens itself
 * (`login`, `register`, `anonymous`), persisted in the app's storage and rotated through
 * `/oauth/token` shortly before the access token expires.
 */
import { Emitter } from "./emitter.js";
import { FitpulseError } from "./errors.js";
import type { KeyValueStorage } from "./storage.js";

/** The app's own token source: a valid access token, a new one when `forceRefresh`. */
export type GetToken = (request: { forceRefresh: boolean }) => Promise<string | null>;

/** The token answer of `/oauth/token`, `/v1/auth/register` and `/v1/auth/anonymous`. */
export interface TokenAnswer {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  token_type?: string;
  scope?: string;
  user?: unknown;
}

interface StoredTokens {
  access_token: string;
  refresh_token: string | null;
  /** Milliseconds since the epoch. */
  expires_at: number;
}

/** Sends an unauthenticated JSON request to the server (the REST client's transport). */
export type PostJson = (path: string, body: unknown) => Promise<unknown>;

const TOKENS_KEY = "fitpulse.tokens";

/** The claims of a JWT, unverified (the server verifies; this names the user locally). */
export function claimsOf(token: string): Record<string, unknown> {
  try {
    const part = token.split(".")[1] ?? "";
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    return JSON.parse(atob(base64)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export class Tokens extends Emitter<{ signedout: void; refreshed: string }> {
  private stored: StoredTokens | null | undefined;
  private inflight: Promise<string | null> | null = null;
  /** Bumped by every sign-in and sign-out: a refresh that finds it changed when its answer
   *  arrives drops the answer instead of bringing back a login that ended. */
  private epoch = 0;
  /** How many refreshes actually ran (not how many were asked for). */
  refreshes = 0;

  constructor(
    private readonly storage: KeyValueStorage,
    private readonly post: PostJson,
    private readonly getToken: GetToken | undefined,
    private readonly marginMs: number,
  ) {
    super();
  }

  /** A valid access token (refreshed first when it expires within the margin), or null. */
  async access(): Promise<string | null> {
    if (this.getToken) return this.getToken({ forceRefresh: false });
    const tokens = await this.load();
    if (!tokens) return null;
    if (tokens.expires_at - Date.now() < this.marginMs && tokens.refresh_token) {
      try {
        return await this.refresh();
      } catch (err) {
        // The refresh failed (network); the current token still works until it expires.
        if (this.stored && this.stored.expires_at > Date.now()) return this.stored.access_token;
        throw err;
      }
    }
    return tokens.access_token;
  }

  /** A new access token; callers at the same moment share one refresh. */
  refresh(): Promise<string | null> {
    if (!this.inflight) {
      this.inflight = this.runRefresh().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  /** Keeps a token answer of the server (after login, register, a refresh). */
  async save(answer: TokenAnswer): Promise<void> {
    this.epoch += 1;
    await this.keep(answer);
  }

  private async keep(answer: TokenAnswer): Promise<void> {
    this.stored = {
      access_token: answer.access_token,
      refresh_token: answer.refresh_token ?? null,
      expires_at: Date.now() + answer.expires_in * 1000,
    };
    await this.storage.set(TOKENS_KEY, JSON.stringify(this.stored));
  }

  /** Forgets the tokens (telling `signedout` unless `quiet`); the refresh token is
   *  returned so the caller may revoke it. */
  async clear({ quiet = false }: { quiet?: boolean } = {}): Promise<string | null> {
    const refresh = (await this.load())?.refresh_token ?? null;
    this.epoch += 1;
    this.stored = null;
    await this.storage.remove(TOKENS_KEY);
    if (!quiet) this.emit("signedout", undefined);
    return refresh;
  }

  /** The stored access token, read without waiting: for pages whose storage answers at once
   *  (Web Storage, memory); `undefined` when the storage is asynchronous and not yet read. */
  current(): string | null | undefined {
    if (this.stored === undefined) {
      const raw = this.storage.get(TOKENS_KEY);
      if (raw instanceof Promise) {
        // Read in the background; asked again, the answer is there.
        raw.then((text) => {
          if (this.stored === undefined) this.stored = parseTokens(text);
        }, () => undefined);
        return undefined;
      }
      this.stored = parseTokens(raw);
    }
    return this.stored?.access_token ?? null;
  }

  /** The signed-in user's id (`sub`), when known. */
  async userId(): Promise<string | null> {
    const token = this.getToken ? await this.getToken({ forceRefresh: false }) : (await this.load())?.access_token;
    const sub = token ? claimsOf(token).sub : undefined;
    return typeof sub === "string" ? sub : null;
  }

  private async runRefresh(): Promise<string | null> {
    this.refreshes += 1;
    if (this.getToken) {
      const token = await this.getToken({ forceRefresh: true });
      if (token) this.emit("refreshed", token);
      return token;
    }
    // Another tab (sharing `localStorage`) may have rotated the tokens since they were
    // read: use its fresh ones rather than spend a refresh token it already used.
    const before = this.stored;
    this.stored = undefined;
    const tokens = await this.load();
    if (!tokens?.refresh_token) return null;
    if (before && tokens.access_token !== before.access_token && tokens.expires_at - Date.now() >= this.marginMs) {
      this.emit("refreshed", tokens.access_token);
      return tokens.access_token;
    }
    const epoch = this.epoch;
    let answer: TokenAnswer;
    try {
      answer = (await this.post("/oauth/token", {
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token,
      })) as TokenAnswer;
    } catch (err) {
      // A refused refresh token (used, revoked, expired) ends the login; a network error
      // does not.
      if (epoch === this.epoch && err instanceof FitpulseError && (err.status === 400 || err.status === 401)) {
        await this.clear();
      }
      throw err;
    }
    if (epoch !== this.epoch) return (await this.load())?.access_token ?? null; // signed out or in meanwhile
    await this.keep(answer);
    this.emit("refreshed", answer.access_token);
    return answer.access_token;
  }

  private async load(): Promise<StoredTokens | null> {
    if (this.stored === undefined) this.stored = parseTokens(await this.storage.get(TOKENS_KEY));
    return this.stored;
  }
}

function parseTokens(raw: string | null): StoredTokens | null {
  try {
    return raw ? (JSON.parse(raw) as StoredTokens) : null;
  } catch {
    return null;
  }
}
