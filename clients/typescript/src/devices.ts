/**
 * Push registration for this install. The install gets an id of its own (kept in the SDK's
 * storage, so it survives restarts) and `register` tells the server its current push token
 * (call it at every start and whenever APNs or FCM hands the app a new token). A sign-out
 * through the SDK unregisters the install first, so the next account on the phone does not
 * receive the last one's pushes.
 */
import type { components } from "./generated/openapi.js";
import type { RestClient } from "./rest.js";
import type { KeyValueStorage } from "./storage.js";

export type DeviceBody = components["schemas"]["DeviceBody"];
export type NotificationSettings = components["schemas"]["NotificationSettings"];
export type SettingsPatch = components["schemas"]["SettingsPatch"];

const INSTALL_KEY = "fitpulse.install_id";
const REGISTERED_KEY = "fitpulse.push_registered";

function randomId(): string {
  const crypto = globalThis.crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
}

export class Devices {
  constructor(
    private readonly rest: RestClient,
    private readonly storage: KeyValueStorage,
  ) {}

  /** This install's id, created on first use. */
  async installId(): Promise<string> {
    const known = await this.storage.get(INSTALL_KEY);
    if (known) return known;
    const id = randomId();
    await this.storage.set(INSTALL_KEY, id);
    return id;
  }

  /** Registers (or updates) this install for push with its current token. */
  async register(device: DeviceBody): Promise<components["schemas"]["DeviceView"]> {
    const device_id = await this.installId();
    const answer = await this.rest.put("/v1/me/devices/{device_id}", { path: { device_id }, body: device });
    await this.storage.set(REGISTERED_KEY, "1");
    return answer;
  }

  /** Stops pushes to this install (a sign-out, or the member turned notifications off). */
  async unregister(): Promise<void> {
    if (!(await this.storage.get(REGISTERED_KEY))) return;
    const device_id = await this.installId();
    await this.rest
      .delete("/v1/me/devices/{device_id}", { path: { device_id } })
      .catch((err: { status?: number }) => {
        if (err?.status !== 404) throw err;
      });
    await this.storage.remove(REGISTERED_KEY);
  }

  /** The member's categories and quiet hours. */
  async settings(): Promise<NotificationSettings> {
    return this.rest.get("/v1/me/notification-settings");
  }

  /** Changes what is given: `{categories: {social: true}}`, `{quiet_hours: null}`. */
  async changeSettings(patch: SettingsPatch): Promise<NotificationSettings> {
    return this.rest.patch("/v1/me/notification-settings", { body: patch });
  }
}
