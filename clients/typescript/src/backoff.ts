/**
 * Reconnect delays: full-jitter exponential backoff (a uniformly random delay between 0 and
 * `min(cap, base * 2^attempt)`), so a fleet of apps that lost the server at the same moment
 * does not come back at the same moment.
 */
export interface BackoffOptions {
  /** The ceiling of the first attempt's delay. */
  baseMs: number;
  /** No delay is longer than this. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 };

/** The delay before reconnect attempt `attempt` (0 for the first). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
