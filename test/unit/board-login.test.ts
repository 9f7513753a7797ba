import { createHash, createSign, generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import middy from '@middy/core';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boardLogin, LOGIN_COOKIE, type LoginSettings, SESSION_COOKIE } from '../../functions/board/login.ts';
import type { HttpResult } from '../../functions/http/responses.ts';

const POOL = 'us-east-1_TestPool1';
const CLIENT = 'board-client-id';
const KID = 'test-key';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** An access token as Cognito issues it, signed with the test key (RS256). */
function accessToken(overrides: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const header = part({ alg: 'RS256', kid: KID, typ: 'JWT' });
  const payload = part({
    sub: 'user-1',
    iss: `https://cognito-idp.us-east-1.amazonaws.com/${POOL}`,
    client_id: CLIENT,
    token_use: 'access',
    scope: 'openid email',
    iat: now,
    exp: now + 3600,
    ...overrides,
  });
  const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(privateKey, 'base64url');
  return `${header}.${payload}.${signature}`;
}

const verifier = CognitoJwtVerifier.create({ userPoolId: POOL, clientId: CLIENT, tokenUse: 'access' });
verifier.cacheJwks({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' }] as never });

/** The hosted UI's token endpoint, standing in for Cognito: records what it received and answers with a token. */
let tokenServer: Server;
const received: URLSearchParams[] = [];
let settings: LoginSettings;

beforeAll(async () => {
  tokenServer = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      received.push(form);
      const ok =
        req.url === '/oauth2/token' &&
        form.get('grant_type') === 'authorization_code' &&
        form.get('code') === 'good-code';
      res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          ok ? { access_token: accessToken(), id_token: 'x', expires_in: 3600 } : { error: 'invalid_grant' },
        ),
      );
    });
  });
  tokenServer.listen(0, '127.0.0.1');
  await once(tokenServer, 'listening');
  const { port } = tokenServer.address() as AddressInfo;
  settings = {
    userPoolId: POOL,
    clientId: CLIENT,
    domain: `http://127.0.0.1:${port}`,
    redirectUri: 'https://board.example.com/board/callback',
  };
});

afterAll(() => {
  tokenServer.close();
});

function boardRequest(routeKey: string, path: string, query: Record<string, string> = {}, cookies: string[] = []) {
  return {
    routeKey,
    rawPath: path,
    rawQueryString: new URLSearchParams(query).toString(),
    queryStringParameters: query,
    cookies,
    headers: {},
    requestContext: { http: { method: 'GET', path } },
  } as unknown as APIGatewayProxyEventV2;
}

/** The board's login in front of a page that would show deal data. */
function board() {
  let built = 0;
  const handler = middy<APIGatewayProxyEventV2, HttpResult>()
    .use(boardLogin(settings, verifier))
    .handler(async () => {
      built++;
      return { statusCode: 200, body: 'deal data' };
    });
  return { call: (event: APIGatewayProxyEventV2) => handler(event, {} as Context), built: () => built };
}

const cookieValue = (cookies: string[] | undefined, name: string) =>
  cookies
    ?.find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0]
    ?.slice(name.length + 1) ?? '';

describe('the board login (Cognito hosted UI, authorization code with PKCE)', () => {
  it('redirects a request without a session to the login, with PKCE and state, and builds no page', async () => {
    const page = board();
    const answer = await page.call(
      boardRequest('GET /board/deals/{dealId}', '/board/deals/D-1', { pipeline: 'default' }),
    );
    expect(answer.statusCode).toBe(302);
    expect(answer.body).toBe('');
    expect(page.built()).toBe(0);
    const location = new URL(answer.headers?.location as string);
    expect(location.origin + location.pathname).toBe(`${settings.domain}/oauth2/authorize`);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: CLIENT,
      redirect_uri: settings.redirectUri,
      code_challenge_method: 'S256',
      state: expect.stringMatching(/^[\w-]{20,}$/),
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
    });
    const [login] = answer.cookies ?? [];
    expect(login).toMatch(new RegExp(`^${LOGIN_COOKIE}=`));
    expect(login).toContain('; HttpOnly; Secure; SameSite=Lax; Path=/board; Max-Age=600');
  });

  it('exchanges the code with the PKCE verifier, sets the session cookie and returns to the page asked for', async () => {
    const page = board();
    const login = await page.call(boardRequest('GET /board', '/board', { pipeline: 'default', stale: '1' }));
    const location = new URL(login.headers?.location as string);
    const loginCookie = `${LOGIN_COOKIE}=${cookieValue(login.cookies, LOGIN_COOKIE)}`;
    const callback = await page.call(
      boardRequest(
        'GET /board/callback',
        '/board/callback',
        { code: 'good-code', state: location.searchParams.get('state') ?? '' },
        [loginCookie],
      ),
    );
    expect(callback.statusCode).toBe(302);
    expect(callback.headers?.location).toBe('/board?pipeline=default&stale=1');
    const exchange = received.at(-1);
    expect(exchange?.get('redirect_uri')).toBe(settings.redirectUri);
    const sentVerifier = exchange?.get('code_verifier') ?? '';
    expect(createHash('sha256').update(sentVerifier).digest('base64url')).toBe(
      location.searchParams.get('code_challenge'),
    );
    const session = callback.cookies?.find((c) => c.startsWith(`${SESSION_COOKIE}=`)) ?? '';
    expect(session).toContain('; HttpOnly; Secure; SameSite=Lax; Path=/board; Max-Age=3600');
    expect(page.built()).toBe(0);

    const served = await page.call(
      boardRequest('GET /board', '/board', {}, [`${SESSION_COOKIE}=${cookieValue(callback.cookies, SESSION_COOKIE)}`]),
    );
    expect(served).toMatchObject({ statusCode: 200, body: 'deal data' });
    expect(page.built()).toBe(1);
  });

  it('refuses a callback whose state does not match the login cookie, or whose code is refused', async () => {
    const page = board();
    const login = await page.call(boardRequest('GET /board', '/board'));
    const loginCookie = `${LOGIN_COOKIE}=${cookieValue(login.cookies, LOGIN_COOKIE)}`;
    const state = new URL(login.headers?.location as string).searchParams.get('state') ?? '';
    const forged = await page.call(
      boardRequest('GET /board/callback', '/board/callback', { code: 'good-code', state: 'other' }, [loginCookie]),
    );
    expect(forged.statusCode).toBe(400);
    expect(forged.cookies).toBeUndefined();
    const badCode = await page.call(
      boardRequest('GET /board/callback', '/board/callback', { code: 'bad', state }, [loginCookie]),
    );
    expect(badCode.statusCode).toBe(400);
    expect(page.built()).toBe(0);
  });

  it('redirects to the login when the session token is expired, forged or for another client', async () => {
    const page = board();
    for (const token of [
      accessToken({ exp: Math.floor(Date.now() / 1000) - 10 }),
      accessToken({ client_id: 'another-client' }),
      `${accessToken().slice(0, -4)}AAAA`,
    ]) {
      const answer = await page.call(boardRequest('GET /board', '/board', {}, [`${SESSION_COOKIE}=${token}`]));
      expect(answer.statusCode).toBe(302);
    }
    expect(page.built()).toBe(0);
  });
});
