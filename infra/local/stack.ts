import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { CreateStateMachineCommand } from '@aws-sdk/client-sfn';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { dynamoDb, stepFunctions } from '../../functions/adapters/aws-clients.ts';
import { isConfigFolder, loadPipelineConfig, loadPipelines } from '../../functions/adapters/config-files.ts';
import { DealRepository } from '../../functions/adapters/deal-repository.ts';
import { ENV, SECRET_NAMES, type SecretName } from '../../functions/adapters/environment.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../../functions/adapters/function-timeouts.ts';
import { ensureTable } from '../../functions/adapters/table.ts';
import type { VersionedPipeline } from '../../functions/core/pipeline-config.ts';
import { buildStateMachineDefinition } from '../../workflows/definition.ts';
import { isPortFree, type RunningProcess, startDynamoDbLocal, startSesLocal } from './emulators.ts';
import { type HttpHandler, lambdaContext, startHttpHost } from './http-host.ts';
import { startStreamPoller } from './stream-poller.ts';
import { startWorkflowEngine, type WorkflowEngine } from './workflow-engine.ts';

/** The ports and places of the embedded stack, each overridable by its environment variable. */
export interface LocalStackOptions {
  port: number;
  sesPort: number;
  dynamoDbPort: number;
  stepFunctionsPort: number;
  publicBaseUrl: string;
  /** One stage config file or a folder of them, or every file of `stage-config/` when absent. */
  configFile?: string;
  configDir: string;
  /** Where DynamoDB Local keeps its data; null keeps nothing. */
  dataDir: string | null;
  log: (line: string) => void;
  /** Log routine workflow lines too (every execution's start and end): `--verbose` or `STAGEFLOW_LOG_LEVEL=debug`. */
  verbose?: boolean;
}

/** Development defaults of the secrets: printed at start-up, used only locally (the cloud has no defaults). */
export const DEVELOPMENT_SECRETS: Record<SecretName, string> = {
  GENERIC_WEBHOOK_SECRET: 'dev-generic-webhook-secret',
  HUBSPOT_CLIENT_SECRET: 'dev-hubspot-client-secret',
  PIPEDRIVE_BASIC_AUTH: 'stageflow:dev-pipedrive-password',
  SALESFORCE_ORG_ID: '00D000000000001AAA',
  SALESFORCE_WEBHOOK_TOKEN: 'dev-salesforce-webhook-token',
  LINK_SIGNING_KEY: 'dev-link-signing-key',
};

export const TABLE_NAME = 'stageflow';
/**
 * `true` holds the outbox back: decisions are still recorded and answered, their side effects run at the next start.
 * The fault tests use it to stop the stack between a commit and its effects.
 */
export const OUTBOX_PAUSED = 'STAGEFLOW_OUTBOX_PAUSED';
/**
 * Seconds the same record may keep failing (or the outbox go without reading) before `/health` answers `503` with the
 * outbox stalled; 60 unless set.
 */
export const OUTBOX_STALL_SECONDS = 'STAGEFLOW_OUTBOX_STALL_SECONDS';
/**
 * Fault injection for tests: the local mail service kills the stack's process (SIGKILL) right after it accepted this
 * many emails, before it answers the last send, so the stack dies between an email's send and its done-mark.
 */
export const CRASH_AFTER_MAILS = 'STAGEFLOW_CRASH_AFTER_MAILS';
const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;
const WORKFLOW_FUNCTION = 'stageflow-workflow';
/** How often the local stack sweeps the due CRM write-backs (the cloud: on each new one, and every minute). */
const WRITE_BACK_SWEEP_MS = 1_000;
const MAX_SWEEPS = 4;
const STOP_WAIT_MS = 2_000;

export function optionsFromEnvironment(argv: string[] = process.argv.slice(2)): LocalStackOptions {
  const env = process.env;
  const port = Number(env.PORT ?? 3000);
  const configFolder = env.STAGEFLOW_CONFIG !== undefined && isConfigFolder(env.STAGEFLOW_CONFIG);
  return {
    port,
    sesPort: Number(env.SES_PORT ?? 8005),
    dynamoDbPort: Number(env.DYNAMODB_PORT ?? 8000),
    stepFunctionsPort: Number(env.SFN_PORT ?? 8083),
    publicBaseUrl: env.PUBLIC_BASE_URL ?? `http://127.0.0.1:${port}`,
    // STAGEFLOW_CONFIG names one pipeline file, or a folder of them.
    configFile: configFolder ? undefined : env.STAGEFLOW_CONFIG,
    configDir: configFolder ? (env.STAGEFLOW_CONFIG as string) : 'stage-config',
    dataDir: argv.includes('--in-memory') ? null : resolve(env.STAGEFLOW_DATA_DIR ?? '.stageflow'),
    log: (line) => console.log(line),
    verbose: argv.includes('--verbose') || env.STAGEFLOW_LOG_LEVEL?.toLowerCase() === 'debug',
  };
}

