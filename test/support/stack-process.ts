import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  /** Resolves with the exit code (null when a signal ended it) once the stack exits by itself. */
  exited: Promise<number | null>;
  /**
   * Ctrl-C as a terminal sends it: SIGINT to the stack's whole process group (started with `ownProcessGroup`, as a
   * shell starts a foreground job). Resolves with the exit code once the stack has exited.
   */
  interrupt(): Promise<number | null>;
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
  /** Starts the stack as the leader of a process group of its own, as a shell starts a foreground job. */
  ownProcessGroup = false,
): Promise<StackProcess> {
  const ports = { ...(await freePorts()), ...env };
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'infra/local/start.ts', ...args], {
    env: { ...process.env, ...ports },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: ownProcessGroup,
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
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
    interrupt: async () => {
      if (!ownProcessGroup || child.pid === undefined) throw new Error('interrupt() needs a stack in its own group');
      if (child.exitCode === null) process.kill(-child.pid, 'SIGINT');
      return exited;
    },
  };
}

/** A stack of a test's own with its data on disk, started again as often as the test likes on the same data. */
export interface StackOnDisk {
  /** The temporary data folder (`STAGEFLOW_DATA_DIR`). */
  dataDir: string;
  /** A copy of `stage-config/default.yaml` in the data folder (`STAGEFLOW_CONFIG`), for the test to edit. */
  configFile: string;
  /** Starts the stack on the data folder and config file; every start takes the same ports, so its URLs stay put. */
  start(): Promise<StackProcess>;
  /** Stops the stack last started, if it still runs, and removes the data folder: for the test's `afterAll`. */
  stopAndRemove(): Promise<void>;
}

/**
 * Makes a data folder named `stageflow-<name>-…` with a copy of the default stage config, for a stack that the test
 * starts and restarts itself; `healthyWithinSeconds` as in {@link startStackProcess}.
 */
export function stackOnDisk(name: string, healthyWithinSeconds?: number): StackOnDisk {
  const dataDir = mkdtempSync(join(tmpdir(), `stageflow-${name}-`));
  const configFile = join(dataDir, 'default.yaml');
  copyFileSync('stage-config/default.yaml', configFile);
  let env: Record<string, string> | undefined;
  let started: StackProcess | undefined;
  return {
    dataDir,
    configFile,
    start: async () => {
      env ??= { ...(await freePorts()), STAGEFLOW_DATA_DIR: dataDir, STAGEFLOW_CONFIG: configFile };
      started = await startStackProcess(env, [], healthyWithinSeconds);
      return started;
    },
    stopAndRemove: async () => {
      await started?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
