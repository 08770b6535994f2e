import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
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
import { encodeBinaryJson } from './binary-json.ts';
import { classifyException, type GuestException, type InterruptReason } from './classify.ts';
import { GUEST_PRELUDE } from './guest.ts';
import { MIN_WASM_PAGES, WASM_PAGE_BYTES } from './limits.ts';

// The base tsconfig has no DOM lib and this @types/node predates its WebAssembly types.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
// Opaque here: only handed back to quickjs-emscripten.
type WasmModule = object;
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
      compile(bytes: Uint8Array): Promise<WasmModule>;
    };
  }
).WebAssembly;
const WasmMemory = Wasm.Memory;

let compiled: Promise<WasmModule | undefined> | undefined;

/**
 * QuickJS compiled once per process and instantiated per engine: compiling the 500 KB module
 * is most of an engine's start (3.9 ms → 1.0 ms measured), and instances of one compiled module
 * share its code and V8's tier-up. Undefined when the .wasm file cannot be found (an unusual
 * bundle): each engine then compiles its own, as quickjs-emscripten does by default.
 */
export function compiledQuickJS(): Promise<WasmModule | undefined> {
  compiled ??= (async () => {
    try {
      const file = createRequire(import.meta.url).resolve(
        '@jitl/quickjs-wasmfile-release-sync/wasm',
      );
      return await Wasm.compile(await readFile(file));
    } catch {
      return undefined;
    }
  })();
  return compiled;
}

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
    /** Where the C stack lies, for snapshots; only looked for when asked (see findStackGap). */
    readonly stackGap: Span | undefined,
  ) {}

  static async create(pages: number, options: { snapshots?: boolean } = {}): Promise<Engine> {
    const memory = new WasmMemory({ initial: MIN_WASM_PAGES, maximum: pages });
    const wasmModule = await compiledQuickJS();
    const module = await newQuickJSWASMModuleFromVariant(
      newVariant(RELEASE_SYNC, {
        wasmMemory: memory,
        ...(wasmModule === undefined ? {} : { wasmModule: wasmModule as never }),
      }),
    );
    const gap = options.snapshots === true ? findStackGap(memory, module) : undefined;
    binaryInputWorks ??= checkBinaryInput(module);
    return new Engine(module, memory, pages, gap);
  }

  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * The memory has grown to within a tenth of its cap (at least 1 MiB): malloc is failing or about
   * to. With a cap at the 16 MiB minimum the memory starts there, so it always reads as near.
   */
  nearCap(): boolean {
    const margin = Math.max(16, Math.ceil(this.pages / 10));
    return this.memoryBytes >= (this.pages - margin) * WASM_PAGE_BYTES;
  }
}

/**
 * Whether our binary-JSON writer speaks this QuickJS build's format: decided once per process by
 * comparing our bytes with QuickJS's own for a sample that uses every tag the writer emits.
 */
let binaryInputWorks: boolean | undefined;

/** Whether input may be sent as binary JSON (known once an engine was created). */
export function binaryInputSupported(): boolean {
  return binaryInputWorks === true;
}
const BINARY_SAMPLE = `{"a":[1,-2,2147483647,-2147483648,2147483648,1.5,"",null,true,false],"b":{"0":"x","é":"日本"},"__proto__":[]}`;

function checkBinaryInput(module: QuickJSWASMModule): boolean {
  const runtime = module.newRuntime();
  try {
    const context = runtime.newContext();
    try {
      const fn = context.unwrapResult(context.evalCode('(text) => JSON.parse(text)'));
      const text = context.newString(BINARY_SAMPLE);
      const value = context.unwrapResult(context.callFunction(fn, context.undefined, text));
      const encoded = context.encodeBinaryJSON(value);
      const theirs = new Uint8Array(context.getArrayBuffer(encoded).value);
      const ours = encodeBinaryJson(JSON.parse(BINARY_SAMPLE)) as Uint8Array;
      const same = theirs.length === ours.length && theirs.every((byte, i) => byte === ours[i]);
      for (const handle of [encoded, value, text, fn]) handle.dispose();
      return same;
    } finally {
      context.dispose();
    }
  } catch {
    return false;
  } finally {
    runtime.dispose();
  }
}

/**
 * The two quickjs-emscripten internals the binary input needs: after `decodeBinaryJSON` (which
 * does not check), whether the decode threw. Looked up at run time; without them, input goes in
 * as JSON text.
 */
interface DecodeCheck {
  readonly ffi: {
    QTS_ResolveException(context: number, value: number): number;
    QTS_FreeValuePointer(context: number, value: number): void;
  };
  readonly ctx: { readonly value: number };
}

function decodeCheckOf(context: QuickJSContext): DecodeCheck | undefined {
  const internals = context as unknown as Partial<DecodeCheck>;
  return typeof internals.ffi?.QTS_ResolveException === 'function' &&
    typeof internals.ffi.QTS_FreeValuePointer === 'function' &&
    typeof internals.ctx?.value === 'number'
    ? (internals as DecodeCheck)
    : undefined;
}

