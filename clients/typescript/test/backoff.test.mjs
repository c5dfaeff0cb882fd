// Full-jitter backoff: every delay lies in [0, min(cap, base * 2^attempt)).
import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay } from "../dist/index.js";

test("delays grow exponentially up to the cap, with full jitter", () => {
  const options = { baseMs: 100, capMs: 1_000 };
  assert.equal(backoffDelay(0, options, () => 0.999999), 99);
  assert.equal(backoffDelay(3, options, () => 0.999999), 799);
  assert.equal(backoffDelay(4, options, () => 0.999999), 999, "capped");
  assert.equal(backoffDelay(60, options, () => 0.5), 500, "no overflow for a long outage");
  assert.equal(backoffDelay(5, options, () => 0), 0, "full jitter reaches zero");
});