export interface LocalStack {
  url: string;
  sesUrl: string;
  dynamoDbUrl: string;
  stepFunctionsUrl: string;
  engine: WorkflowEngine;
  pipelines: Map<string, VersionedPipeline>;
  /** The local SES, stopped and started again to show that a mail outage only delays mail. */
  mail: { stop(): Promise<void>; start(): Promise<void> };
  /** Holds the outbox back and lets it go again, to measure intake and the effects' drain apart. */
  outbox: OutboxGate;
  stop(): Promise<void>;
}

/**
 * Starts the whole system on this machine: DynamoDB Local, local SES, the local Step Functions engine running the
 * generated state machine, the HTTP API in front of the very handlers the cloud runs, and the outbox fed from the
 * table's stream. Deals in flight are picked up again at their current stage, and side effects of decisions committed
 * before a stop run after the start.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const pipelines = options.configFile
    ? singlePipeline(loadPipelineConfig(options.configFile))
    : loadPipelines(options.configDir);
  // What runs, by the order it stops in: serving ends first (nothing answers as if all were well), the outbox
  // finishes the batch in hand while the table still answers, then the workflow engine, then the emulators.
  const running: Record<StopPhase, { stop(): Promise<void> }[]> = {
    serving: [],
    outbox: [],
    workflow: [],
    emulators: [],
  };
  const stop = async () => {
    for (const phase of STOP_ORDER) {
      await Promise.all(running[phase].splice(0).map((part) => part.stop().catch(() => undefined)));
    }
  };
  try {
    await waitForPortsOfAStoppingStack(options);
    if (options.dataDir) mkdirSync(join(options.dataDir, 'dynamodb'), { recursive: true });
    // The mail sent is kept with the data, as SES outlives a crash of the sender: the mail log a re-run asks.
    const mailServiceOptions = {
      port: options.sesPort,
      ...(options.dataDir ? { mailFile: join(options.dataDir, 'mail.jsonl') } : {}),
      ...(process.env[CRASH_AFTER_MAILS] ? { crashAfterMails: Number(process.env[CRASH_AFTER_MAILS]) } : {}),
    };
    const [dynamo, sesLocal] = await Promise.all([
      startDynamoDbLocal({
        port: options.dynamoDbPort,
        dataDir: options.dataDir ? join(options.dataDir, 'dynamodb') : undefined,
      }),
      startSesLocal(mailServiceOptions),
    ]);
    let mailService: RunningProcess | null = sesLocal;
    const mail = {
      stop: async () => {
        await mailService?.stop();
        mailService = null;
      },
      start: async () => {
        mailService ??= await startSesLocal(mailServiceOptions);
      },
    };
    running.emulators.push(dynamo as RunningProcess, { stop: mail.stop });
    const stepFunctionsUrl = `http://127.0.0.1:${options.stepFunctionsPort}`;
    configureEnvironment(options, dynamo.url, sesLocal.url, stepFunctionsUrl, pipelines);
    const streamArn = await ensureTable(new DynamoDBClient({ endpoint: dynamo.url }), TABLE_NAME);

    let workflowHandler: TaskHandler | undefined;
    const engine = await startWorkflowEngine({
      port: options.stepFunctionsPort,
      invoke: (functionName, payload) => {
        if (functionName !== WORKFLOW_FUNCTION || !workflowHandler)
          throw new Error(`no local function ${functionName}`);
        return workflowHandler(payload, lambdaContext(functionName));
      },
      log: options.log,
      verbose: options.verbose,
    });
    running.workflow.push({ stop: () => engine.close() });

    const deals = new DealRepository(dynamoDb(), TABLE_NAME);
    // A table kept from an earlier release: its deals join the owner index it just gained (once; see data-model.md).
    const listed = await deals.backfillOwnerIndex();
    if (listed > 0) options.log(`listed ${listed} stored deals in the owner index`);
    const stateMachineArns: Record<string, string> = {};
    for (const pipeline of pipelines.values()) {
      await deals.putPipelineVersion(pipeline);
      stateMachineArns[pipeline.config.pipeline] = await registerStateMachine(pipeline);
    }
    process.env[ENV.stateMachines] = JSON.stringify(stateMachineArns);

    const handlers = await loadHandlers();
    workflowHandler = handlers.workflow;
    const { servicesFromEnvironment } = await import('../../functions/usecases/services.ts');
    const { MAX_WEBHOOK_BYTES } = await import('../../functions/usecases/receive-webhook.ts');
    // The handlers' own Logger and Metrics: what start-up records is flushed with the next invocation's metrics.
    const { logger, metrics } = await import('../../functions/powertools.ts');
    const services = servicesFromEnvironment({ logger, metrics });
    // The edited file goes live before anything is served: open deals move to it. The outbox,
    // fed from the stream below, then replaces their executions with ones on the new version's state machine and
    // tells the approvers and owners of cancelled approvals.
    const { rolloutPipeline } = await import('../../functions/usecases/rollout.ts');
    for (const pipeline of pipelines.values()) {
      const report = await rolloutPipeline(pipeline, services);
      if (report.moved > 0) {
        options.log(
          `pipeline ${report.pipeline}: moved ${report.moved} open deal(s) from ${report.from ?? 'earlier versions'}` +
            ` to version ${report.to} (${report.cancelledApprovals} approval request(s) no longer needed)`,
        );
      }
    }

    // Open deals get their executions back before anything is served: a request racing the resume would change a
    // deal under its optimistic lock and fail the start.
    const { resumeOpenDeals } = await import('./resume.ts');
    const resumed = await resumeOpenDeals(services, pipelines, registerStateMachine);
    if (resumed > 0) options.log(`resumed ${resumed} open deal(s) at their current stage`);

    // Each route names its function, as its Lambda would be named: log lines tell the functions apart.
    const functions = {
      webhook: { handler: handlers.webhook, functionName: 'stageflow-webhook' },
      webhookHubspot: { handler: handlers.webhookHubspot, functionName: 'stageflow-webhook-hubspot' },
      webhookPipedrive: { handler: handlers.webhookPipedrive, functionName: 'stageflow-webhook-pipedrive' },
      webhookSalesforce: { handler: handlers.webhookSalesforce, functionName: 'stageflow-webhook-salesforce' },
      approvals: { handler: handlers.approvals, functionName: 'stageflow-approvals' },
      readApi: { handler: handlers.readApi, functionName: 'stageflow-read-api' },
      board: { handler: handlers.board, functionName: 'stageflow-board' },
    };
    const host = await startHttpHost({
      port: options.port,
      // API Gateway's own payload limit: the handlers enforce the webhooks' 256 KiB limit themselves, answering in each
      // sender's format (a SOAP fault for Salesforce), exactly as they do in the cloud.
      maxBodyBytes: API_GATEWAY_MAX_BODY_BYTES,
      tooLargeMessage: `the body is over the limit of ${MAX_WEBHOOK_BYTES} bytes (256 KiB) — split the batch`,
      routes: [
        { method: 'POST', path: '/webhooks/hubspot', ...functions.webhookHubspot },
        { method: 'POST', path: '/webhooks/pipedrive', ...functions.webhookPipedrive },
        { method: 'POST', path: '/webhooks/salesforce', ...functions.webhookSalesforce },
        { method: 'POST', path: '/webhooks/{source}', ...functions.webhook },
        { method: 'GET', path: '/approvals/{approvalId}', ...functions.approvals },
        { method: 'POST', path: '/approvals/{approvalId}', ...functions.approvals },
        { method: 'GET', path: '/deals', ...functions.readApi },
        { method: 'GET', path: '/deals/{dealId}', ...functions.readApi },
        { method: 'GET', path: '/pipelines/{pipeline}/stages', ...functions.readApi },
        { method: 'GET', path: '/health', ...functions.readApi },
        { method: 'GET', path: '/', ...functions.board },
        { method: 'GET', path: '/board', ...functions.board },
        { method: 'GET', path: '/board/export.csv', ...functions.board },
        { method: 'GET', path: '/board/deals/{dealId}', ...functions.board },
        { method: 'GET', path: '/board/insights', ...functions.board },
      ],
    });
    running.serving.push({ stop: () => host.close() });

    const digestEvery = Number(process.env[ENV.digestIntervalSeconds] ?? '');
    if (Number.isFinite(digestEvery) && digestEvery > 0) {
      running.outbox.push(runEvery(digestEvery, () => handlers.digest({}, lambdaContext('stageflow-digest'))));
      options.log(`stale-deal digest every ${digestEvery} s (${ENV.digestIntervalSeconds})`);
    }

    const outbox = outboxGate();
    if (process.env[OUTBOX_PAUSED] === 'true') {
      options.log(`outbox paused (${OUTBOX_PAUSED}): decisions are recorded, their side effects wait`);
    } else {
      const outboxTimeoutMs = FUNCTION_TIMEOUT_SECONDS.outbox * 1000;
      const stallSeconds = Number(process.env[OUTBOX_STALL_SECONDS] ?? '');
      const poller = startStreamPoller({
        streams: new DynamoDBStreamsClient({ endpoint: dynamo.url }),
        streamArn,
        handle: async (event) => {
          await outbox.passage();
          return handlers.outbox(event, lambdaContext('stageflow-outbox', undefined, outboxTimeoutMs));
        },
        checkpointFile: options.dataDir ? join(options.dataDir, 'outbox-checkpoint.json') : null,
        log: options.log,
        ...(stallSeconds > 0 ? { stallAfterMs: stallSeconds * 1000 } : {}),
      });
      running.outbox.push({
        stop: () => {
          outbox.release();
          return poller.stop();
        },
      });
      const writeBackTimeoutMs = FUNCTION_TIMEOUT_SECONDS.writeBack * 1000;
      running.outbox.push(
        sweepEvery(WRITE_BACK_SWEEP_MS, () =>
          handlers.writeBack({}, lambdaContext('stageflow-write-back', undefined, writeBackTimeoutMs)),
        ),
      );
      const { addHealthCheck } = await import('../../functions/usecases/health.ts');
      addHealthCheck('outbox', () => {
        const progress = poller.progress();
        return progress.state === 'ok' ? 'ok' : `stalled: ${progress.reason}`;
      });
    }

    return {
      url: host.url,
      sesUrl: sesLocal.url,
      dynamoDbUrl: dynamo.url,
      stepFunctionsUrl,
      engine,
      pipelines,
      mail,
      outbox: { hold: outbox.hold, release: outbox.release },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Starts `sweep` every `intervalMs` without waiting for the last one (a sweep held up by one deal's slow CRM must not
 * hold back the others: each deal's lease keeps two sweeps off it), at most {@link MAX_SWEEPS} at once. A stop waits
 * briefly for the sweeps in flight; one cut off by the stop leaves its work to its lease's end and the next start.
 */
