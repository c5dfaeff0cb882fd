/** The public surface of `@fitpulse/client`. */
export { FitpulseClient, type FitpulseClientOptions } from "./client.js";
export { Devices, type DeviceBody, type NotificationSettings, type SettingsPatch } from "./devices.js";
export { FitpulseError } from "./errors.js";
export { Realtime, type ConnectionState, type RealtimeEvents, type RealtimeOptions, type StateChange, type WebSocketConstructor, type WebSocketLike } from "./realtime.js";
export { RestClient, type HttpMethod, type PathsWith, type RawResponse, type RequestBody, type RequestOptions, type ResponseBody } from "./rest.js";
export { memoryStorage, webStorage, type KeyValueStorage } from "./storage.js";
export { claimsOf, Tokens, type GetToken, type TokenAnswer } from "./tokens.js";
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
export * from "./protocol.js";
export type { paths, components } from "./generated/openapi.js";
