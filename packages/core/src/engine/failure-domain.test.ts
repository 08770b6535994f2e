import { describe, expect, it } from 'vitest';
import { type FinalStatus, failureDomainOf } from './receipt.ts';

describe('failureDomainOf', () => {
  const failedScript = (kind: string) => ({
    rule_id: 'r',
    ok: false,
    failure: { kind, message: 'x' },
  });

  it.each([
    ['completed', [], null],
    ['policy_blocked', [], null],
    ['stream_policy_blocked', [], null],
    ['provider_error', [], 'model:provider'],
    ['alert_failed_closed', [], 'model:alert_sink'],
    ['client_disconnected', [], 'session:client'],
    ['policy_blocked', [failedScript('timeout')], 'session:script'],
    ['completed', [failedScript('runtime_error')], 'session:script'],
    ['policy_blocked', [failedScript('backend_failure')], 'model:sandbox'],
    ['policy_blocked', [failedScript('compile_error')], 'model:plan'],
    ['policy_blocked', [failedScript('missing_entry')], 'model:plan'],
    ['completed', [{ rule_id: 'r', ok: true }], null],
  ] as const)('%s with scripts %j → %s', (status, sandbox, expected) => {
    const domain = failureDomainOf(sandbox, status as FinalStatus);
    expect(domain === null ? null : `${domain.scope}:${domain.cause}`).toBe(expected);
  });

  it('names the rule and failure kind of a failed script', () => {
    expect(failureDomainOf([failedScript('timeout')], 'completed')).toEqual({
      scope: 'session',
      cause: 'script',
      detail: 'r: timeout',
    });
  });
});