function sweepEvery(intervalMs: number, sweep: () => Promise<unknown>): { stop(): Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  const timer = setInterval(() => {
    if (inFlight.size >= MAX_SWEEPS) return;
    const running = sweep().catch((error: unknown) => console.error('[write-back] sweep failed:', error));
    inFlight.add(running);
    void running.finally(() => inFlight.delete(running));
  }, intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await Promise.race([Promise.all(inFlight), sleep(STOP_WAIT_MS)]);
    },
  };
}

/** Holds the outbox back on a running stack: stream records stay in the stream, unread past the batch in hand. */
export interface OutboxGate {
  /** Batches handed to the outbox from now on wait (the one it is handling finishes). */
  hold(): void;
  /** The waiting batch, and every later one, go through. */
  release(): void;
}

function outboxGate(): OutboxGate & { passage(): Promise<void> } {
  let held: PromiseWithResolvers<void> | null = null;
  return {
    hold: () => {
      held ??= Promise.withResolvers<void>();
    },
    release: () => {
      held?.resolve();
      held = null;
    },
    passage: async () => {
      await held?.promise;
    },
  };
}

/** The parts of the stack, in the order a stop ends them. */
const STOP_ORDER = ['serving', 'outbox', 'workflow', 'emulators'] as const;
type StopPhase = (typeof STOP_ORDER)[number];

