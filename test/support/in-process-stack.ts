import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../../infra/local/emulators.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../infra/local/stack.ts';

/**
 * Starts the whole local stack inside the test's own process, on free ports, in memory, with the default pipeline and
 * no log: for tests that reach into the running stack (stop its mail service, throttle its clients).
 */
export async function startInProcessStack(overrides: Partial<LocalStackOptions> = {}): Promise<LocalStack> {
  const port = await freePort();
  return startLocalStack({
    port,
    sesPort: await freePort(),
    dynamoDbPort: await freePort(),
    stepFunctionsPort: await freePort(),
    publicBaseUrl: `http://127.0.0.1:${port}`,
    configFile: 'stage-config/default.yaml',
    configDir: 'stage-config',
    dataDir: null,
    log: () => undefined,
    ...overrides,
  });
}

/**
 * Starts an in-process stack before the calling suite's tests and stops it after them. Call it inside `describe`;
 * the answer gives the running stack.
 */
export function inProcessStackForSuite(overrides: Partial<LocalStackOptions> = {}): () => LocalStack {
  let stack: LocalStack | undefined;
  beforeAll(async () => {
    stack = await startInProcessStack(overrides);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });
  return () => {
    if (!stack) throw new Error("the suite's stack has not started");
    return stack;
  };
}
