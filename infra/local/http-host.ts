import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { BadRequestError, NotFoundError, PayloadTooLargeError, RequestError } from '../../functions/core/errors.ts';
import { internalError, jsonError } from '../../functions/http/responses.ts';
import { PortInUseError } from './emulators.ts';

/**
 * The local stand-in for API Gateway's HTTP API: a node:http server that hands each request to the same Lambda
 * handlers the cloud runs, as a payload format 2.0 event, and writes their structured result back.
 */

/** A Lambda handler behind an HTTP API route, as deployed. */
export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** One API Gateway route: `<method> <path>` and the function it invokes. */
export interface Route {
  /** HTTP method (any case), or `ANY` for every method. A `GET` route also answers `HEAD`, without a body. */
  method: string;
  /** Literal segments and `{name}` parameters, as in API Gateway: `/webhooks/{source}`, `/health`. */
  path: string;
  handler: HttpHandler;
  /** The function name the handler sees in its Lambda context (and its logs); `stageflow-local` if omitted. */
  functionName?: string;
}

export interface HttpHostOptions {
  /** 0 picks a free port; `url` tells which. */
  port: number;
  /** Interface to listen on; loopback by default, so nothing outside this machine reaches the local stack. */
  host?: string;
  routes: Route[];
  /** Bodies above this many bytes are refused with 413 before they are read; 256 KiB by default. */
  maxBodyBytes?: number;
  /**
   * The sentence of the 413 the host answers itself, when the routes' own limit is lower than `maxBodyBytes` (which
   * then only stands for the platform's limit) and the sender should be told the routes' one.
   */
  tooLargeMessage?: string;
}

export interface HttpHost {
  /** e.g. `http://127.0.0.1:3000` */
  readonly url: string;
  /**
   * Stops serving, at once: the listener closes (new connections are refused), idle keep-alive connections close,
   * a request arriving on an open connection is answered `503` and its connection closed, and requests in flight
   * finish (up to 5 s) without keeping their connection. Resolves once no connection is left.
   */
  close(): Promise<void>;
}

/** A route that exists for the path but not for the method; carries what the `Allow` header lists. */
export class MethodNotAllowedError extends RequestError {
  readonly status = 405;
  readonly code = 'METHOD_NOT_ALLOWED';
  readonly allow: string[];
  constructor(method: string, path: string, allow: string[]) {
    super(`${method} is not allowed on ${path}; use ${allow.join(' or ')}.`);
    this.allow = allow;
  }
}

/** The host is stopping: it serves nothing more, and says so rather than answer as if all were well. */
export class StoppingError extends RequestError {
  readonly status = 503;
  readonly code = 'STOPPING';
  constructor() {
    super('the local stack is stopping and serves no request — start it again with npm start, then retry');
  }
}

/** A route whose path API Gateway would not accept either; raised when the host starts. */
export class InvalidRouteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRouteError';
  }
}

/** The client went away before its request body ended; there is no one left to answer. */
class ClientDisconnectedError extends Error {
  constructor(options?: ErrorOptions) {
    super('the client closed the connection before the request body ended', options);
    this.name = 'ClientDisconnectedError';
  }
}

const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
const DEFAULT_FUNCTION_NAME = 'stageflow-local';
/** API Gateway's integration timeout: a handler's context counts down from it. */
const INTEGRATION_TIMEOUT_MS = 30_000;
const CLOSE_GRACE_MS = 5_000;
/**
 * The content types HTTP APIs pass to Lambda as UTF-8 text; every other body, including form posts and bodies without
 * a content type, arrives base64-encoded, so handlers must decode it here exactly as they will in the cloud.
 */
const TEXT_CONTENT_TYPE = /^\s*(text\/[^;\s]+|application\/(json|xml|javascript))\s*(;|$)/i;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

type Segment = { kind: 'literal'; value: string } | { kind: 'parameter'; name: string };

interface CompiledRoute {
  route: Route;
  method: string;
  routeKey: string;
  segments: Segment[];
}

interface RouteMatch {
  compiled: CompiledRoute;
  pathParameters: Record<string, string>;
}

/**
 * Starts the HTTP host and resolves once it listens.
 *
 * @throws InvalidRouteError for a malformed or duplicate route.
 * @throws PortInUseError when the port is taken.
 */
