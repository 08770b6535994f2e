import {
  type CompiledHistoryStore,
  type HistoryEntryInput,
  type HistoryStoreState,
  type InsertResult,
  initialHistoryStore,
  insertEntryInPlace,
} from '../decisions/cache-eviction.ts';
import { compareEntries, type HistoryEntry } from '../decisions/history-entry.ts';

/**
 * The engine's synchronous stores for history and state-machine state. Synchronous on purpose:
 * the request phase reads them on every request, and a durable store (SQLite in the gateway)
 * answers these reads faster than an `await` would cost.
 */

export interface HistoryStore {
  /** Every entry, ascending by `(created_at_ms, sequence)`. */
  entries(): readonly HistoryEntry[];
  /**
   * The entries of one scope value, ascending, when the store keeps an index for `scope_key`;
   * `undefined` otherwise (the engine then filters `entries()`). Rules then read their window
   * without walking every other session's history.
   */
  scoped?(scope_key: string, value: string): readonly HistoryEntry[] | undefined;
  insert(entry: HistoryEntryInput, now_ms: number): InsertResult;
}

/**
 * A bounded in-memory history store: the eviction core holding its own state, plus an index of
 * the entries of each value of the store's `scope_key` (kept in step with every insert and
 * eviction).
 */
export function memoryHistoryStore(
  config: CompiledHistoryStore,
  initial: HistoryStoreState = initialHistoryStore(),
): HistoryStore & { state(): HistoryStoreState } {
  // A private copy: inserts update it in place, so the caller's state is never touched.
  let state: HistoryStoreState = {
    ...initial,
    entries: [...initial.entries],
    scope_counts: [...initial.scope_counts],
  };
  const key = config.scope_key;
  const index = new Map<string, HistoryEntry[]>();
  const add = (entry: HistoryEntry) => {
    const value = entry.scope[key];
    if (value === undefined) return;
    let list = index.get(value);
    if (list === undefined) {
      list = [];
      index.set(value, list);
    }
    // Usually an append; an entry dated in the past slides back to its place.
    let at = list.length;
    while (at > 0 && compareEntries(list[at - 1]!, entry) > 0) at--;
    list.splice(at, 0, entry);
  };
  const remove = (entry: HistoryEntry) => {
    const value = entry.scope[key];
    if (value === undefined) return;
    const list = index.get(value);
    if (list === undefined) return;
    const at = list.findIndex((e) => e.sequence === entry.sequence);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) index.delete(value);
  };
  for (const entry of state.entries) add(entry);
  const oldestOf = (value: string) => index.get(value)?.[0];
  return {
    entries: () => state.entries,
    scoped: (scope_key, value) => (scope_key === key ? (index.get(value) ?? []) : undefined),
    insert(entry, now_ms) {
      const result = insertEntryInPlace(config, state, entry, now_ms, oldestOf);
      state = result.state;
      add(result.entry);
      for (const evicted of result.evicted) remove(evicted.entry);
      return result;
    },
    state: () => state,
  };
}

export interface MachineRecord {
  readonly state: string;
  /** Times each transition (by rule id) was taken, for `max_taken` budgets. */
  readonly taken: Readonly<Record<string, number>>;
}

export interface StateStore {
  get(machine_id: string, scope_value: string): MachineRecord | undefined;
  set(machine_id: string, scope_value: string, record: MachineRecord): void;
}

export function memoryStateStore(): StateStore & { size(): number } {
  const machines = new Map<string, Map<string, MachineRecord>>();
  return {
    get: (machine, scope) => machines.get(machine)?.get(scope),
    set: (machine, scope, record) => {
      let byScope = machines.get(machine);
      if (byScope === undefined) {
        byScope = new Map();
        machines.set(machine, byScope);
      }
      byScope.set(scope, record);
    },
    size: () => {
      let total = 0;
      for (const byScope of machines.values()) total += byScope.size;
      return total;
    },
  };
}
