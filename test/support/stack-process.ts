import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../infra/local/emulators.ts';

/** The addresses of a local stack started as `npm start` would, on free ports. */
export interface StackUrls {
  api: string;
  ses: string;
  dynamoDb: string;
  stepFunctions: string;
}

export interface StackProcess {
  urls: StackUrls;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function freePorts(): Promise<Record<'PORT' | 'SES_PORT' | 'DYNAMODB_PORT' | 'SFN_PORT', string>> {
  return {
    PORT: String(await freePort()),
    SES_PORT: String(await freePort()),
    DYNAMODB_PORT: String(await freePort()),
    SFN_PORT: String(await freePort()),
  };
}

/**
 * Starts `infra/local/start.ts` (what `npm start` runs) in a child process and waits until `/health` answers.
 * `env` adds or overrides variables (ports, data folder, config file, approval timing).
 */
export async function startStackProcess(
  env: Record<string, string>,
  args: string[] = [],
  /** How long the start may take: a stack that migrates deals on a busy machine needs longer than 90 s. */
  healthyWithinSeconds = 90,
): Promise<StackProcess> {
  const ports = { ...(await freePorts()), ...env };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'infra/local/start.ts', ...args], {
    env: { ...process.env, ...ports },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const urls: StackUrls = {
    api: `http://127.0.0.1:${ports.PORT}`,
    ses: `http://127.0.0.1:${ports.SES_PORT}`,
    dynamoDb: `http://127.0.0.1:${ports.DYNAMODB_PORT}`,
    stepFunctions: `http://127.0.0.1:${ports.SFN_PORT}`,
  };
  const deadline = Date.now() + healthyWithinSeconds * 1000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the local stack exited with ${child.exitCode}:\n${output}`);
    try {
      const response = await fetch(`${urls.api}/health`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the local stack did not become healthy in ${healthyWithinSeconds} s:\n${output}`);
    }
    await sleep(250);
  }
  return {
    urls,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
