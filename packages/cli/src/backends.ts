import { type Plan, type SandboxBackend, trustedBackend } from '@wardwright/core';
import { quickjsSandbox } from '@wardwright/sandbox-quickjs';
import { type OptionSpec, type ParsedArgs, suggestion } from './args.ts';
import { SetupError, UsageError } from './errors.ts';
import type { Io } from './output.ts';

/**
 * Which sandbox backends scripts get: chosen here (by `--backend`, by script language) and
 * nowhere else. QuickJS is the default because it needs no native addon; isolated-vm and
 * Starlark join when their packages are installed (they are optional).
 */

export const JS_BACKENDS = ['quickjs', 'isolated-vm', 'trusted'] as const;
export type JsBackendName = (typeof JS_BACKENDS)[number];

export const BACKEND_OPTION: OptionSpec = {
  type: 'string',
  value: 'NAME',
  description:
    'Sandbox for JavaScript scripts: quickjs (default), isolated-vm (needs @wardwright/sandbox-isolated-vm and isolated-vm installed) or trusted (in-process, not a sandbox).',
};

export const IVM_INSTALL =
  'npm install @wardwright/sandbox-isolated-vm isolated-vm, and run node with --no-node-snapshot';

type Factory = () => SandboxBackend;

// Optional packages are imported at most once per run; a missing one is undefined.
let isolatedVm: Promise<Factory | undefined> | undefined;
let starlark: Promise<Factory | undefined> | undefined;

/**
 * A package that is not installed is simply absent; one that is installed but does not load (a
 * checkout that was never built, a broken install) is an error that says so, rather than a
 * later "no sandbox backend" that hides the cause.
 */
export async function optional(
  load: () => Promise<unknown>,
  pkg: string,
  name: string,
): Promise<Factory | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = (await load()) as Record<string, unknown>;
  } catch (error) {
    if (notInstalled(error, pkg)) return undefined;
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new SetupError(
      `${pkg} is installed but does not load (${reason}); in a checkout of the repository run \`npm run build\`, otherwise reinstall it`,
    );
  }
  const factory = mod[name];
  return typeof factory === 'function' ? (factory as Factory) : undefined;
}

function notInstalled(error: unknown, pkg: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  // Node names the missing package itself ("Cannot find package '@wardwright/starlark'");
  // a missing file inside an installed package names a path instead.
  const message = error instanceof Error ? error.message : '';
  return message.includes(`'${pkg}'`);
}

export function jsBackendOf(args: ParsedArgs): JsBackendName {
  const value = args.values.backend;
  if (value === undefined) return 'quickjs';
  if (typeof value === 'string' && (JS_BACKENDS as readonly string[]).includes(value)) {
    return value as JsBackendName;
  }
  const given = typeof value === 'string' ? value : '(none)';
  throw new UsageError(
    `--backend must be one of ${JS_BACKENDS.join(', ')}, not ${given}${suggestion(given, JS_BACKENDS)}`,
  );
}

/**
 * The backends for one command run, the chosen JavaScript backend first (so scripts that name
 * no backend get it); every other available backend is registered by name too, so an artifact
 * that names one explicitly still loads.
 */
export async function backendsFor(args: ParsedArgs): Promise<Record<string, SandboxBackend>> {
  const chosen = jsBackendOf(args);
  const [ivm, star] = await Promise.all([
    backendFactory('isolated-vm'),
    backendFactory('starlark'),
  ]);
  if (chosen === 'isolated-vm' && ivm === undefined) {
    throw new UsageError(`--backend isolated-vm is not installed: ${IVM_INSTALL}`);
  }
  const factories: [string, Factory | undefined][] = [
    ['quickjs', quickjsSandbox],
    ['isolated-vm', ivm],
    ['trusted', trustedBackend],
    ['starlark', star],
  ];
  factories.sort(([a], [b]) => Number(b === chosen) - Number(a === chosen));
  const backends: Record<string, SandboxBackend> = {};
  for (const [name, factory] of factories) {
    if (factory !== undefined) backends[name] = factory();
  }
  return backends;
}

/** Every sandbox backend known by name (installed or not). */
export const SANDBOX_BACKENDS = ['quickjs', 'isolated-vm', 'trusted', 'starlark'] as const;
export type SandboxBackendName = (typeof SANDBOX_BACKENDS)[number];

/**
 * The factory for one backend by name, or undefined when its optional package is not installed
 * (or, for Starlark, does not export a backend yet). Optional packages are imported once per run.
 */
export async function backendFactory(name: SandboxBackendName): Promise<Factory | undefined> {
  switch (name) {
    case 'quickjs':
      return quickjsSandbox;
    case 'trusted':
      return trustedBackend;
    case 'isolated-vm':
      isolatedVm ??= optional(
        () => import('@wardwright/sandbox-isolated-vm'),
        '@wardwright/sandbox-isolated-vm',
        'isolatedVmSandbox',
      );
      return isolatedVm;
    case 'starlark':
      starlark ??= optional(
        () => import('@wardwright/starlark'),
        '@wardwright/starlark',
        'starlarkSandbox',
      );
      return starlark;
  }
}

/**
 * A comma-separated list of names (`--backends quickjs,native`), each checked against `known`;
 * order kept, duplicates dropped.
 */
export function backendList(value: string, known: readonly string[], option: string): string[] {
  const names = [...new Set(value.split(',').map((n) => n.trim()))].filter((n) => n !== '');
  if (names.length === 0) throw new UsageError(`${option} needs at least one backend name`);
  for (const name of names) {
    if (!known.includes(name)) {
      throw new UsageError(`${option}: unknown backend ${name}${suggestion(name, known)}`);
    }
  }
  return names;
}

const TRUSTED_NOTE = 'note: scripts run in-process with the trusted backend (not a sandbox)\n';

/** Says once per run, on stderr, that scripts are not sandboxed — only when one runs trusted. */
export class ScriptNote {
  #said = false;

  constructor(private readonly io: Io) {}

  afterLoading(plans: Iterable<Plan>): void {
    if (this.#said) return;
    for (const plan of plans) {
      for (const script of plan.scripts.values()) {
        if (script.backend === 'trusted') {
          this.io.err(TRUSTED_NOTE);
          this.#said = true;
          return;
        }
      }
    }
  }
}
