import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { isPortFree } from '../../infra/local/emulators.ts';
import { postGeneric, uniqueId } from '../support/api.ts';
import { freePorts, type StackProcess, startStackProcess } from '../support/stack-process.ts';

/**
 * Stopping `npm start` the way a person does: Ctrl-C in the terminal, which signals the whole foreground process
 * group. The stack stops serving first, then lets the outbox finish, then stops the emulators.
 */

/** One GET: its status, or the network error's code when nothing answered. */
function probe(url: string, agent?: Agent): Promise<number | string> {
  return new Promise((resolve) => {
    request(url, { agent, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
      .on('timeout', function onTimeout(this: ReturnType<typeof request>) {
        this.destroy(new Error('timeout'));
      })
      .end();
  });
}

describe('Ctrl-C on npm start', () => {
  let stack: StackProcess | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  afterAll(async () => {
    agent.destroy();
    await stack?.stop('SIGKILL');
  });

  it('answers nothing as healthy one second later, exits 0 and leaves no emulator behind', async () => {
    const ports = await freePorts();
    stack = await startStackProcess(ports, ['--in-memory'], 90, true);
    const { api } = stack.urls;
    // A client that keeps its connection open, as browsers and CRM senders do.
    expect(await probe(`${api}/health`, agent)).toBe(200);
    // Work in hand for the outbox: new deals, each with a workflow to start and an owner to email.
    for (let wave = 0; wave < 5; wave += 1) {
      const created = await Promise.all(
        Array.from({ length: 8 }, () =>
          postGeneric({ eventId: uniqueId('E'), dealId: uniqueId('D'), stage: 'identify' }, { api }),
        ),
      );
      expect(created.map(({ status }) => status)).toEqual(Array(8).fill(202));
    }

    const exited = stack.interrupt();
    await sleep(1_000);
    for (const answer of [
      await probe(`${api}/health`, agent),
      await probe(`${api}/health`),
      await probe(`${api}/deals/D-1?pipeline=default`),
    ]) {
      expect(answer === 503 || typeof answer === 'string', `answered ${answer}`).toBe(true);
    }

    expect(await exited).toBe(0);
    for (const port of [ports.PORT, ports.DYNAMODB_PORT, ports.SES_PORT, ports.SFN_PORT]) {
      expect(await isPortFree(Number(port)), `port ${port}`).toBe(true);
    }
    expect(stack.output()).not.toMatch(/INTERNAL|ECONNREFUSED/);
  });
});
