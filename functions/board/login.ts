import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MiddlewareObj } from '@middy/core';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ENV, optionalEnv } from '../adapters/environment.ts';
import type { HttpResult } from '../http/responses.ts';
import { boardProblemPage } from '../views/board-pages.ts';
import { htmlResponse } from '../views/page.ts';

/**
 * The board's login in the cloud: Cognito's hosted UI with the authorization code flow and PKCE. The session is the
 * access token in an `HttpOnly; Secure; SameSite=Lax` cookie, verified with aws-jwt-verify on every request; a request
 * without a valid one is redirected to the login and gets no deal data. Locally no user pool is configured and the
 * board is open on loopback, like the read API.
 */

export const SESSION_COOKIE = 'stageflow_session';
/** The login attempt in flight: its state, its PKCE verifier and the page to return to. */
export const LOGIN_COOKIE = 'stageflow_login';
export const CALLBACK_ROUTE = 'GET /board/callback';
const LOGIN_SECONDS = 600;

export interface LoginSettings {
  userPoolId: string;
  clientId: string;
  /** The hosted UI's base URL, e.g. `https://stageflow-123.auth.us-east-1.amazoncognito.com`. */
  domain: string;
  /** This API's `/board/callback` URL, as registered on the app client. */
  redirectUri: string;
}

/** The login settings when the board runs behind a user pool (the cloud); null locally. */
export function loginSettingsFromEnvironment(): LoginSettings | null {
  const userPoolId = optionalEnv(ENV.boardUserPoolId);
  const clientId = optionalEnv(ENV.boardClientId);
  const domain = optionalEnv(ENV.boardLoginDomain);
  const base = optionalEnv(ENV.publicBaseUrl);
  if (!userPoolId || !clientId || !domain || !base) return null;
  return { userPoolId, clientId, domain, redirectUri: `${base.replace(/\/+$/, '')}/board/callback` };
}

/** The token verifier for the pool's access tokens issued to the board's client. */
export type AccessTokenVerifier = { verify(token: string): Promise<unknown> };

export function accessTokenVerifier(settings: LoginSettings): AccessTokenVerifier {
  return CognitoJwtVerifier.create({
    userPoolId: settings.userPoolId,
    clientId: settings.clientId,
    tokenUse: 'access',
  });
}

const cookie = (name: string, value: string, maxAge: number) =>
  `${name}=${value}; HttpOnly; Secure; SameSite=Lax; Path=/board; Max-Age=${maxAge}`;

const base64url = (bytes: Buffer) => bytes.toString('base64url');

/** The named cookie of a request (HTTP API payload 2.0 passes them in `cookies`). */
export function readCookie(event: APIGatewayProxyEventV2, name: string): string | undefined {
  for (const entry of event.cookies ?? []) {
    const at = entry.indexOf('=');
    if (at > 0 && entry.slice(0, at).trim() === name) return entry.slice(at + 1).trim();
  }
  return undefined;
}

/** Redirects to the hosted UI's login, remembering the PKCE verifier, the state and the page asked for. */
export function redirectToLogin(event: APIGatewayProxyEventV2, settings: LoginSettings): HttpResult {
  const state = base64url(randomBytes(16));
  const verifier = base64url(randomBytes(32));
  const challenge = base64url(createHash('sha256').update(verifier).digest());
  const asked = `${event.rawPath}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`;
  const returnTo = asked.startsWith('/board') && event.rawPath !== '/board/callback' ? asked : '/board';
  const authorize = new URL('/oauth2/authorize', settings.domain);
  authorize.search = new URLSearchParams({
    response_type: 'code',
    client_id: settings.clientId,
    redirect_uri: settings.redirectUri,
    scope: 'openid email',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  return {
    statusCode: 302,
    headers: { location: authorize.toString(), 'cache-control': 'no-store' },
    cookies: [cookie(LOGIN_COOKIE, `${state}.${verifier}.${base64url(Buffer.from(returnTo))}`, LOGIN_SECONDS)],
    body: '',
  };
}

/**
 * `GET /board/callback?code&state`: checks the state against the login cookie, exchanges the code (with the PKCE
 * verifier) at the token endpoint, verifies the access token and sets the session cookie.
 */
export async function completeLogin(
  event: APIGatewayProxyEventV2,
  settings: LoginSettings,
  verifier: AccessTokenVerifier,
): Promise<HttpResult> {
  const refuse = (why: string) =>
    htmlResponse(400, boardProblemPage('Sign-in failed', `${why} Open the board again to sign in.`));
  const { code, state } = event.queryStringParameters ?? {};
  const [expected, codeVerifier, returnTo] = (readCookie(event, LOGIN_COOKIE) ?? '').split('.');
  if (!code || !state || !expected || !codeVerifier || !returnTo) return refuse('The sign-in was not started here.');
  const a = Buffer.from(state);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return refuse('The sign-in answer does not match.');
  const response = await fetch(new URL('/oauth2/token', settings.domain), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: settings.clientId,
      code,
      redirect_uri: settings.redirectUri,
      code_verifier: codeVerifier,
    }).toString(),
  });
  if (!response.ok) return refuse('The sign-in code was refused.');
  const tokens = (await response.json()) as { access_token?: string; expires_in?: number };
  if (!tokens.access_token) return refuse('The sign-in gave no session.');
  try {
    await verifier.verify(tokens.access_token);
  } catch {
    return refuse('The sign-in session is not valid.');
  }
  const target = Buffer.from(returnTo, 'base64url').toString('utf8');
  return {
    statusCode: 302,
    headers: { location: target.startsWith('/board') ? target : '/board', 'cache-control': 'no-store' },
    cookies: [
      cookie(SESSION_COOKIE, tokens.access_token, Math.max(60, Math.min(tokens.expires_in ?? 3600, 86_400))),
      cookie(LOGIN_COOKIE, '', 0),
    ],
    body: '',
  };
}

/**
 * Middleware in front of every board page: the login callback is answered here; any other request needs a session
 * cookie whose access token verifies, or it is redirected to the login before the page (and its data) is built.
 * Without settings (locally) it lets every request through.
 */
export function boardLogin(
  settings: LoginSettings | null,
  verifier: AccessTokenVerifier | null = settings && accessTokenVerifier(settings),
): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  return {
    before: async (request) => {
      if (!settings || !verifier) return;
      const { event } = request;
      if (event.routeKey === CALLBACK_ROUTE) return completeLogin(event, settings, verifier);
      const token = readCookie(event, SESSION_COOKIE);
      if (token) {
        try {
          await verifier.verify(token);
          return;
        } catch {
          // expired or forged: sign in again
        }
      }
      return redirectToLogin(event, settings);
    },
  };
}
