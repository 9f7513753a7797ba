/**
 * One cold start, in a fresh Node.js process that loads nothing else first: import the bundle, invoke its handler
 * once, print the timings as JSON. Node runs this file itself (type stripping), without tsx, so no loader hook sits
 * between the timer and the bundle.
 */

interface ColdInvocation {
  /** file: URL of the bundle's index.mjs */
  bundleUrl: string;
  event: unknown;
  /** A Lambda context without its methods (they do not survive JSON). */
  context: Record<string, unknown>;
}

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

const { bundleUrl, event, context } = JSON.parse(process.argv[2] ?? '{}') as ColdInvocation;
const deadline = Date.now() + 30_000;
const lambdaContext = { ...context, getRemainingTimeInMillis: () => deadline - Date.now() };

const start = performance.now();
const cpuAtStart = process.cpuUsage();
const { handler } = (await import(bundleUrl)) as { handler: Handler };
const imported = performance.now();
const importCpu = process.cpuUsage(cpuAtStart);
let statusCode: number | null = null;
let error: string | null = null;
try {
  const result = await handler(event, lambdaContext);
  statusCode = (result as { statusCode?: number } | null)?.statusCode ?? null;
} catch (failure) {
  error = failure instanceof Error ? failure.name : String(failure);
}
const end = performance.now();
const cpu = process.cpuUsage(cpuAtStart);
const cpuMs = ({ user, system }: NodeJS.CpuUsage) => (user + system) / 1000;
const report = {
  importMs: imported - start,
  totalMs: end - start,
  importCpuMs: cpuMs(importCpu),
  totalCpuMs: cpuMs(cpu),
  statusCode,
  error,
};
process.stdout.write(`\n${JSON.stringify(report)}\n`);
// The AWS SDK's keep-alive sockets would hold the process open.
process.exit(0);
