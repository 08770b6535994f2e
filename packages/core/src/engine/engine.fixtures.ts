import { trustedBackend } from '../sandbox/trusted-backend.ts';
import { compileArtifact, type Plan } from './plan.ts';

/** A small artifact exercising every section, shared by the engine tests. */
export function baseArtifact(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 'wardwright.artifact.v1',
    model: { id: 'coder', version: '1' },
    targets: [
      { model: 'small', context_window: 64 },
      { model: 'large', context_window: 100_000 },
    ],
    ...overrides,
  };
}

export async function planOf(overrides: Record<string, unknown> = {}): Promise<Plan> {
  return compileArtifact(baseArtifact(overrides), { backends: { trusted: trustedBackend() } });
}

export const userRequest = (content: string, extra: Record<string, unknown> = {}) => ({
  messages: [{ role: 'user', content }],
  ...extra,
});