export async function startHttpHost(options: HttpHostOptions): Promise<HttpHost> {
  const host = options.host ?? '127.0.0.1';
  const limit: BodyLimit = {
    bytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    message: options.tooLargeMessage ?? null,
  };
  const maxBodyBytes = limit.bytes;
  const routes = compileRoutes(options.routes);
  let stopping = false;
  const inFlight = new Set<ServerResponse>();
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    if (stopping) {
      refuse(res, new StoppingError());
      return;
    }
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    void handleRequest(req, res, routes, limit);
  };
  const server = createServer(serve);
  // Answering `Expect: 100-continue` ourselves lets a client skip sending a body that would be refused anyway.
  server.on('checkContinue', (req, res) => {
    if (declaredLength(req) <= maxBodyBytes) {
      res.writeContinue();
    }
    serve(req, res);
  });
  server.listen(options.port, host);
  try {
    await once(server, 'listening');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new PortInUseError('The HTTP API', options.port, host);
    }
    throw error;
  }
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : options.port;
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      if (stopping) return;
      stopping = true;
      for (const res of inFlight) {
        if (!res.headersSent) res.shouldKeepAlive = false;
      }
      const closed = new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      try {
        await closed;
      } finally {
        clearTimeout(force);
      }
    },
  };
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  routes: CompiledRoute[],
  limit: BodyLimit,
): Promise<void> {
  const receivedAt = new Date();
  const requestId = randomUUID();
  const url = req.url ?? '/';
  const queryStart = url.indexOf('?');
  const rawPath = queryStart === -1 ? url : url.slice(0, queryStart);
  const rawQueryString = queryStart === -1 ? '' : url.slice(queryStart + 1);
  const method = (req.method ?? 'GET').toUpperCase();
  const fail = (error: unknown) => {
    console.error(`[http-host] ${method} ${rawPath} (request ${requestId}) failed:`, error);
    writeResult(res, internalError());
  };

  let route: RouteMatch;
  let body: Buffer;
  try {
    if (declaredLength(req) > limit.bytes) {
      throw bodyTooLarge(limit);
    }
    route = matchRoute(routes, method, rawPath);
    body = await readBody(req, limit);
  } catch (error) {
    if (error instanceof ClientDisconnectedError) {
      res.destroy();
    } else if (error instanceof RequestError) {
      refuse(res, error);
    } else {
      fail(error);
    }
    return;
  }

  // Whatever the handler throws is a 500, as in the cloud, where API Gateway only sees that the function failed.
  try {
    const { compiled, pathParameters } = route;
    const event = toEvent({ req, compiled, pathParameters, rawPath, rawQueryString, body, requestId, receivedAt });
    const functionName = compiled.route.functionName ?? DEFAULT_FUNCTION_NAME;
    writeResult(res, await compiled.route.handler(event, lambdaContext(functionName, requestId)));
  } catch (error) {
    fail(error);
  }
}

/** Answers a request the host itself refuses (404, 405, 413, 400) with the JSON error every route uses. */
function refuse(res: ServerResponse, error: RequestError): void {
  const answer = jsonError(error);
  writeResult(res, {
    ...answer,
    headers: {
      ...answer.headers,
      ...(error instanceof MethodNotAllowedError ? { allow: error.allow.join(', ') } : {}),
      // An unread body must not keep the connection busy, nor a keep-alive connection a stopping host: close it.
      ...(error instanceof PayloadTooLargeError || error instanceof StoppingError ? { connection: 'close' } : {}),
    },
  });
}

function compileRoutes(routes: Route[]): CompiledRoute[] {
  const seen = new Set<string>();
  const compiled = routes.map((route): CompiledRoute => {
    if (!route.path.startsWith('/')) {
      throw new InvalidRouteError(`route path '${route.path}' must start with '/'.`);
    }
    const segments = route.path
      .slice(1)
      .split('/')
      .map((segment): Segment => {
        const parameter = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(segment)?.[1];
        if (parameter !== undefined) {
          return { kind: 'parameter', name: parameter };
        }
        if (/[{}]/.test(segment)) {
          throw new InvalidRouteError(
            `route path '${route.path}' has a malformed parameter '${segment}'; write {name}.`,
          );
        }
        return { kind: 'literal', value: segment };
      });
    const method = route.method.toUpperCase();
    const routeKey = `${method} ${route.path}`;
    if (seen.has(routeKey)) {
      throw new InvalidRouteError(`route '${routeKey}' is declared twice; keep one.`);
    }
    seen.add(routeKey);
    return { route, method, routeKey, segments };
  });
  // Like API Gateway, prefer the most specific route: at the first difference, a literal segment beats a parameter.
  return compiled.sort((a, b) => {
    for (let i = 0; i < Math.min(a.segments.length, b.segments.length); i += 1) {
      const difference = Number(a.segments[i]?.kind === 'parameter') - Number(b.segments[i]?.kind === 'parameter');
      if (difference !== 0) {
        return difference;
      }
    }
    return 0;
  });
}

function matchRoute(routes: CompiledRoute[], method: string, rawPath: string): RouteMatch {
  const requestSegments = rawPath.slice(1).split('/');
  const candidates = routes.flatMap((compiled) => {
    const pathParameters = matchPath(compiled.segments, requestSegments);
    return pathParameters === undefined ? [] : [{ compiled, pathParameters }];
  });
  if (candidates.length === 0) {
    throw new NotFoundError(`No route matches ${method} ${rawPath}; check the path against the API's routes.`);
  }
  const match =
    candidates.find(({ compiled }) => compiled.method === method || compiled.method === 'ANY') ??
    (method === 'HEAD' ? candidates.find(({ compiled }) => compiled.method === 'GET') : undefined);
  if (match === undefined) {
    const allow = new Set(
      candidates.flatMap(({ compiled }) => (compiled.method === 'GET' ? ['GET', 'HEAD'] : [compiled.method])),
    );
    throw new MethodNotAllowedError(method, rawPath, [...allow]);
  }
  return match;
}

