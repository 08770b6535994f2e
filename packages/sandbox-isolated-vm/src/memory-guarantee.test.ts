import { describe, expect, it } from 'vitest';
import { isolatedVmSandbox } from './backend.ts';
import { memoryGuarantee } from './memory-guarantee.ts';

describe('memoryGuarantee', () => {
  it('is hard on the V8 of Node 20 and 22, soft from the V8 of Node 24 on', () => {
    expect(memoryGuarantee('11.3.244.8-node.33')).toBe('hard');
    expect(memoryGuarantee('12.4.254.21-node.33')).toBe('hard');
    expect(memoryGuarantee('13.6.233.17-node.40')).toBe('soft');
    expect(memoryGuarantee('14.0.1')).toBe('soft');
  });

  it('claims nothing hard for a version it cannot read', () => {
    expect(memoryGuarantee('')).toBe('soft');
    expect(memoryGuarantee('unknown')).toBe('soft');
  });

  it('is what the backend reports for the running Node', () => {
    expect(isolatedVmSandbox().capabilities.memory).toBe(memoryGuarantee(process.versions.v8));
  });
});
