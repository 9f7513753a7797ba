import type { EffectServices } from './effect-services.ts';

/**
 * `GET /health`: ok once every part the functions depend on answers — the table (through the stored current
 * config of every pipeline, which also proves the deploy wrote it) and the state machines.
 */
export async function checkHealth(
  services: EffectServices,
): Promise<{ status: 'ok' | 'unavailable'; checks: Record<string, string> }> {
  const checks: Record<string, string> = {};
  await Promise.all([
    ...services.pipelines.pipelineIds().map(async (id) => {
      checks[`pipeline:${id}`] = await outcome(() => services.pipelines.current(id));
    }),
    (async () => {
      checks.workflow = await outcome(() => services.workflow.describeStateMachines());
    })(),
  ]);
  const status = Object.values(checks).every((check) => check === 'ok') ? 'ok' : 'unavailable';
  return { status, checks };
}

async function outcome(probe: () => Promise<unknown>): Promise<string> {
  try {
    await probe();
    return 'ok';
  } catch (error) {
    return error instanceof Error ? error.name : 'failed';
  }
}
