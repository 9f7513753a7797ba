import { setTimeout as sleep } from 'node:timers/promises';
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

/** How long one probe may take before its part counts as down: a health check answers quickly, either way. */
const PROBE_TIMEOUT_MS = 3_000;

/**
 * `GET /health`: ok once every part the functions depend on answers — the table (a real read on every check, since
 * the configs below are cached for the process's life), the stored current config of every pipeline (which proves the
 * deploy wrote it) and the state machines. Otherwise `unavailable`, with each part's result: what is down.
 */
export async function checkHealth(
  services: Pick<EffectServices, 'pipelines' | 'workflow' | 'deals'>,
): Promise<{ status: 'ok' | 'unavailable'; checks: Record<string, string> }> {
  const checks: Record<string, string> = {};
  await Promise.all([
    ...services.pipelines.pipelineIds().map(async (id) => {
      checks[`pipeline:${id}`] = await outcome(() => services.pipelines.current(id));
    }),
    (async () => {
      checks.workflow = await outcome(() => services.workflow.describeStateMachines());
    })(),
    (async () => {
      checks.table = await outcome(() => services.deals.getLiveVersion(services.pipelines.pipelineIds()[0] ?? ''));
    })(),
  ]);
  for (const [name, check] of processChecks) checks[name] = check();
  const status = Object.values(checks).every((check) => check === 'ok') ? 'ok' : 'unavailable';
  return { status, checks };
}

async function outcome(probe: () => Promise<unknown>): Promise<string> {
  try {
    await Promise.race([
      probe(),
      sleep(PROBE_TIMEOUT_MS, undefined, { ref: false }).then(() => {
        throw new ProbeTimeoutError();
      }),
    ]);
    return 'ok';
  } catch (error) {
    return error instanceof Error ? error.name : 'failed';
  }
}

/** A part that did not answer within the probe's time. */
class ProbeTimeoutError extends Error {
  constructor() {
    super(`no answer within ${PROBE_TIMEOUT_MS} ms`);
    this.name = 'ProbeTimeoutError';
  }
}
