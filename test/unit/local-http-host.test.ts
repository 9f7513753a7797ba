import { once } from 'node:events';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { NotFoundError } from '../../functions/core/errors.ts';
import { internalError } from '../../functions/http/responses.ts';
import { PortInUseError } from '../../infra/local/emulators.ts';
import { type HttpHost, InvalidRouteError, type Route, startHttpHost } from '../../infra/local/http-host.ts';

const MAX_BODY_BYTES = 1024;
/** The same 500 body as the handlers' own. */
const INTERNAL_ERROR = JSON.parse(internalError().body ?? '');

interface Invocation {
  event: APIGatewayProxyEventV2;
  context: Context;
}

const invocations: Invocation[] = [];

/** A handler that records what it was given and answers with `result`. */
function recording(result: (event: APIGatewayProxyEventV2) => APIGatewayProxyStructuredResultV2): Route['handler'] {
  return async (event, context) => {
    invocations.push({ event, context });
    return result(event);
  };
}

const json = (statusCode: number, payload: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(payload),
});

const routes: Route[] = [
  {
    method: 'POST',
    path: '/webhooks/{source}',
    functionName: 'stageflow-webhook',
    handler: recording(() => ({
      statusCode: 202,
      headers: { 'Content-Type': 'application/json', 'x-answered-by': 'webhook', 'x-count': 3 },
      body: '{"outcome":"applied"}',
      cookies: ['a=1; Path=/', 'b=2; HttpOnly'],
    })),
  },
  { method: 'GET', path: '/deals/{dealId}', handler: recording((event) => json(200, event.pathParameters)) },
  { method: 'GET', path: '/deals/search', handler: recording(() => json(200, { route: 'search' })) },
  { method: 'GET', path: '/approvals/{approvalId}', handler: recording(() => json(200, { page: 'review' })) },
  { method: 'POST', path: '/approvals/{approvalId}', handler: recording(() => json(200, { page: 'decided' })) },
  { method: 'GET', path: '/health', handler: recording(() => json(200, { status: 'ok' })) },
  { method: 'ANY', path: '/echo', handler: recording((event) => json(200, event.queryStringParameters ?? {})) },
  {
    method: 'GET',
    path: '/logo',
    handler: recording(() => ({
      statusCode: 200,
      body: Buffer.from([0, 255, 1]).toString('base64'),
      isBase64Encoded: true,
    })),
  },
  {
    method: 'GET',
    path: '/boom',
    handler: async () => {
      throw new Error('secret-detail: the table password is hunter2');
    },
  },
  {
    method: 'GET',
    path: '/refusing',
    handler: async () => {
      throw new NotFoundError('a handler should answer its refusals, not throw them');
    },
  },
  { method: 'GET', path: '/bad-header', handler: recording(() => ({ statusCode: 200, headers: { 'x-bad': 'a\nb' } })) },
];

let host: HttpHost;

beforeAll(async () => {
  host = await startHttpHost({ port: 0, routes, maxBodyBytes: MAX_BODY_BYTES });
});

afterAll(async () => {
  await host.close();
});

afterEach(() => {
  invocations.length = 0;
  vi.restoreAllMocks();
});

function lastInvocation(): Invocation {
  const last = invocations.at(-1);
  if (last === undefined) {
    throw new Error('no handler was invoked');
  }
  return last;
}

/** A request through node:http, which (unlike fetch) can repeat a header line. */
function rawRequest(
  path: string,
  options: { method?: string; headers?: string[]; body?: string; agent?: Agent } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(`${host.url}${path}`, {
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: options.agent,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket }),
      );
    });
    req.end(options.body);
  });
}

