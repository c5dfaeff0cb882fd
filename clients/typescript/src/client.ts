/**
 * `FitpulseClient`: what an app creates once. It holds the tokens (or asks the app's
 * `getToken`), the typed REST client (`client.rest`) and the realtime connection
 * (`client.realtime()`), all sharing one single-flight token refresh.
 */
import { Devices } from "./devices.js";
import { FitpulseError } from "./errors.js";
import { Realtime, type RealtimeOptions, type WebSocketConstructor } from "./realtime.js";
import { RestClient } from "./rest.js";
import { memoryStorage, type KeyValueStorage } from "./storage.js";
import { Tokens, type GetToken, type TokenAnswer } from "./tokens.js";

export interface FitpulseClientOptions {
  /** Where the server is: `https://api.example.com` (no trailing slash needed). */
  baseUrl: string;
  /** The app's own token source. Without it the SDK keeps the tokens of `auth.*` itself. */
  getToken?: GetToken;
  /** Where the feed position and the SDK's tokens are kept (default: memory). */
  storage?: KeyValueStorage;
  /** A `fetch` implementation (default: the global one). */
  fetch?: typeof fetch;
  /** A WebSocket implementation (default: the global one; on Node 20 pass `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Refresh the SDK's access token this long before it expires (default 60 s). */
  refreshMarginMs?: number;
}

export class FitpulseClient {
  readonly rest: RestClient;
  readonly tokens: Tokens;
  /** Push registration of this install and the member's notification settings. */
  readonly devices: Devices;
  readonly baseUrl: string;
  private readonly storage: KeyValueStorage;
  private readonly WebSocketImpl: WebSocketConstructor | undefined;

  constructor(options: FitpulseClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.storage = options.storage ?? memoryStorage();
    const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (!fetchImpl) throw new Error("no fetch: pass options.fetch");
    let rest: RestClient | null = null;
    this.tokens = new Tokens(this.storage, (path, body) => rest!.postJson(path, body), options.getToken, options.refreshMarginMs ?? 60_000);
    rest = new RestClient(this.baseUrl, this.tokens, fetchImpl);
    this.rest = rest;
    this.devices = new Devices(rest, this.storage);
    this.WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  /** The realtime connection (not yet connected: call `connect()`). */
  realtime(options: RealtimeOptions = {}): Realtime {
    if (!this.WebSocketImpl) throw new Error("no WebSocket: pass options.WebSocket (on Node 20: the `ws` package)");
    const wsUrl = `${this.baseUrl.replace(/^http/, "ws")}/v1/ws`;
    return new Realtime(wsUrl, this.tokens, this.storage, this.WebSocketImpl, options);
  }

  /** Sign-in flows that keep the tokens in the SDK (not used with `getToken`). */
  readonly auth = {
    login: (email: string, password: string): Promise<TokenAnswer> =>
      this.signIn("/oauth/token", { grant_type: "password", username: email, password }),
    register: (email: string, password: string, displayName: string): Promise<TokenAnswer> =>
      this.signIn("/v1/auth/register", { email, password, display_name: displayName }),
    /** A device account without an email (upgrade it later with `/v1/auth/upgrade`). */
    anonymous: (deviceId: string): Promise<TokenAnswer> => this.signIn("/v1/auth/anonymous", { device_id: deviceId }),
    /** Keeps tokens obtained elsewhere (an admin tool, a social sign-in answer). */
    use: (answer: TokenAnswer): Promise<void> => this.tokens.save(answer),
    /**
     * Stops pushes to this install for this account, forgets the tokens and revokes the
     * refresh token on the server.
     */
    logout: async (): Promise<void> => {
      await this.devices.unregister().catch(() => undefined);
      const refresh = await this.tokens.clear();
      if (refresh) await this.rest.postJson("/v1/auth/logout", { refresh_token: refresh }).catch(() => undefined);
    },
  };

  private async signIn(path: string, body: unknown): Promise<TokenAnswer> {
    const answer = (await this.rest.postJson(path, body)) as TokenAnswer;
    if (typeof answer?.access_token !== "string") throw new FitpulseError(0, "invalid_answer", `no access_token from ${path}`);
    await this.tokens.save(answer);
    return answer;
  }
}