/** The outcome of one guest call, before the host checks the output size. */
export type CallOutcome =
  | { ok: true; json: string; polls: number; pendingJobs?: boolean }
  | { ok: false; failure: SandboxFailure; polls: number };

interface InterruptState {
  deadline: number;
  budget: number;
  polls: number;
  reason: InterruptReason | null;
}

/** A byte range of WASM memory, [start, end). */
interface Span {
  readonly start: number;
  readonly end: number;
}

const BLOCK = 4096;
const ZERO_BLOCK = new Uint8Array(BLOCK);
/** The C stack Emscripten reserves for QuickJS is megabytes; static data never has a gap this big. */
const MIN_STACK_GAP = 1024 * 1024;

function isZero(bytes: Uint8Array, at: number): boolean {
  return Buffer.compare(bytes.subarray(at, at + BLOCK), ZERO_BLOCK) === 0;
}

/**
 * Where the C stack lies in a module's memory. Emscripten lays memory out as static data, then
 * the stack (it grows down towards the data), then the heap: between calls no stack frame is
 * live, so a snapshot need not copy the stack. Found on a pristine module with one runtime
 * allocated (so the heap is marked): the longest all-zero run between the data and the heap.
 * Undefined when the layout is not that shape: then snapshots copy everything.
 */
function findStackGap(memory: WasmMemory, engine: QuickJSWASMModule): Span | undefined {
  const runtime = engine.newRuntime();
  try {
    const bytes = new Uint8Array(memory.buffer);
    let best: Span | undefined;
    let runStart = -1;
    let seenData = false;
    for (let at = 0; at + BLOCK <= bytes.length; at += BLOCK) {
      if (isZero(bytes, at)) {
        if (seenData && runStart < 0) runStart = at;
        continue;
      }
      if (runStart >= 0 && (best === undefined || at - runStart > best.end - best.start)) {
        best = { start: runStart, end: at };
      }
      runStart = -1;
      seenData = true;
    }
    return best !== undefined && best.end - best.start >= MIN_STACK_GAP ? best : undefined;
  } finally {
    runtime.dispose();
  }
}

/**
 * The bytes of a module's memory right after a policy loaded, put back after every call
 * ('per-call'): the next call starts from exactly the loaded state (QuickJS's heap, atoms,
 * shapes, the allocator's own bookkeeping), for the price of copying a few hundred KiB instead
 * of building a context (~230 µs) and evaluating the policy again. Memory above the snapshot's
 * high-water mark is free to the allocator after a restore; what a call left there is
 * unreachable from JavaScript (QuickJS zeroes what it hands to the guest).
 *
 * Sound only between calls, with every handle made during the call already disposed: a host
 * handle created after the snapshot would point into memory the restore takes back.
 */
export class MemorySnapshot {
  private constructor(
    private readonly memory: WasmMemory,
    private readonly spans: readonly { start: number; bytes: Uint8Array }[],
  ) {}

  static take(engine: Engine): MemorySnapshot {
    const bytes = new Uint8Array(engine.memory.buffer);
    // The high-water mark: the end of the last non-zero block. The allocator keeps a header
    // after its last chunk, so every live byte lies below it.
    let top = bytes.length;
    while (top > 0 && isZero(bytes, top - BLOCK)) top -= BLOCK;
    const gap = engine.stackGap;
    const ranges: Span[] =
      gap !== undefined && gap.end <= top
        ? [
            { start: 0, end: gap.start },
            { start: gap.end, end: top },
          ]
        : [{ start: 0, end: top }];
    return new MemorySnapshot(
      engine.memory,
      ranges.map((r) => ({ start: r.start, bytes: bytes.slice(r.start, r.end) })),
    );
  }

  /** Bytes copied back on every restore. */
  get size(): number {
    return this.spans.reduce((sum, span) => sum + span.bytes.length, 0);
  }

  restore(): void {
    // A new view each time: the buffer is replaced when the memory grows.
    const bytes = new Uint8Array(this.memory.buffer);
    for (const span of this.spans) bytes.set(span.bytes, span.start);
  }
}

/** Host-side failure inside the WASM module (an Emscripten abort, a use-after-free): fatal. */
export class BackendFault extends Error {
  override readonly name = 'BackendFault';

  constructor(
    message: string,
    /** What the host threw, when the fault wraps a host error. */
    readonly hostError?: unknown,
  ) {
    super(message);
  }
}

/**
 * The host's own stack ran out inside the module: V8 throws its RangeError through the WASM
 * frames. QuickJS's C recursion (its JSON parser, `eval` of deeply nested source) does not move
 * the stack pointer its limit watches, so a guest can get there.
 */