describe('the event handed to the handler', () => {
  it('is an HTTP API payload 2.0 event with the route, path parameters, query, headers and text body', async () => {
    const body = JSON.stringify({ eventId: 'evt-1', dealId: 'D-1' });
    const response = await fetch(`${host.url}/webhooks/generic?b=2&a=1&a=3&empty=`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Stageflow-Signature': 't=1,v1=ab',
        Cookie: 'session=s1; theme=dark',
      },
      body,
    });
    expect(response.status).toBe(202);

    const { event } = lastInvocation();
    expect(event).toEqual({
      version: '2.0',
      routeKey: 'POST /webhooks/{source}',
      rawPath: '/webhooks/generic',
      rawQueryString: 'b=2&a=1&a=3&empty=',
      cookies: ['session=s1', 'theme=dark'],
      headers: expect.objectContaining({
        'content-type': 'application/json',
        'stageflow-signature': 't=1,v1=ab',
        'content-length': String(Buffer.byteLength(body)),
        host: new URL(host.url).host,
      }),
      queryStringParameters: { a: '1,3', b: '2', empty: '' },
      pathParameters: { source: 'generic' },
      requestContext: {
        accountId: 'local',
        apiId: 'local',
        domainName: new URL(host.url).host,
        domainPrefix: '127',
        http: {
          method: 'POST',
          path: '/webhooks/generic',
          protocol: 'HTTP/1.1',
          sourceIp: '127.0.0.1',
          userAgent: event.headers['user-agent'],
        },
        requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        routeKey: 'POST /webhooks/{source}',
        stage: '$default',
        time: expect.stringMatching(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/),
        timeEpoch: expect.any(Number),
      },
      body,
      isBase64Encoded: false,
    });
    expect(event.headers).not.toHaveProperty('cookie');
    expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(60_000);
  });

  it('joins a repeated header with commas and splits every Cookie header into cookies', async () => {
    const response = await rawRequest('/health', {
      // A header array replaces Node's defaults, Host included.
      headers: [
        'Host',
        new URL(host.url).host,
        'X-Forwarded-For',
        '10.0.0.1',
        'x-forwarded-for',
        '10.0.0.2',
        'Cookie',
        'a=1',
        'cookie',
        'b=2; c=3',
      ],
    });
    expect(response.status).toBe(200);
    const { event } = lastInvocation();
    expect(event.headers['x-forwarded-for']).toBe('10.0.0.1,10.0.0.2');
    expect(event.cookies).toEqual(['a=1', 'b=2', 'c=3']);
  });

  it('base64-encodes a form post, as HTTP APIs do for every non-text content type', async () => {
    const form = 'token=abc&decision=approve&comment=ok%21';
    await fetch(`${host.url}/approvals/apr-1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    const { event } = lastInvocation();
    expect(event.routeKey).toBe('POST /approvals/{approvalId}');
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64').toString('utf8')).toBe(form);
  });

  it.each([
    ['text/xml; charset=utf-8', false],
    ['application/json', false],
    ['application/xml', false],
    ['text/plain', false],
    ['application/octet-stream', true],
    ['multipart/form-data; boundary=x', true],
  ])('passes a %s body with isBase64Encoded %s', async (contentType, base64) => {
    await fetch(`${host.url}/webhooks/salesforce`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: '<a>é</a>',
    });
    const { event } = lastInvocation();
    expect(event.isBase64Encoded).toBe(base64);
    expect(base64 ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : event.body).toBe('<a>é</a>');
  });

  it('leaves out body, cookies, query and path parameters when the request has none', async () => {
    await fetch(`${host.url}/health`);
    const { event } = lastInvocation();
    expect(event.isBase64Encoded).toBe(false);
    for (const absent of ['body', 'cookies', 'queryStringParameters', 'pathParameters']) {
      expect(event).not.toHaveProperty(absent);
    }
    expect(event.routeKey).toBe('GET /health');
  });

  it('decodes path parameters but keeps rawPath as sent', async () => {
    const response = await fetch(`${host.url}/deals/D%2F1%20x`);
    expect(await response.json()).toEqual({ dealId: 'D/1 x' });
    expect(lastInvocation().event.rawPath).toBe('/deals/D%2F1%20x');
  });

  it('round-trips any path parameter and any query string', async () => {
    await fc.assert(
      fc.asyncProperty(
        // fetch resolves the dot segments '.' and '..' away before anything is sent.
        fc.string({ minLength: 1, maxLength: 20 }).filter((id) => id !== '.' && id !== '..'),
        fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 8 })), { maxLength: 5 }),
        async (dealId, pairs) => {
          const query = new URLSearchParams(pairs);
          const suffix = query.size > 0 ? `?${query}` : '';
          const response = await fetch(`${host.url}/deals/${encodeURIComponent(dealId)}${suffix}`);
          const { event } = lastInvocation();
          const expected = new Map<string, string>();
          for (const [name, value] of pairs) {
            const previous = expected.get(name);
            expected.set(name, previous === undefined ? value : `${previous},${value}`);
          }
          // A literal route wins over the parameter route for exactly its own segment.
          const expectedRoute = dealId === 'search' ? 'GET /deals/search' : 'GET /deals/{dealId}';
          return (
            response.status === 200 &&
            event.routeKey === expectedRoute &&
            (dealId === 'search' || event.pathParameters?.dealId === dealId) &&
            event.rawQueryString === query.toString() &&
            JSON.stringify(event.queryStringParameters ?? {}) === JSON.stringify(Object.fromEntries(expected))
          );
        },
      ),
      { numRuns: 50 },
    );
  });

  it('prefers a literal route over a parameter route', async () => {
    const response = await fetch(`${host.url}/deals/search`);
    expect(await response.json()).toEqual({ route: 'search' });
    expect(lastInvocation().event.routeKey).toBe('GET /deals/search');
  });

  it('gives the handler a Lambda context for this request', async () => {
    await fetch(`${host.url}/webhooks/hubspot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '[]',
    });
    const { event, context } = lastInvocation();
    expect(context.functionName).toBe('stageflow-webhook');
    expect(context.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:stageflow-webhook');
    expect(context.awsRequestId).toBe(event.requestContext.requestId);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(30_000);
    expect(() => context.succeed('done')).toThrow(/return a promise/);
  });

  it('uses a fresh request id per request', async () => {
    await Promise.all([fetch(`${host.url}/health`), fetch(`${host.url}/health`)]);
    const [first, second] = invocations.map(({ event }) => event.requestContext.requestId);
    expect(first).not.toBe(second);
  });
});

