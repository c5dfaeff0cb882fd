/**
 * The one error type of the SDK: what the server answered (`{"error":{"code","message",
 * "details"}}`, over REST or as a socket reply), or what the SDK decided locally (`timeout`,
 * `disconnected`, `network_error`, `signed_out`).
 */
export class FitpulseError extends Error {
  /** The HTTP status, or 0 for socket replies and local errors. */
  readonly status: number;
  /** A code of the server's error catalogue, or one of the SDK's local codes. */
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "FitpulseError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Reads an error body of the server (REST or a socket reply); anything else is kept as text. */
  static fromBody(status: number, body: unknown): FitpulseError {
    const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
    if (error && typeof error.code === "string") {
      const details = error.details && typeof error.details === "object" ? (error.details as Record<string, unknown>) : {};
      return new FitpulseError(status, error.code, typeof error.message === "string" ? error.message : error.code, details);
    }
    return new FitpulseError(status, "http_error", `HTTP ${status}`);
  }
}
