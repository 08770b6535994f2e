import type { ModelRuntime } from './runtime.ts';

/**
 * The serving runtime of each model, and the older versions still draining. A request holds
 * the runtime it started on until it ends, so a version replaced by `runtime.load` finishes its
 * in-flight requests and closes once the last one lets go; new requests only ever see the
 * serving one.
 */
export class ModelRegistry {
  readonly serving = new Map<string, ModelRuntime>();
  readonly #draining = new Map<string, Set<ModelRuntime>>();
  readonly #closing = new Set<Promise<void>>();

  constructor(private readonly closeRuntime: (runtime: ModelRuntime) => Promise<void>) {}

  hold(runtime: ModelRuntime): void {
    runtime.in_flight++;
  }

  release(runtime: ModelRuntime): void {
    runtime.in_flight--;
    if (runtime.state === 'draining' && runtime.in_flight === 0) this.#retire(runtime);
  }

  /** Puts `next` in service; the version it replaces drains. Returns that version. */
  swap(next: ModelRuntime): ModelRuntime | undefined {
    const old = this.serving.get(next.id);
    this.serving.set(next.id, next);
    if (old === undefined) return undefined;
    old.state = 'draining';
    let set = this.#draining.get(old.id);
    if (set === undefined) {
      set = new Set();
      this.#draining.set(old.id, set);
    }
    set.add(old);
    if (old.in_flight === 0) this.#retire(old);
    return old;
  }

  draining(id: string): Iterable<ModelRuntime> {
    return this.#draining.get(id) ?? [];
  }

  /** Resolves once every version retired so far has closed. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#closing]);
  }

  /** Closes every runtime, serving and draining (the caller has let in-flight requests end). */
  async closeAll(): Promise<void> {
    const all = [...this.serving.values()];
    for (const set of this.#draining.values()) all.push(...set);
    this.#draining.clear();
    for (const runtime of all) {
      if (runtime.state !== 'closed') await this.#closeOnce(runtime);
    }
    await this.settled();
  }

  #retire(runtime: ModelRuntime): void {
    this.#draining.get(runtime.id)?.delete(runtime);
    const done: Promise<void> = this.#closeOnce(runtime).finally(() => {
      this.#closing.delete(done);
    });
    this.#closing.add(done);
  }

  #closeOnce(runtime: ModelRuntime): Promise<void> {
    runtime.state = 'closed';
    return this.closeRuntime(runtime);
  }
}
