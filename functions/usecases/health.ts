import type { EffectServices } from './effect-services.ts';

/** Checks of parts that run in this process beside the functions (locally: the outbox's stream poller). */
const processChecks = new Map<string, () => string>();

/**
 * Adds a check of a part running in this process to `GET /health`: it answers `ok`, or what is wrong (which makes the
 * answer `503`). The local stack adds the outbox's progress; in the cloud the outbox's own alarms say it.
 */
export function addHealthCheck(name: string, check: () => string): void {
  processChecks.set(name, check);
}

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
  for (const [name, check] of processChecks) checks[name] = check();
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
