import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  EmulatorStartError,
  freePort,
  isPortFree,
  JavaRuntimeMissingError,
  PortInUseError,
  type RunningProcess,
  startDynamoDbLocal,
  startSesLocal,
} from '../../infra/local/emulators.ts';

const FAKE_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const EMULATORS_MODULE = fileURLToPath(new URL('../../infra/local/emulators.ts', import.meta.url));

const started: RunningProcess[] = [];
const temporaryDirs: string[] = [];

afterAll(async () => {
  await Promise.all(started.map((emulator) => emulator.stop()));
  await Promise.all(temporaryDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function temporaryDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stageflow-emulators-'));
  temporaryDirs.push(dir);
  return dir;
}

function dynamoDb(url: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint: url, region: 'us-east-1', credentials: FAKE_CREDENTIALS });
}

async function createTable(client: DynamoDBClient, TableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
}

/** Waits for a state that follows an event in another process; the assertion is on the state, not on the time. */
async function eventually(condition: () => Promise<boolean>, attempts = 100): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    if (await condition()) {
      return true;
    }
    await delay(50);
  }
  return false;
}

describe('DynamoDB Local and local SES, in memory', () => {
  it('serve tables and mail on free ports, and free the ports again when stopped', { timeout: 120_000 }, async () => {
    const [dynamoPort, sesPort] = [await freePort(), await freePort()];
    const [dynamo, ses] = await Promise.all([
      startDynamoDbLocal({ port: dynamoPort }),
      startSesLocal({ port: sesPort }),
    ]);
    started.push(dynamo, ses);
    expect(dynamo.url).toBe(`http://127.0.0.1:${dynamoPort}`);
    expect(ses.url).toBe(`http://127.0.0.1:${sesPort}`);

    const client = dynamoDb(dynamo.url);
    await createTable(client, 'deals');
    await client.send(new PutItemCommand({ TableName: 'deals', Item: { pk: { S: 'D-1' }, stage: { S: 'qualify' } } }));
    const { Item } = await client.send(new GetItemCommand({ TableName: 'deals', Key: { pk: { S: 'D-1' } } }));
    expect(Item?.stage?.S).toBe('qualify');
    // One shared database: other credentials and regions see the same tables.
    const other = new DynamoDBClient({
      endpoint: dynamo.url,
      region: 'eu-west-1',
      // DynamoDB Local 3 accepts only letters and digits in an access key id.
      credentials: { accessKeyId: 'someoneElse', secretAccessKey: 'x' },
    });
    expect((await other.send(new ListTablesCommand({}))).TableNames).toEqual(['deals']);

    const mailer = new SESv2Client({ endpoint: ses.url, region: 'us-east-1', credentials: FAKE_CREDENTIALS });
    await mailer.send(
      new SendEmailCommand({
        FromEmailAddress: 'stageflow@example.com',
        Destination: { ToAddresses: ['finance@example.com'] },
        Content: {
          Simple: {
            Subject: { Data: 'Approval needed: Acme rollout (D-1)' },
            Body: { Text: { Data: 'Review it at http://127.0.0.1:3000/approvals/a1?token=t' } },
          },
        },
      }),
    );
    const store = (await (await fetch(`${ses.url}/store`)).json()) as {
      emails: { destination: { to: string[] }; subject: string; body: { text?: string } }[];
    };
    expect(store.emails).toHaveLength(1);
    expect(store.emails[0]).toMatchObject({
      destination: { to: ['finance@example.com'] },
      subject: 'Approval needed: Acme rollout (D-1)',
      body: { text: expect.stringContaining('/approvals/a1?token=t') },
    });

    client.destroy();
    other.destroy();
    mailer.destroy();
    await Promise.all([dynamo.stop(), ses.stop()]);
    expect(await isPortFree(dynamoPort)).toBe(true);
    expect(await isPortFree(sesPort)).toBe(true);
    await expect(fetch(`${ses.url}/health-check`)).rejects.toThrow();
    // Stopping twice is harmless.
    await dynamo.stop();
  });
});

describe('DynamoDB Local on disk', () => {
  it('keeps a table and its items across stop and start', { timeout: 240_000 }, async () => {
    const dataDir = join(await temporaryDir(), 'nested', 'dynamodb');
    const port = await freePort();

    const first = await startDynamoDbLocal({ port, dataDir });
    started.push(first);
    const client = dynamoDb(first.url);
    await createTable(client, 'kept');
    await client.send(new PutItemCommand({ TableName: 'kept', Item: { pk: { S: 'D-9' } } }));
    client.destroy();
    await first.stop();

    const second = await startDynamoDbLocal({ port, dataDir });
    started.push(second);
    const again = dynamoDb(second.url);
    expect((await again.send(new ListTablesCommand({}))).TableNames).toEqual(['kept']);
    const { Item } = await again.send(new GetItemCommand({ TableName: 'kept', Key: { pk: { S: 'D-9' } } }));
    expect(Item?.pk?.S).toBe('D-9');
    again.destroy();
    await second.stop();
  });
});

