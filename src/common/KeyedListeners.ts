/**
 * Listeners by key (an endpoint id, a bridge id): what happens to one key reaches only its own
 * listeners, so nobody filters every event of the server.
 */
export class KeyedListeners<A> {
  readonly #byKey = new Map<string, Set<(arg: A) => void>>();

  /** Adds a listener for `key`; returns its removal. */
  add(key: string, listener: (arg: A) => void): () => void {
    let set = this.#byKey.get(key);
    if (set === undefined) {
      set = new Set();
      this.#byKey.set(key, set);
    }
    set.add(listener);
    return () => {
      const s = this.#byKey.get(key);
      if (s === undefined) return;
      s.delete(listener);
      if (s.size === 0) this.#byKey.delete(key);
    };
  }

  /** Calls the listeners of `key` (a copy: they may remove themselves). */
  call(key: string, arg: A): void {
    const set = this.#byKey.get(key);
    if (set === undefined) return;
    for (const l of [...set]) l(arg);
  }

  /** Calls the listeners of `key` one last time and forgets them: the key is gone. */
  end(key: string, arg: A): void {
    const set = this.#byKey.get(key);
    if (set === undefined) return;
    this.#byKey.delete(key);
    for (const l of set) l(arg);
  }

  get size(): number {
    return this.#byKey.size;
  }
}
