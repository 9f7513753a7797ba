import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the Parameters and Secrets Lambda extension, from its documented HTTP interface: `GET
 * /secretsmanager/get?secretId=<id>` with the function's session token in `X-Aws-Parameters-Secrets-Token`,
 * answered with the `GetSecretValue` response as JSON, or `400` with a message (unknown secret, wrong token).
 */
export class SecretsExtensionStandIn {
  /** The session token the function must present. */
  readonly sessionToken = `session-${Math.random().toString(36).slice(2)}`;
  /** Every secret id asked for, in order. */
  readonly requests: string[] = [];
  private readonly secrets = new Map<string, Record<string, unknown>>();
  private readonly server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const secretId = url.searchParams.get('secretId') ?? '';
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': status === 200 ? 'application/json' : 'text/plain' });
      response.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (request.method !== 'GET' || url.pathname !== '/secretsmanager/get') return answer(404, 'not found');
    if (request.headers['x-aws-parameters-secrets-token'] !== this.sessionToken) {
      return answer(400, 'missing or wrong X-Aws-Parameters-Secrets-Token');
    }
    this.requests.push(secretId);
    const secret = this.secrets.get(secretId);
    if (!secret) return answer(400, `ResourceNotFoundException: secret ${secretId} not found`);
    answer(200, { ARN: secretId, Name: secretId, SecretString: JSON.stringify(secret), VersionStages: ['AWSCURRENT'] });
  });

  /** Stores `value` (a JSON object) as the secret `secretId`. */
  put(secretId: string, value: Record<string, unknown>): void {
    this.secrets.set(secretId, value);
  }

  /** Listens on a free loopback port; `env` then points a function at it as the extension's layer would. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  /** The variables the extension's layer and Lambda set for the function. */
  get env(): Record<string, string> {
    return {
      PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String((this.server.address() as AddressInfo).port),
      AWS_SESSION_TOKEN: this.sessionToken,
    };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
