import {
  type CompiledHistoryStore,
  type HistoryEntryInput,
  type HistoryStoreState,
  type InsertResult,
  initialHistoryStore,
  insertEntry,
} from '../decisions/cache-eviction.ts';
import type { HistoryEntry } from '../decisions/history-entry.ts';

/**
 * The engine's synchronous stores for history and state-machine state. Synchronous on purpose:
 * the request phase reads them on every request, and a durable store (SQLite in the gateway)
 * answers these reads faster than an `await` would cost.
 */

export interface HistoryStore {
  /** Every entry, ascending by `(created_at_ms, sequence)`. */
  entries(): readonly HistoryEntry[];
  insert(entry: HistoryEntryInput, now_ms: number): InsertResult;
}

/** A bounded in-memory history store: the eviction core, holding its own state. */
export function memoryHistoryStore(
  config: CompiledHistoryStore,
  initial: HistoryStoreState = initialHistoryStore(),
): HistoryStore & { state(): HistoryStoreState } {
  let state = initial;
  return {
    entries: () => state.entries,
    insert(entry, now_ms) {
      const result = insertEntry(config, state, entry, now_ms);
      state = result.state;
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