/** How long a start waits for the ports of a stack that is still stopping (its emulators stop last). */
const PORT_RELEASE_WAIT_MS = 15_000;

/**
 * A start right after a stop may find the old stack's emulators still on their ports: it waits for them (up to
 * 15 s) instead of failing. A port held longer belongs to something else, and the part that needs it says so.
 */
async function waitForPortsOfAStoppingStack(options: LocalStackOptions): Promise<void> {
  const ports = [options.port, options.sesPort, options.dynamoDbPort, options.stepFunctionsPort];
  const deadline = performance.now() + PORT_RELEASE_WAIT_MS;
  let told = false;
  for (;;) {
    const busy = (await Promise.all(ports.map(async (port) => ((await isPortFree(port)) ? [] : [port])))).flat();
    if (busy.length === 0 || performance.now() > deadline) return;
    if (!told) options.log(`port(s) ${busy.join(', ')} in use: waiting for a stack that is stopping to release them`);
    told = true;
    await sleep(200);
  }
}

/** Runs `task` every `seconds`, one run at a time (the next starts a full interval after the last ended). */
function runEvery(seconds: number, task: () => Promise<unknown>): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    timer = setTimeout(async () => {
      await task().catch((error: unknown) => console.error('[digest] failed:', error));
      if (!stopped) schedule();
    }, seconds * 1000);
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function singlePipeline(pipeline: VersionedPipeline): Map<string, VersionedPipeline> {
  return new Map([[pipeline.config.pipeline, pipeline]]);
}

