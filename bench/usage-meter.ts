import type { MiddlewareObj, Request } from '@middy/core';
import { dynamoDb, ses, stepFunctions } from '../functions/adapters/aws-clients.ts';

/**
 * Counts what the handlers of the in-process local stack consume, without touching product code: a middy middleware
 * added to each handler times its invocations, and middleware on the shared AWS clients (functions/adapters/
 * aws-clients.ts) asks DynamoDB for the capacity each call consumed and counts SES recipients and Step Functions calls.
 */

/** A middy handler, which takes more middleware after it was built. */
interface Instrumentable {
  use(middleware: MiddlewareObj): unknown;
}

export interface MeteredUsage {
  /** Per function: the duration of each invocation, in ms, as its handler ran it. */
  invocations: Record<string, number[]>;
  dynamoDb: {
    calls: Record<string, number>;
    /** The same calls by operation and the kind of item they name (`UpdateItem OUTBOX`, `GetItem DEAL`, …). */
    callsByItem: Record<string, number>;
    readRequestUnits: number;
    writeRequestUnits: number;
    /** Calls that failed (e.g. a lost optimistic lock): DynamoDB still bills them, but reports no capacity. */
    failedCalls: number;
  };
  /** Recipients of every email sent (SES bills each recipient). */
  emails: number;
  stepFunctionsCalls: Record<string, number>;
}

export interface UsageMeter {
  /** Zeroes the counters and starts counting. */
  start(): void;
  /** Stops counting and returns what was counted since `start`. */
  stop(): MeteredUsage;
  /** Resolves once no handler has run for `quietMs` (the workflow's follow-up work is done), or after `maxMs`. */
  idle(quietMs: number, maxMs: number): Promise<void>;
}

const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

interface ConsumedCapacity {
  CapacityUnits?: number;
}

function emptyUsage(): MeteredUsage {
  return {
    invocations: {},
    dynamoDb: { calls: {}, callsByItem: {}, readRequestUnits: 0, writeRequestUnits: 0, failedCalls: 0 },
    emails: 0,
    stepFunctionsCalls: {},
  };
}

/**
 * The kind of item a call names: the first part of its key's `pk` (`DEAL`, `OUTBOX`, `PIPELINE`, …), for a transaction
 * its parts' kinds, for a query its partition's.
 */
function itemKind(input: unknown): string {
  const request = input as {
    Key?: { pk?: unknown };
    Item?: { pk?: unknown };
    ExpressionAttributeValues?: Record<string, unknown>;
    TransactItems?: Record<string, { Key?: { pk?: unknown }; Item?: { pk?: unknown } }>[];
  };
  const kindOf = (pk: unknown) => {
    // The input may already be marshalled (`{ S: 'DEAL#…' }`).
    const text = typeof pk === 'object' && pk !== null && 'S' in pk ? (pk as { S: unknown }).S : pk;
    return typeof text === 'string' ? (text.split('#')[0] ?? '?') : '?';
  };
  if (request.TransactItems) {
    const kinds = request.TransactItems.map((part) => {
      const [[action, body] = ['?', {}]] = Object.entries(part);
      return `${action}:${kindOf(body.Key?.pk ?? body.Item?.pk)}`;
    });
    return [...new Set(kinds)].sort().join('+');
  }
  const pk = request.Key?.pk ?? request.Item?.pk ?? request.ExpressionAttributeValues?.[':pk'];
  return kindOf(pk);
}

const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/**
 * Instruments the handlers (by function name) and the AWS clients of this process. Call it once, after the local
 * stack started, so that the clients exist and point at the emulators.
 */
export function meterUsage(handlers: Record<string, Instrumentable>): UsageMeter {
  let usage = emptyUsage();
  let counting = false;
  let inFlight = 0;
  let lastActivity = performance.now();

  for (const [name, handler] of Object.entries(handlers)) {
    const started = new WeakMap<Request, number>();
    const finish = (request: Request) => {
      inFlight -= 1;
      lastActivity = performance.now();
      const start = started.get(request);
      if (counting && start !== undefined) {
        usage.invocations[name] = [...(usage.invocations[name] ?? []), performance.now() - start];
      }
    };
    handler.use({
      before: (request) => {
        inFlight += 1;
        started.set(request, performance.now());
      },
      after: finish,
      onError: finish,
    });
  }

  dynamoDb().middlewareStack.add(
    (next, context) => async (args) => {
      if (!counting) return next(args);
      const operation = String(context.commandName).replace(/Command$/, '');
      increment(usage.dynamoDb.calls, operation);
      increment(usage.dynamoDb.callsByItem, `${operation} ${itemKind(args.input)}`);
      if (READS.has(operation) || WRITES.has(operation)) {
        (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
      }
      try {
        const result = await next(args);
        const consumed = (result.output as { ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[] })
          .ConsumedCapacity;
        const units = [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
        if (READS.has(operation)) usage.dynamoDb.readRequestUnits += units;
        else usage.dynamoDb.writeRequestUnits += units;
        return result;
      } catch (error) {
        usage.dynamoDb.failedCalls += 1;
        throw error;
      }
    },
    { step: 'initialize', name: 'benchUsageMeter' },
  );

  ses().middlewareStack.add(
    (next) => async (args) => {
      if (counting) {
        const { Destination } = args.input as {
          Destination?: { ToAddresses?: string[]; CcAddresses?: string[]; BccAddresses?: string[] };
        };
        usage.emails +=
          (Destination?.ToAddresses?.length ?? 0) +
          (Destination?.CcAddresses?.length ?? 0) +
          (Destination?.BccAddresses?.length ?? 0);
      }
      return next(args);
    },
    { step: 'initialize', name: 'benchUsageMeter' },
  );

  stepFunctions().middlewareStack.add(
    (next, context) => async (args) => {
      if (counting) increment(usage.stepFunctionsCalls, String(context.commandName).replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name: 'benchUsageMeter' },
  );

  return {
    start: () => {
      usage = emptyUsage();
      counting = true;
    },
    stop: () => {
      counting = false;
      return usage;
    },
    idle: async (quietMs, maxMs) => {
      const deadline = performance.now() + maxMs;
      while (performance.now() < deadline) {
        if (inFlight === 0 && performance.now() - lastActivity >= quietMs) return;
        await new Promise((resolve) => setTimeout(resolve, quietMs / 4));
      }
    },
  };
}
