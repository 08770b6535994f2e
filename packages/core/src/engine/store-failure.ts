import { WardwrightError } from '../errors/wardwright-error.ts';
import type { HistoryStore, StateStore } from './stores.ts';

/**
 * What happens when a store fails a write (disk full, database locked, file removed): the
 * request fails closed. `handle` rejects with a `WardwrightError` of code `store_failed` naming
 * the store, its error as `cause`, and nothing is acknowledged — a gateway answers 503 (or, on a
 * stream already under way, ends it with an error frame). Serving a request whose receipt,
 * history or state could not be written would leave a decision nobody can explain or count.
 */
export function storeFailed(
  store: 'receipt' | 'history' | 'state',
  error: unknown,
): WardwrightError {
  const reason = error instanceof Error ? error.message : String(error);
  return new WardwrightError({
    code: 'store_failed',
    message: `the ${store} store failed a write: ${reason}`,
    cause: error,
  });
}

/** An awaited store write whose failure is a `store_failed` error. */
export async function written(store: 'receipt', write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    throw storeFailed(store, error);
  }
}

/** Stores already guarded (an engine handed another engine's store, as a new version is). */
const guardedStores = new WeakSet<object>();

/** The history store, its inserts failing as `store_failed`. */
export function guardedHistory(history: HistoryStore): HistoryStore {
  if (guardedStores.has(history)) return history;
  const guarded: HistoryStore = {
    entries: () => history.entries(),
    insert(entry, now_ms) {
      try {
        return history.insert(entry, now_ms);
      } catch (error) {
        throw storeFailed('history', error);
      }
    },
  };
  if (history.scoped !== undefined) {
    const scoped = history.scoped.bind(history);
    guarded.scoped = (key, value) => scoped(key, value);
  }
  guardedStores.add(guarded);
  return guarded;
}

/** The state store, its writes failing as `store_failed`. */
export function guardedStates(states: StateStore): StateStore {
  if (guardedStores.has(states)) return states;
  const guarded: StateStore = {
    get: (machine, scope) => states.get(machine, scope),
    set(machine, scope, record) {
      try {
        states.set(machine, scope, record);
      } catch (error) {
        throw storeFailed('state', error);
      }
    },
  };
  guardedStores.add(guarded);
  return guarded;
}