function matchPath(segments: Segment[], requestSegments: string[]): Record<string, string> | undefined {
  if (segments.length !== requestSegments.length) {
    return undefined;
  }
  const pathParameters: Record<string, string> = {};
  for (const [i, segment] of segments.entries()) {
    const value = requestSegments[i] ?? '';
    if (segment.kind === 'literal') {
      if (segment.value !== value) {
        return undefined;
      }
    } else if (value === '') {
      return undefined;
    } else {
      pathParameters[segment.name] = decodePathSegment(value);
    }
  }
  return pathParameters;
}

function decodePathSegment(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch (error) {
    throw new BadRequestError(
      'BAD_REQUEST',
      `The path segment '${value}' is not valid percent-encoding; encode it with encodeURIComponent.`,
      [],
      { cause: error },
    );
  }
}

function declaredLength(req: IncomingMessage): number {
  const header = req.headers['content-length'];
  return header === undefined ? 0 : Number(header);
}

interface BodyLimit {
  bytes: number;
  /** What the 413 says instead of naming `bytes`. */
  message: string | null;
}

function bodyTooLarge(limit: BodyLimit): PayloadTooLargeError {
  return new PayloadTooLargeError(
    limit.message ?? `The request body is larger than ${limit.bytes} bytes; send a smaller body.`,
  );
}

/** Reads the whole body, or rejects as soon as it grows past the limit (the rest is then never buffered). */
function readBody(req: IncomingMessage, limit: BodyLimit): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanUp = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit.bytes) {
        cleanUp();
        reject(bodyTooLarge(limit));
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => {
      cleanUp();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error?: Error) => {
      cleanUp();
      reject(new ClientDisconnectedError({ cause: error }));
    };
    const onClose = () => onError();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

interface EventSource {
  req: IncomingMessage;
  compiled: CompiledRoute;
  pathParameters: Record<string, string>;
  rawPath: string;
  rawQueryString: string;
  body: Buffer;
  requestId: string;
  receivedAt: Date;
}

/** The request as API Gateway's HTTP API (payload format 2.0, `$default` stage) hands it to Lambda. */
function toEvent(source: EventSource): APIGatewayProxyEventV2 {
  const { req, compiled, pathParameters, rawPath, rawQueryString, body, requestId, receivedAt } = source;
  const headers = new Map<string, string>();
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase();
    const value = req.rawHeaders[i + 1] ?? '';
    if (name === 'cookie') {
      cookies.push(...value.split(';').flatMap((cookie) => (cookie.trim() === '' ? [] : [cookie.trim()])));
    } else {
      const previous = headers.get(name);
      headers.set(name, previous === undefined ? value : `${previous},${value}`);
    }
  }
  const query = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    const previous = query.get(name);
    query.set(name, previous === undefined ? value : `${previous},${value}`);
  }
  const isText = TEXT_CONTENT_TYPE.test(headers.get('content-type') ?? '');
  const domainName = headers.get('host') ?? 'localhost';
  return {
    version: '2.0',
    routeKey: compiled.routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers: Object.fromEntries(headers),
    ...(query.size > 0 ? { queryStringParameters: Object.fromEntries(query) } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        // A HEAD request runs the GET route's handler; telling it GET keeps it on its read-only path.
        method: compiled.method === 'ANY' ? (req.method ?? 'GET').toUpperCase() : compiled.method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
        userAgent: headers.get('user-agent') ?? '',
      },
      requestId,
      routeKey: compiled.routeKey,
      stage: '$default',
      time: commonLogTime(receivedAt),
      timeEpoch: receivedAt.getTime(),
    },
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

/** API Gateway's request time format, e.g. `12/Mar/2026:19:03:58 +0000`. */
function commonLogTime(date: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

/**
 * A Lambda context as the runtime gives one to a handler: the function's name, this invocation's request id, and a
 * clock that counts down from `timeoutMs`. The callback-style methods throw: Stageflow's handlers return promises.
 */
export function lambdaContext(
  functionName: string,
  awsRequestId = randomUUID(),
  timeoutMs = INTEGRATION_TIMEOUT_MS,
): Context {
  const deadline = Date.now() + timeoutMs;
  const callbackStyle = () => {
    throw new Error('context.done/succeed/fail are not supported: return a promise from the handler instead.');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: callbackStyle,
    fail: callbackStyle,
    succeed: callbackStyle,
  };
}

/** Writes a structured result as API Gateway does: `cookies` become `Set-Cookie` headers, base64 bodies are decoded. */
function writeResult(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    headers[name.toLowerCase()] = String(value);
  }
  if (result.cookies !== undefined && result.cookies.length > 0) {
    headers['set-cookie'] = result.cookies;
  }
  headers['content-length'] = String(body.length);
  // writeHead validates every header before anything is sent, so a bad one still leaves room for the 500.
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(body);
}
