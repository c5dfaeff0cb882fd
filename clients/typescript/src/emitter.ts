/** A small typed event emitter (no dependency on Node's or the DOM's). */
export class Emitter<Events extends object> {
  private handlers = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Calls `handler` for every `event`; returns a function that stops it. */
  on<K extends keyof Events>(event: K, handler: (payload: Events[K]) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler as (payload: never) => void);
    return () => this.off(event, handler);
  }

  /** Calls `handler` for the next `event` only. */
  once<K extends keyof Events>(event: K, handler: (payload: Events[K]) => void): () => void {
    const stop = this.on(event, (payload) => {
      stop();
      handler(payload);
    });
    return stop;
  }

  off<K extends keyof Events>(event: K, handler: (payload: Events[K]) => void): void {
    this.handlers.get(event)?.delete(handler as (payload: never) => void);
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const handler of [...(this.handlers.get(event) ?? [])]) {
      try {
        (handler as (payload: Events[K]) => void)(payload);
      } catch (err) {
        // One app handler's bug must not stop delivery to the others, nor the SDK.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