describe('start-up failures', () => {
  const originalPath = process.env.PATH;
  afterEach(() => {
    process.env.PATH = originalPath;
  });

  it('refuses a port another program holds, naming the port', async () => {
    const blocker = createServer().listen(0, '0.0.0.0');
    await once(blocker, 'listening');
    const address = blocker.address();
    const port = address !== null && typeof address === 'object' ? address.port : 0;
    try {
      expect(await isPortFree(port)).toBe(false);
      await expect(startSesLocal({ port })).rejects.toThrow(PortInUseError);
      await expect(startDynamoDbLocal({ port })).rejects.toThrow(
        new RegExp(`DynamoDB Local cannot start: port ${port}`),
      );
    } finally {
      blocker.close();
    }
  });

  /** Puts a fake `java` first on PATH: it prints `versionLine` for `-version` and otherwise runs `body`. */
  async function fakeJava(versionLine: string, body: string): Promise<void> {
    const dir = await temporaryDir();
    const script = join(dir, 'java');
    await writeFile(
      script,
      `#!/bin/sh\nif [ "$1" = "-version" ]; then echo '${versionLine}' >&2; exit 0; fi\n${body}\n`,
    );
    await chmod(script, 0o755);
    process.env.PATH = `${dir}:${originalPath}`;
  }

  it('asks for a Java 17+ runtime when java is missing', async () => {
    process.env.PATH = await temporaryDir();
    const start = startDynamoDbLocal({ port: await freePort() });
    await expect(start).rejects.toBeInstanceOf(JavaRuntimeMissingError);
    await expect(start).rejects.toThrow(
      /Java 17\+ runtime on PATH, but no `java` was found.*apt-get install -y default-jre/,
    );
  });

  it('asks for a Java 17+ runtime when java is too old', async () => {
    await fakeJava('java version "1.8.0_392"', 'exit 1');
    await expect(startDynamoDbLocal({ port: await freePort() })).rejects.toThrow(/Java 17\+.*1\.8\.0_392/);
  });

  it('reports an early exit with the tail of the process stderr', async () => {
    await fakeJava(
      'openjdk version "21.0.2" 2024-01-16',
      'echo "Exception in thread main: disk is full" >&2\necho "\tat com.example.Frame(Frame.java:1)" >&2\nexit 3',
    );
    const start = startDynamoDbLocal({ port: await freePort() });
    await expect(start).rejects.toBeInstanceOf(EmulatorStartError);
    await expect(start).rejects.toThrow(
      /DynamoDB Local exited \(3\) before it answered on .*\nIts stderr ended with:\nException in thread main: disk is full$/,
    );
  });
});

describe('a parent that goes away without stopping its emulators', () => {
  // Both emulators in the SIGKILL case: the second child must not hold the first one's watchdog pipe open.
  it.each([
    { how: 'exits', ending: 'process.exit(0);', emulators: ['ses'] },
    { how: 'is killed by SIGTERM', ending: "process.kill(process.pid, 'SIGTERM');", emulators: ['ses'] },
    { how: 'is killed by SIGKILL', ending: "process.kill(process.pid, 'SIGKILL');", emulators: ['ses', 'dynamodb'] },
  ])('takes them down when it $how', { timeout: 120_000 }, async ({ ending, emulators }) => {
    const ports = await Promise.all(emulators.map(() => freePort()));
    const starts = emulators.map((emulator, i) =>
      emulator === 'ses' ? `startSesLocal({ port: ${ports[i]} })` : `startDynamoDbLocal({ port: ${ports[i]} })`,
    );
    const script = [
      `import { startDynamoDbLocal, startSesLocal } from ${JSON.stringify(EMULATORS_MODULE)};`,
      `await Promise.all([${starts.join(', ')}]);`,
      `process.stdout.write('ready', () => { ${ending} });`,
    ].join('\n');
    const parent = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    parent.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    await once(parent, 'exit');
    expect(output).toBe('ready');
    for (const port of ports) {
      expect(await eventually(() => isPortFree(port))).toBe(true);
    }
  });
});
