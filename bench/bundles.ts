import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { esbuildOptions } from '../infra/cloud/bundling.ts';

/** The deployed functions, by the name the results use, with their handler files and their key in the CDK app stack. */
export const FUNCTIONS = {
  webhook: { entry: 'functions/webhook/handler.ts', stackKey: 'webhook' },
  webhook_hubspot: { entry: 'functions/webhook/hubspot.ts', stackKey: 'webhookHubspot' },
  webhook_pipedrive: { entry: 'functions/webhook/pipedrive.ts', stackKey: 'webhookPipedrive' },
  webhook_salesforce: { entry: 'functions/webhook/salesforce.ts', stackKey: 'webhookSalesforce' },
  approvals: { entry: 'functions/approvals/handler.ts', stackKey: 'approvals' },
  read_api: { entry: 'functions/read-api/handler.ts', stackKey: 'readApi' },
  workflow: { entry: 'functions/workflow/handler.ts', stackKey: 'workflow' },
  outbox: { entry: 'functions/outbox/handler.ts', stackKey: 'outbox' },
  rollout: { entry: 'functions/rollout/handler.ts', stackKey: 'rollout' },
  board: { entry: 'functions/board/handler.ts', stackKey: 'board' },
  digest: { entry: 'functions/digest/handler.ts', stackKey: 'digest' },
  mail_events: { entry: 'functions/mail-events/handler.ts', stackKey: 'mailEvents' },
} as const;
export type FunctionName = keyof typeof FUNCTIONS;
const FUNCTION_NAMES = Object.keys(FUNCTIONS) as FunctionName[];

/** A record with one value per deployed function. */
export function byFunction<T>(value: (name: FunctionName) => T): Record<FunctionName, T> {
  return Object.fromEntries(FUNCTION_NAMES.map((name) => [name, value(name)])) as Record<FunctionName, T>;
}

const ROOT = resolve(import.meta.dirname, '..');
/** Generated, git-ignored. */
export const BUNDLES_DIR = join(ROOT, 'bench/.bundles');

export interface Bundle {
  /** The `index.mjs` CDK would deploy. */
  file: string;
  kb: number;
  /** The packages (or project folders) that weigh most in the bundle, in KB of output. */
  heaviest: Record<string, number>;
}

/** The deployed functions, and the two baselines bundled the same way: hello world and the bare DynamoDB client. */
export type Bundles = Record<FunctionName | 'hello' | 'floor', Bundle>;

/** Builds every function and the two baseline handlers exactly as CDK bundles them (infra/cloud/bundling.ts). */
export async function buildBundles(): Promise<Bundles> {
  const entries = {
    ...FUNCTIONS,
    hello: { entry: 'bench/hello-handler.ts' },
    floor: { entry: 'bench/floor-handler.ts' },
  };
  const built = await Promise.all(
    Object.entries(entries).map(async ([name, { entry }]) => [name, await buildOne(name, entry)] as const),
  );
  return Object.fromEntries(built) as Bundles;
}

async function buildOne(name: string, entry: string): Promise<Bundle> {
  const file = join(BUNDLES_DIR, name, 'index.mjs');
  const { metafile } = await build({
    ...esbuildOptions(join(ROOT, entry), file),
    absWorkingDir: ROOT,
    metafile: true,
    logLevel: 'warning',
  });
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const owner = packageOf(input);
      byPackage.set(owner, (byPackage.get(owner) ?? 0) + bytesInOutput);
    }
  }
  const heaviest = [...byPackage]
    .sort(([, a], [, b]) => b - a)
    .slice(0, 6)
    .map(([owner, bytes]) => [owner, kilobytes(bytes)]);
  return { file, kb: kilobytes((await stat(file)).size), heaviest: Object.fromEntries(heaviest) };
}

/** `node_modules/@aws-sdk/client-sfn/dist-es/…` → `@aws-sdk/client-sfn`; project files → their top folder. */
function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return match?.[1] ?? input.split('/').slice(0, 2).join('/');
}

function kilobytes(bytes: number): number {
  return Math.round((bytes / 1024) * 10) / 10;
}
