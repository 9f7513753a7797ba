import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  OAuthScope,
  StandardThreatProtectionMode,
  UserPool,
  type UserPoolClient,
  type UserPoolDomain,
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';

/** Properties of the board's login. */
export interface BoardLoginProps {
  /** The board's login callback, `<public base URL>/board/callback` (https). */
  readonly callbackUrl: string;
  /** Where the hosted UI's sign-out returns to, `<public base URL>/board`. */
  readonly signOutUrl: string;
  /** The hosted UI's domain prefix (`<prefix>.auth.<region>.amazoncognito.com`). @default stageflow-<account id> */
  readonly domainPrefix?: string;
}

/**
 * Who may open the board: a Cognito user pool (users are invited by an admin, no self sign-up; MFA required), its
 * hosted UI domain, and a public app client for the authorization code flow with PKCE. The board's function verifies
 * the pool's access tokens itself on every request (functions/board/login.ts).
 */
export class BoardLogin extends Construct {
  readonly userPool: UserPool;
  readonly client: UserPoolClient;
  readonly domain: UserPoolDomain;

  constructor(scope: Construct, id: string, props: BoardLoginProps) {
    super(scope, id);
    this.userPool = new UserPool(this, 'Users', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireDigits: true,
        requireLowercase: true,
        requireUppercase: true,
        requireSymbols: true,
      },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: true,
      // The users are people's accounts: keep them if the stack goes.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.domain = this.userPool.addDomain('HostedUi', {
      cognitoDomain: { domainPrefix: props.domainPrefix ?? `stageflow-${Stack.of(this).account}` },
    });
    this.client = this.userPool.addClient('Board', {
      generateSecret: false,
      authFlows: {},
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL],
        callbackUrls: [props.callbackUrl],
        logoutUrls: [props.signOutUrl],
      },
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(1),
    });
  }

  /** The hosted UI's base URL, e.g. `https://stageflow-123.auth.us-east-1.amazoncognito.com`. */
  get baseUrl(): string {
    return this.domain.baseUrl();
  }
}