/** The handlers read their configuration from the environment at import, exactly as in Lambda. */
function configureEnvironment(
  options: LocalStackOptions,
  dynamoDbUrl: string,
  sesUrl: string,
  stepFunctionsUrl: string,
  pipelines: Map<string, VersionedPipeline>,
): void {
  const env = process.env;
  env.AWS_REGION ??= 'us-east-1';
  env.AWS_ACCESS_KEY_ID ??= 'local';
  env.AWS_SECRET_ACCESS_KEY ??= 'local';
  env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  // One process runs every handler: one service name, and each log line names its function (`function_name`).
  env.POWERTOOLS_SERVICE_NAME ??= 'stageflow-local';
  env.POWERTOOLS_DEV ??= 'true';
  env[ENV.tableName] = TABLE_NAME;
  env[ENV.dynamoDbEndpoint] = dynamoDbUrl;
  env[ENV.sesEndpoint] = sesUrl;
  env[ENV.stepFunctionsEndpoint] = stepFunctionsUrl;
  env[ENV.publicBaseUrl] = options.publicBaseUrl;
  env[ENV.mailFrom] ??= 'stageflow@example.com';
  env[ENV.pipelines] = JSON.stringify(Object.fromEntries([...pipelines].map(([id, p]) => [id, p.version])));
  env[ENV.stateMachines] = JSON.stringify({});
  env[ENV.localBootId] = randomUUID();
  for (const name of SECRET_NAMES) env[name] ??= DEVELOPMENT_SECRETS[name];
}

type TaskHandler = (event: unknown, context: Context) => Promise<unknown>;
type StreamHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

async function loadHandlers() {
  const [
    webhook,
    webhookHubspot,
    webhookPipedrive,
    webhookSalesforce,
    approvals,
    readApi,
    workflow,
    outbox,
    board,
    digest,
    writeBack,
  ] = await Promise.all([
    import('../../functions/webhook/handler.ts'),
    import('../../functions/webhook/hubspot.ts'),
    import('../../functions/webhook/pipedrive.ts'),
    import('../../functions/webhook/salesforce.ts'),
    import('../../functions/approvals/handler.ts'),
    import('../../functions/read-api/handler.ts'),
    import('../../functions/workflow/handler.ts'),
    import('../../functions/outbox/handler.ts'),
    import('../../functions/board/handler.ts'),
    import('../../functions/digest/handler.ts'),
    import('../../functions/write-back/handler.ts'),
  ]);
  return {
    webhook: webhook.handler as unknown as HttpHandler,
    webhookHubspot: webhookHubspot.handler as unknown as HttpHandler,
    webhookPipedrive: webhookPipedrive.handler as unknown as HttpHandler,
    webhookSalesforce: webhookSalesforce.handler as unknown as HttpHandler,
    approvals: approvals.handler as unknown as HttpHandler,
    readApi: readApi.handler as unknown as HttpHandler,
    workflow: workflow.handler as unknown as TaskHandler,
    outbox: outbox.handler as unknown as StreamHandler,
    board: board.handler as unknown as HttpHandler,
    digest: digest.handler as unknown as TaskHandler,
    writeBack: writeBack.handler as unknown as TaskHandler,
  };
}

/** Registers the pipeline version's state machine with the local engine (one per version, like published versions). */
async function registerStateMachine(pipeline: VersionedPipeline): Promise<string> {
  const definition = buildStateMachineDefinition(pipeline.config, WORKFLOW_FUNCTION);
  const { stateMachineArn } = await stepFunctions().send(
    new CreateStateMachineCommand({
      name: `stageflow-${pipeline.config.pipeline}-${pipeline.version}`,
      definition: JSON.stringify(definition),
      roleArn: 'arn:aws:iam::000000000000:role/local',
    }),
  );
  if (!stateMachineArn) throw new Error('the local engine returned no state machine ARN');
  return stateMachineArn;
}
