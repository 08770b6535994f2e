import RELEASE_SYNC from '@jitl/quickjs-wasmfile-release-sync';
import type { SandboxFailure, SandboxLimits } from '@wardwright/core';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import { classifyException, type GuestException, type InterruptReason } from './classify.ts';
import { GUEST_INSTALL, GUEST_PRELUDE } from './guest.ts';
import { MIN_WASM_PAGES, WASM_PAGE_BYTES } from './limits.ts';

// The base tsconfig has no DOM lib and this @types/node predates its WebAssembly types.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory };
  }
).WebAssembly.Memory;

/**
 * One QuickJS WebAssembly instance with its own fixed-size memory. `setMemoryLimit` alone does
 * not bound what the guest allocates under Emscripten (it counts 8 bytes per block), so the real
 * cap is the `maximum` of the `WebAssembly.Memory`: when it is full, QuickJS's malloc fails and
 * the guest gets `InternalError: out of memory`.
 */
export class Engine {
  private constructor(
    readonly module: QuickJSWASMModule,
    readonly memory: WasmMemory,
    readonly pages: number,
  ) {}

  static async create(pages: number): Promise<Engine> {
    const memory = new WasmMemory({ initial: MIN_WASM_PAGES, maximum: pages });
    const module = await newQuickJSWASMModuleFromVariant(
      newVariant(RELEASE_SYNC, { wasmMemory: memory }),
    );
    return new Engine(module, memory, pages);
  }

  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** The memory has grown to within 1 MiB of its cap: malloc is failing or about to. */
  nearCap(): boolean {
    return this.memoryBytes >= (this.pages - 16) * WASM_PAGE_BYTES;
  }
}

/** The outcome of one guest call, before the host checks the output size. */
export type CallOutcome =
  | { ok: true; json: string; polls: number }
  | { ok: false; failure: SandboxFailure; polls: number };

interface InterruptState {
  deadline: number;
  budget: number;
  polls: number;
  reason: InterruptReason | null;
}

/**
 * A runtime kept across calls with a template context holding the compiled installer
 * ('per-call'): each call then pays for a new context and the policy source, not for compiling
 * the guest code again. Objects are shared between contexts of one runtime; the installer only
 * uses the target context's intrinsics (see GUEST_INSTALL).
 */
export class Realm {
  private constructor(
    readonly runtime: QuickJSRuntime,
    private readonly template: QuickJSContext,
    readonly install: QuickJSHandle,
  ) {}

  static create(engine: Engine, maxStackBytes: number): Realm {
    const runtime = engine.module.newRuntime();
    let template: QuickJSContext | undefined;
    try {
      runtime.setMaxStackSize(maxStackBytes);
      template = runtime.newContext();
      const install = template.unwrapResult(
        template.evalCode(GUEST_INSTALL, '<wardwright>', { type: 'global' }),
      );
      return new Realm(runtime, template, install);
    } catch (error) {
      try {
        template?.dispose();
        runtime.dispose();
      } catch {}
      throw new BackendFault(describeHostError(error));
    }
  }

  dispose(): void {
    this.install.dispose();
    this.template.dispose();
    this.runtime.dispose();
  }
}

/** Host-side failure inside the WASM module (an Emscripten abort, a use-after-free): fatal. */
export class BackendFault extends Error {
  override readonly name = 'BackendFault';
}

/**
 * A runtime and context on an engine, with the prelude and the policy source evaluated. Every
 * handle it creates is disposed in a `finally`: a leaked handle makes `JS_FreeRuntime` abort the
 * whole module.
 */
export class Session {
  private readonly interrupt: InterruptState = {
    deadline: 0,
    budget: Number.POSITIVE_INFINITY,
    polls: 0,
    reason: null,
  };
  private memoryLimit = -1;
  /** Guest handles reused by every call instead of being created and freed each time. */
  private readonly callOp: QuickJSHandle;
  private readonly names = new Map<string, QuickJSHandle>();
  entries: readonly string[] = [];

  private constructor(
    private readonly engine: Engine,
    private readonly runtime: QuickJSRuntime,
    private readonly context: QuickJSContext,
    private readonly control: QuickJSHandle,
    private readonly filename: string,
    private readonly ownsRuntime: boolean,
  ) {
    this.callOp = context.newNumber(1);
  }

