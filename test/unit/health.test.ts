import { describe, expect, it } from 'vitest';
import type { EffectServices } from '../../functions/usecases/effect-services.ts';
import { checkHealth } from '../../functions/usecases/health.ts';

/** The parts `/health` probes, each answering or failing as the test says. */
function servicesWhere(table: () => Promise<string | null>): EffectServices {
  const stub = {
    pipelines: { pipelineIds: () => ['default'], current: async () => ({ version: 'v1' }) },
    workflow: { describeStateMachines: async () => undefined },
    deals: { getLiveVersion: table },
  };
  return stub as unknown as EffectServices;
}

describe('the health check', () => {
  it('reads the table on every check, and names it when it does not answer, even with every config cached', async () => {
    let reads = 0;
    const up = servicesWhere(async () => {
      reads += 1;
      return 'v1';
    });
    expect(await checkHealth(up)).toEqual({
      status: 'ok',
      checks: { 'pipeline:default': 'ok', workflow: 'ok', table: 'ok' },
    });
    await checkHealth(up);
    expect(reads).toBe(2);

    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { name: 'ConnectionRefused' });
    const down = servicesWhere(async () => {
      throw refused;
    });
    expect(await checkHealth(down)).toEqual({
      status: 'unavailable',
      checks: { 'pipeline:default': 'ok', workflow: 'ok', table: 'ConnectionRefused' },
    });
  });
});