describe('the answer written back', () => {
  it('carries the status, headers, body and one Set-Cookie per cookie', async () => {
    const response = await fetch(`${host.url}/webhooks/generic`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(202);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-answered-by')).toBe('webhook');
    expect(response.headers.get('x-count')).toBe('3');
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(await response.text()).toBe('{"outcome":"applied"}');
  });

  it('decodes a base64 result body to bytes', async () => {
    const response = await fetch(`${host.url}/logo`);
    expect([...new Uint8Array(await response.arrayBuffer())]).toEqual([0, 255, 1]);
  });

  it('answers HEAD on a GET route from the GET handler, without a body', async () => {
    const get = await fetch(`${host.url}/deals/D-7`);
    const getBody = await get.text();
    const head = await fetch(`${host.url}/deals/D-7`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(getBody)));
    expect(await head.text()).toBe('');
    const { event } = lastInvocation();
    expect(event.routeKey).toBe('GET /deals/{dealId}');
    expect(event.requestContext.http.method).toBe('GET');
  });

  it('passes every method to an ANY route', async () => {
    const response = await fetch(`${host.url}/echo?x=1`, { method: 'DELETE' });
    expect(await response.json()).toEqual({ x: '1' });
    expect(lastInvocation().event.routeKey).toBe('ANY /echo');
    expect(lastInvocation().event.requestContext.http.method).toBe('DELETE');
  });
});

describe('refusals', () => {
  it('answers 404 with a JSON error for a path no route matches', async () => {
    for (const path of ['/nope', '/deals', '/deals/D-1/extra', '/health/', '/webhooks/']) {
      const response = await fetch(`${host.url}${path}`);
      expect(response.status).toBe(404);
      const payload = (await response.json()) as { error: { code: string; message: string } };
      expect(payload).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining(path), issues: [] } });
    }
    expect(invocations).toHaveLength(0);
  });

  it('answers 405 with Allow when the path exists but not for the method', async () => {
    const health = await fetch(`${host.url}/health`, { method: 'POST', body: '{}' });
    expect(health.status).toBe(405);
    expect(health.headers.get('allow')).toBe('GET, HEAD');
    expect(await health.json()).toEqual({
      error: { code: 'METHOD_NOT_ALLOWED', message: 'POST is not allowed on /health; use GET or HEAD.', issues: [] },
    });
    const approval = await fetch(`${host.url}/approvals/apr-1`, { method: 'DELETE' });
    expect(approval.status).toBe(405);
    expect(approval.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(invocations).toHaveLength(0);
  });

  it('answers 400 for a path parameter that is not valid percent-encoding', async () => {
    const response = await fetch(`${host.url}/deals/%E0%A4%A`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
  });

  it('answers 413 for a declared body over the limit without invoking the handler', async () => {
    const response = await fetch(`${host.url}/webhooks/generic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(64 * 1024),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        message: `The request body is larger than ${MAX_BODY_BYTES} bytes; send a smaller body.`,
        issues: [],
      },
    });
    expect(invocations).toHaveLength(0);
  });

  it('answers 413 for a chunked body once it grows past the limit', async () => {
    const chunk = new TextEncoder().encode('y'.repeat(512));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 8) {
          controller.close();
        } else {
          sent += 1;
          controller.enqueue(chunk);
        }
      },
    });
    const response = await fetch(`${host.url}/webhooks/generic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(invocations).toHaveLength(0);
  });

  it('accepts a body of exactly the limit and refuses one byte more', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: MAX_BODY_BYTES - 64, max: MAX_BODY_BYTES + 64 }), async (size) => {
        const response = await fetch(`${host.url}/webhooks/generic`, { method: 'POST', body: 'z'.repeat(size) });
        await response.arrayBuffer();
        return response.status === (size > MAX_BODY_BYTES ? 413 : 202);
      }),
      { numRuns: 40 },
    );
  });

  it('answers 500 with no detail when the handler throws, and logs the error to stderr', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const response = await fetch(`${host.url}/boom`);
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual(INTERNAL_ERROR);
    expect(text).not.toMatch(/secret-detail|hunter2|at /);
    expect(logged).toHaveBeenCalledTimes(1);
    expect(logged.mock.calls[0]).toContainEqual(
      expect.objectContaining({ message: expect.stringContaining('hunter2') }),
    );
  });

  it('answers 500 when the handler throws even a request error, as API Gateway does for a failed function', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const response = await fetch(`${host.url}/refusing`);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual(INTERNAL_ERROR);
    expect(logged).toHaveBeenCalledTimes(1);
  });

  it('answers 500 when the handler returns a header value that cannot be sent', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const response = await fetch(`${host.url}/bad-header`);
    expect(response.status).toBe(500);
    expect(response.headers.get('x-bad')).toBeNull();
  });
});