  /**
   * Evaluate the policy in a fresh runtime. Returns the failure (compile error, module-level
   * throw or limit) instead of a session when the source does not load.
   */
  static open(
    engine: Engine,
    code: string,
    candidates: readonly string[],
    limits: Readonly<SandboxLimits>,
    filename: string,
    maxStackBytes: number,
    realm?: Realm,
  ): Session | SandboxFailure {
    const runtime = realm?.runtime ?? engine.module.newRuntime();
    let context: QuickJSContext | undefined;
    let control: QuickJSHandle | undefined;
    try {
      if (realm === undefined) {
        // Without a stack limit well under the host's, deep recursion escapes into the host as a
        // RangeError thrown through WASM frames and leaves the runtime corrupted (probe §3.3).
        runtime.setMaxStackSize(maxStackBytes);
        context = runtime.newContext();
        control = context.unwrapResult(
          context.evalCode(GUEST_PRELUDE, '<wardwright>', { type: 'global' }),
        );
      } else {
        // The realm's runtime still carries the previous call's interrupt handler, whose deadline
        // may have passed: our own install would be interrupted as a stale "timeout".
        runtime.removeInterruptHandler();
        context = runtime.newContext();
        control = context.unwrapResult(
          context.callFunction(realm.install, context.undefined, context.global),
        );
      }
      const session = new Session(engine, runtime, context, control, filename, realm === undefined);
      runtime.setInterruptHandler(() => session.onInterrupt());
      session.arm(limits);
      const started = performance.now();
      const loaded = context.evalCode(code, filename, { type: 'global', strict: true });
      if (loaded.error !== undefined) {
        const failure = session.classify(loaded.error, limits, started, true);
        session.dispose();
        return failure;
      }
      loaded.value.dispose();
      if (realm !== undefined) {
        // A context for one call: the entries were discovered at load, from the same source.
        session.entries = candidates;
        return session;
      }
      const discovered = session.callControl(0, JSON.stringify(candidates), undefined, limits);
      if (!discovered.ok) {
        session.dispose();
        return discovered.failure;
      }
      session.entries = Object.freeze(JSON.parse(discovered.json) as string[]);
      return session;
    } catch (error) {
      // Best effort: the module may already be aborted, and the caller drops the engine.
      try {
        control?.dispose();
        context?.dispose();
        if (realm === undefined) runtime.dispose();
      } catch {}
      throw new BackendFault(describeHostError(error));
    }
  }

  private onInterrupt(): boolean {
    const state = this.interrupt;
    if (state.reason !== null) return true;
    state.polls++;
    // The step budget first: it is deterministic, the clock is not.
    if (state.polls > state.budget) state.reason = 'step_limit';
    else if (performance.now() >= state.deadline) state.reason = 'timeout';
    return state.reason !== null;
  }

  private arm(limits: Readonly<SandboxLimits>): void {
    if (limits.memory_bytes !== this.memoryLimit) {
      // A first line of defence only: it bounds single allocations, not the total (see Engine).
      this.runtime.setMemoryLimit(limits.memory_bytes);
      this.memoryLimit = limits.memory_bytes;
    }
    this.interrupt.polls = 0;
    this.interrupt.reason = null;
    this.interrupt.budget = limits.max_steps ?? Number.POSITIVE_INFINITY;
    this.interrupt.deadline = performance.now() + limits.timeout_ms;
  }

  /** Call an entry on a JSON input; never throws for guest behaviour, only for a BackendFault. */
  call(entry: string, inputJson: string, limits: Readonly<SandboxLimits>): CallOutcome {
    this.arm(limits);
    try {
      return this.callControl(1, entry, inputJson, limits);
    } catch (error) {
      throw new BackendFault(describeHostError(error));
    }
  }

  private callControl(
    op: 0 | 1,
    a: string,
    b: string | undefined,
    limits: Readonly<SandboxLimits>,
  ): CallOutcome {
    const { context } = this;
    const started = performance.now();
    let result: ReturnType<QuickJSContext['callFunction']>;
    if (op === 1) {
      let name = this.names.get(a);
      if (name === undefined) {
        name = context.newString(a);
        this.names.set(a, name);
      }
      const input = context.newString(b as string);
      try {
        result = context.callFunction(this.control, context.undefined, this.callOp, name, input);
      } finally {
        input.dispose();
      }
    } else {
      const names = context.newString(a);
      try {
        result = context.callFunction(this.control, context.undefined, context.undefined, names);
      } finally {
        names.dispose();
      }
    }
    const polls = this.interrupt.polls;
    if (result.error !== undefined) {
      return { ok: false, failure: this.classify(result.error, limits, started, false), polls };
    }
    const value = result.value;
    let text: string;
    try {
      text = context.getString(value);
    } finally {
      value.dispose();
    }
    // The prelude returns `!message` for a result that is not JSON.
    if (text.startsWith('!')) {
      return { ok: false, failure: { kind: 'invalid_output', message: text.slice(1) }, polls };
    }
    return { ok: true, json: text, polls };
  }

  private classify(
    error: QuickJSHandle,
    limits: Readonly<SandboxLimits>,
    started: number,
    loading: boolean,
  ): SandboxFailure {
    let exception: GuestException;
    try {
      const type = this.context.typeof(error);
      exception = { type, dumped: this.context.dump(error) };
    } finally {
      error.dispose();
    }
    return classifyException(exception, {
      interrupted: this.interrupt.reason,
      limits,
      elapsedMs: performance.now() - started,
      filename: this.filename,
      loading,
      memoryExhausted: this.engine.nearCap(),
    });
  }

  dispose(): void {
    for (const name of this.names.values()) name.dispose();
    this.names.clear();
    this.callOp.dispose();
    this.control.dispose();
    this.context.dispose();
    if (this.ownsRuntime) this.runtime.dispose();
  }
}

export function describeHostError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