export function isHostStackOverflow(error: unknown): boolean {
  const host = error instanceof BackendFault ? error.hostError : error;
  return host instanceof RangeError && /call stack/i.test(host.message);
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
  private snapshot: { memory: MemorySnapshot; memoryLimit: number } | undefined;
  /** Guest handles reused by every call instead of being created and freed each time. */
  private readonly callOp: QuickJSHandle;
  private readonly valueOp: QuickJSHandle;
  /** Set when input can go in as binary JSON (see binary-json.ts). */
  private readonly decodeCheck: DecodeCheck | undefined;
  private readonly names = new Map<string, QuickJSHandle>();
  entries: readonly string[] = [];

  private constructor(
    private readonly engine: Engine,
    private readonly runtime: QuickJSRuntime,
    private readonly context: QuickJSContext,
    private readonly control: QuickJSHandle,
    private readonly filename: string,
  ) {
    this.callOp = context.newNumber(1);
    this.valueOp = context.newNumber(3);
    this.decodeCheck = binaryInputWorks === true ? decodeCheckOf(context) : undefined;
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
  ): Session | SandboxFailure {
    const runtime = engine.module.newRuntime();
    let context: QuickJSContext | undefined;
    let control: QuickJSHandle | undefined;
    try {
      // Without a stack limit well under the host's, deep recursion escapes into the host as a
      // RangeError thrown through WASM frames and leaves the runtime corrupted (probe §3.3).
      runtime.setMaxStackSize(maxStackBytes);
      context = runtime.newContext();
      control = context.unwrapResult(
        context.evalCode(GUEST_PRELUDE, '<wardwright>', { type: 'global' }),
      );
      const session = new Session(engine, runtime, context, control, filename);
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
        runtime.dispose();
      } catch {}
      throw new BackendFault(describeHostError(error), error);
    }
  }

  /**
   * Make every handle a call will need now, so none is created after a snapshot (a handle made
   * later would point into memory the restore takes back).
   */
  private prepareForSnapshot(): void {
    for (const entry of this.entries) this.nameHandle(entry);
    void this.context.undefined;
  }

  /**
   * From now on every call is undone when it returns ('per-call'): memory goes back to this
   * moment, right after the policy loaded. Returns the bytes a restore copies.
   */
  snapshotAfterLoad(): number {
    this.prepareForSnapshot();
    this.snapshot = { memory: MemorySnapshot.take(this.engine), memoryLimit: this.memoryLimit };
    return this.snapshot.memory.size;
  }

  private nameHandle(entry: string): QuickJSHandle {
    let name = this.names.get(entry);
    if (name === undefined) {
      name = this.context.newString(entry);
      this.names.set(entry, name);
    }
    return name;
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

  /**
   * Call an entry on a JSON input (and the same input as binary JSON, when the caller could encode
   * it); never throws for guest behaviour, only for a BackendFault.
   */
  call(
    entry: string,
    /** The input as JSON text; read only when it cannot go in as `binary`. */
    inputJson: () => string,
    limits: Readonly<SandboxLimits>,
    binary?: Uint8Array,
  ): CallOutcome {
    this.arm(limits);
    try {
      const outcome = this.callControl(1, entry, inputJson, limits, binary);
      // 'per-call': the restore below takes pending jobs back with everything else.
      if (outcome.ok && this.snapshot === undefined)
        outcome.pendingJobs = this.runtime.hasPendingJob();
      return outcome;
    } catch (error) {
      throw new BackendFault(describeHostError(error), error);
    } finally {
      if (this.snapshot !== undefined) {
        this.snapshot.memory.restore();
        // The runtime's memory limit went back with the rest of its state.
        this.memoryLimit = this.snapshot.memoryLimit;
      }
    }
  }

  private callControl(
    op: 0 | 1,
    a: string,
    b: string | (() => string) | undefined,
    limits: Readonly<SandboxLimits>,
    binary?: Uint8Array,
  ): CallOutcome {
    const { context } = this;
    const started = performance.now();
    let result: ReturnType<QuickJSContext['callFunction']>;
    if (op === 1) {
      const name = this.nameHandle(a);
      const value =
        this.decodeCheck === undefined || binary === undefined ? undefined : this.decoded(binary);
      const input = value ?? context.newString(typeof b === 'function' ? b() : (b as string));
      const how = value === undefined ? this.callOp : this.valueOp;
      try {
        result = context.callFunction(this.control, context.undefined, how, name, input);
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

  /**
   * The input as a guest value decoded from binary JSON, or undefined when the decode failed (out
   * of memory): the call then goes in as JSON text, whose parse fails in the guest and is
   * classified like any other guest failure.
   */
  private decoded(binary: Uint8Array): QuickJSHandle | undefined {
    const { context } = this;
    const check = this.decodeCheck as DecodeCheck;
    // A whole buffer of its own: encodeBinaryJson returns an exact-length copy.
    const buffer = context.newArrayBuffer(binary.buffer as ArrayBuffer);
    let value: QuickJSHandle;
    try {
      value = context.decodeBinaryJSON(buffer);
    } finally {
      buffer.dispose();
    }
    const error = check.ffi.QTS_ResolveException(check.ctx.value, value.value as unknown as number);
    if (error === 0) return value;
    check.ffi.QTS_FreeValuePointer(check.ctx.value, error);
    value.dispose();
    return undefined;
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
    this.valueOp.dispose();
    this.control.dispose();
    this.context.dispose();
    this.runtime.dispose();
  }
}

export function describeHostError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