describe('the server', () => {
  it('keeps connections alive between requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await rawRequest('/health', { agent });
      const second = await rawRequest('/health', { agent });
      expect([first.status, second.status]).toEqual([200, 200]);
      expect(second.reusedSocket).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('answers many concurrent requests, each with its own event', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `D-${i}`);
    const answers = await Promise.all(
      ids.map(async (dealId) => {
        const response = await fetch(`${host.url}/deals/${dealId}`);
        return ((await response.json()) as { dealId: string }).dealId;
      }),
    );
    expect(answers).toEqual(ids);
    expect(new Set(invocations.map(({ event }) => event.requestContext.requestId)).size).toBe(ids.length);
  });

  it('drops a request whose client leaves mid-body, without invoking the handler or logging an error', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const socket = connect(Number(new URL(host.url).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      'POST /webhooks/generic HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"a"',
    );
    socket.destroy();
    await once(socket, 'close');
    expect((await fetch(`${host.url}/health`)).status).toBe(200);
    expect(invocations.map(({ event }) => event.routeKey)).toEqual(['GET /health']);
    expect(logged).not.toHaveBeenCalled();
  });

  it('refuses a port that is already taken', async () => {
    const port = Number(new URL(host.url).port);
    await expect(startHttpHost({ port, routes })).rejects.toBeInstanceOf(PortInUseError);
  });

  it.each([
    ['a path without a leading slash', [{ method: 'GET', path: 'health' }]],
    ['a malformed parameter', [{ method: 'GET', path: '/deals/{dealId' }]],
    [
      'a duplicate route',
      [
        { method: 'GET', path: '/health' },
        { method: 'get', path: '/health' },
      ],
    ],
  ])('refuses to start with %s', async (_, declared) => {
    const handler = recording(() => json(200, {}));
    await expect(
      startHttpHost({ port: 0, routes: declared.map((route) => ({ ...route, handler })) }),
    ).rejects.toBeInstanceOf(InvalidRouteError);
  });

  it('stops accepting connections once closed', async () => {
    const other = await startHttpHost({ port: 0, routes });
    expect((await fetch(`${other.url}/health`)).status).toBe(200);
    await other.close();
    await expect(fetch(`${other.url}/health`)).rejects.toThrow();
  });

  it('stops serving at once when closed: new connections refused, idle keep-alive ones closed, the request in flight ends its connection', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    const slow: Route['handler'] = async () => {
      started = true;
      await held;
      return json(200, { done: true });
    };
    const other = await startHttpHost({
      port: 0,
      routes: [...routes, { method: 'GET', path: '/slow', handler: slow }],
    });
    const idle = new Agent({ keepAlive: true, maxSockets: 1 });
    const busy = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = (path: string, agent: Agent) =>
        new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
          request(`${other.url}${path}`, { agent }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
          })
            .on('error', reject)
            .end();
        });
      expect((await get('/health', idle)).status).toBe(200);
      const inFlight = get('/slow', busy);
      await vi.waitFor(() => expect(started).toBe(true));
      const closed = other.close();
      await expect(fetch(`${other.url}/health`)).rejects.toThrow();
      release();
      expect(await inFlight).toEqual({ status: 200, connection: 'close' });
      await closed;
    } finally {
      release();
      idle.destroy();
      busy.destroy();
    }
  });
});
