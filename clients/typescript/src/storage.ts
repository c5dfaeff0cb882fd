/**
 * Where the SDK keeps what must survive a reload or an app restart: the last processed
 * `seq` of the user's feed and, with the built-in session, the tokens. Apps pass their own
 * (React Native's AsyncStorage, SecureStore, a database) through this small interface.
 */
export interface KeyValueStorage {
  get(key: string): string | null | Promise<string | null>;
  set(key: string, value: string): void | Promise<void>;
  remove(key: string): void | Promise<void>;
}

/** Kept in memory only: lost with the process (the default). */
export function memoryStorage(): KeyValueStorage {
  const values = new Map<string, string>();
  return {
    get: (key) => values.get(key) ?? null,
    set: (key, value) => {
      values.set(key, value);
    },
    remove: (key) => {
      values.delete(key);
    },
  };
}

/** A Web Storage object: `localStorage` (survives restarts) or `sessionStorage` (one tab). */
export function webStorage(storage: Storage, prefix = ""): KeyValueStorage {
  return {
    get: (key) => storage.getItem(prefix + key),
    set: (key, value) => storage.setItem(prefix + key, value),
    remove: (key) => storage.removeItem(prefix + key),
  };
}
