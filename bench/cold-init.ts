import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type HttpHandler, lambdaContext, startHttpHost } from '../infra/local/http-host.ts';
import { median } from './stats.ts';

/**
 * `cold_init_ms`: each bundle imported and invoked once in a fresh Node.js process (cold-init-child.ts), against the
 * running local stack. Runs go round the functions, so a burst of load on the machine spreads over all of them.
 */

const CHILD = new URL('./cold-init-child.ts', import.meta.url).pathname;
/** As deployed: no NODE_OPTIONS (infra/cloud/constructs/stageflow-function.ts; source maps cost more than they give). */
const NODE_FLAGS: string[] = [];

export interface ColdTarget {
  bundleFile: string;
  functionName: string;
  /** The first invocation's event; called before each run, so an event can be fresh (a webhook's new eventId). */
  event: () => Promise<unknown>;
}

export interface ColdInit {
  medianMs: number;
  importMedianMs: number;
  /**
   * The process's own CPU time (user + system) over the same span, median: unlike the wall time it leaves out waiting
   * for a busy machine's cores (and for DynamoDB Local), so it compares bundles on a loaded machine.
   */
  cpuMedianMs: number;
  importCpuMedianMs: number;
  minMs: number;
  maxMs: number;
  /** Each run's total, in run order: run `i` of every target went round the targets together. */
  totalsMs: number[];
  /** How the first invocations answered: `HTTP <status>`, `returned` (no status) or the error's name; by count. */
  answers: Record<string, number>;
}

interface ChildReport {
  importMs: number;
  totalMs: number;
  importCpuMs: number;
  totalCpuMs: number;
  statusCode: number | null;
  error: string | null;
}

/** Runs `runs` cold starts of each target and takes the medians. */
export async function measureColdInits<Name extends string>(
  targets: Record<Name, ColdTarget>,
  runs: number,
): Promise<Record<Name, ColdInit>> {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const reports = new Map<string, ChildReport[]>();
  for (let run = 0; run < runs; run++) {
    for (const [name, target] of Object.entries<ColdTarget>(targets)) {
      const invocation = {
        bundleUrl: pathToFileURL(target.bundleFile).href,
        event: await target.event(),
        context: JSON.parse(JSON.stringify(lambdaContext(target.functionName))),
      };
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [...NODE_FLAGS, CHILD, JSON.stringify(invocation)],
        {
          env,
          maxBuffer: 1024 * 1024,
        },
      );
      // The report is the last line: a handler may log to stdout before it.
      const report = JSON.parse(stdout.trimEnd().split('\n').at(-1) ?? '') as ChildReport;
      reports.set(name, [...(reports.get(name) ?? []), report]);
    }
  }
  const summary = Object.fromEntries(
    [...reports].map(([name, runsOf]) => {
      const totals = runsOf.map((r) => r.totalMs);
      const answers: Record<string, number> = {};
      for (const { statusCode, error } of runsOf) {
        const answer = error ?? (statusCode === null ? 'returned' : `HTTP ${statusCode}`);
        answers[answer] = (answers[answer] ?? 0) + 1;
      }
      const cold: ColdInit = {
        medianMs: median(totals),
        importMedianMs: median(runsOf.map((r) => r.importMs)),
        cpuMedianMs: median(runsOf.map((r) => r.totalCpuMs)),
        importCpuMedianMs: median(runsOf.map((r) => r.importCpuMs)),
        minMs: Math.min(...totals),
        maxMs: Math.max(...totals),
        totalsMs: totals,
        answers,
      };
      return [name, cold];
    }),
  );
  return summary as Record<Name, ColdInit>;
}

/**
 * API Gateway events exactly as the local stack's HTTP host builds them: the request goes to a second host with the
 * same routes, whose handlers keep the event instead of answering it.
 */
export async function eventCapture() {
  let captured: APIGatewayProxyEventV2 | undefined;
  const keep: HttpHandler = async (event) => {
    captured = event;
    return { statusCode: 204 };
  };
  const host = await startHttpHost({
    port: 0,
    routes: [
      { method: 'POST', path: '/webhooks/{source}', handler: keep },
      { method: 'GET', path: '/approvals/{approvalId}', handler: keep },
      { method: 'GET', path: '/deals/{dealId}', handler: keep },
      { method: 'GET', path: '/board', handler: keep },
    ],
  });
  return {
    /** The event for a request to `pathAndQuery` (e.g. `/deals/D-1?pipeline=default`). */
    capture: async (pathAndQuery: string, init?: RequestInit): Promise<APIGatewayProxyEventV2> => {
      captured = undefined;
      const response = await fetch(`${host.url}${pathAndQuery}`, init);
      await response.arrayBuffer();
      if (!captured) throw new Error(`no route of the local HTTP API matches ${init?.method ?? 'GET'} ${pathAndQuery}`);
      return captured;
    },
    close: () => host.close(),
  };
}
