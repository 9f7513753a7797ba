import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

/**
 * The local mail service: aws-ses-v2-local, whose store is kept in a file when one is given, the way SES outlives a
 * crash of the process that sent through it. Each accepted email is appended to the file before the service
 * answers the send, and read back on start, so the mail viewer and the mail log (`/store`) still hold the mail sent
 * before a restart, a `kill -9` included.
 *
 * With `--crash-after <n>` (fault injection for tests) it kills its parent, the stack's process, with SIGKILL right
 * after it accepted the n-th email and before it answers: the stack dies between an email's send and its done-mark.
 *
 * Run as `node --import tsx infra/local/mail-service.ts --host <host> --port <port> [--mail-file <path>]
 * [--crash-after <n>]`.
 */

/** The library's store module, whose functions this process replaces. */
type StoreModule = { -readonly [K in keyof LibraryStore]: LibraryStore[K] };
type LibraryStore = typeof import('aws-ses-v2-local/dist/store.js');
type StoredEmail = Parameters<StoreModule['saveEmail']>[0];

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    'mail-file': { type: 'string' },
    'crash-after': { type: 'string' },
  },
});
const require = createRequire(import.meta.url);
// The library's own module object: its handlers call `saveEmail` and `clearStore` through it, so replacing them
// here is seen by every send.
const store = require('aws-ses-v2-local/dist/store.js') as StoreModule;
const startServer = (require('aws-ses-v2-local') as { default: (config: { host?: string; port?: number }) => unknown })
  .default;

const mailFile = values['mail-file'];
const crashAfter = Number(values['crash-after'] ?? 'NaN');
let accepted = 0;
if (mailFile !== undefined) {
  const kept = existsSync(mailFile) ? readFileSync(mailFile, 'utf8').split('\n').filter(Boolean) : [];
  // A line cut short by a kill during its write was never answered: the sender retries that email.
  store.getStoreReadonly().emails.push(...kept.flatMap((line) => parsedEmail(line)));
}
const saveEmail = store.saveEmail;
store.saveEmail = (email: StoredEmail) => {
  if (mailFile !== undefined) appendFileSync(mailFile, `${JSON.stringify(email)}\n`);
  saveEmail(email);
  accepted += 1;
  if (accepted === crashAfter) process.kill(process.ppid, 'SIGKILL');
};
const clearStore = store.clearStore;
store.clearStore = () => {
  clearStore();
  if (mailFile !== undefined) writeFileSync(mailFile, '');
};
await startServer({ host: values.host, port: Number(values.port) });

function parsedEmail(line: string): StoredEmail[] {
  try {
    return [JSON.parse(line) as StoredEmail];
  } catch {
    return [];
  }
}
