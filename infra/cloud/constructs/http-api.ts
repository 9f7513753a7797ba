import { Names, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, type HttpMethod, type HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Properties of the HTTP API. */
export interface StageflowHttpApiProps {
  /** Steady-state requests per second across all routes, before API Gateway answers 429. @default 100 */
  readonly rateLimit?: number;
  /** Requests allowed in a burst above the rate. @default 200 */
  readonly burstLimit?: number;
  /** How long access logs are kept. @default one month */
  readonly logRetention?: RetentionDays;
}

/**
 * Who may call a route: `iam` routes need a SigV4-signed request from a principal allowed `execute-api:Invoke`;
 * `public` routes authenticate each request themselves, and say how in `reason`.
 */
export type RouteAccess = { access: 'iam' } | { access: 'public'; reason: string };

/**
 * The access log line: who asked what and how it went. Never the query string (approval tokens and the Salesforce
 * webhook token travel in it) nor headers (signatures, credentials): `$context.path` is the path without the query.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  routeKey: '$context.routeKey',
  httpMethod: '$context.httpMethod',
  path: '$context.path',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  sourceIp: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
} as const;

/**
 * The HTTP API in front of the functions, on its `$default` stage with throttling and JSON access logs. It is
 * created before the functions so that its URL can be in their environment: that URL is built from the API's id
 * alone, so the functions depend on the API resource while routes depend on the functions — no cycle.
 */
export class StageflowHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  private readonly integrations = new Map<IFunction, HttpLambdaIntegration>();
  private readonly iamAuthorizer = new HttpIamAuthorizer();

  constructor(scope: Construct, id: string, props: StageflowHttpApiProps = {}) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      description: 'Stageflow: CRM webhooks, approval pages and the read API',
      createDefaultStage: false,
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention ?? RetentionDays.ONE_MONTH });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit ?? 100, burstLimit: props.burstLimit ?? 200 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
  }

  /** The API's base URL, ending in `/`. */
  get url(): string {
    return this.stage.url;
  }

  /**
   * Routes `path` for `methods` to `handler` (payload format 2.0: the handler switches on `routeKey`, which is
   * `<METHOD> <path>` exactly as given here).
   */
  addRoute(path: string, methods: HttpMethod[], handler: IFunction, access: RouteAccess): void {
    let integration = this.integrations.get(handler);
    if (!integration) {
      integration = new HttpLambdaIntegration(`${Names.nodeUniqueId(handler.node)}Integration`, handler);
      this.integrations.set(handler, integration);
    }
    const routes = this.api.addRoutes({
      path,
      methods,
      integration,
      authorizer: access.access === 'iam' ? this.iamAuthorizer : undefined,
    });
    if (access.access === 'public') {
      for (const route of routes)
        Validations.of(route).acknowledge({ id: 'AwsSolutions-APIG4', reason: access.reason });
    }
  }
}
