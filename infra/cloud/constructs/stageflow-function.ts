import { resolve } from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import { type IGrantable, type IPrincipal, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  ParamsAndSecretsLayerVersion,
  ParamsAndSecretsVersions,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { functionBundling } from '../bundling.ts';

/** The folder of package.json and package-lock.json, which entries are relative to. */
const PROJECT_ROOT = resolve(import.meta.dirname, '../../..');

/** Properties of a Stageflow function. */
export interface StageflowFunctionProps {
  /** The handler file, relative to the project root, e.g. `functions/webhook/handler.ts` (export `handler`). */
  readonly entry: string;
  /** The Powertools service name, e.g. `stageflow-webhook`: names its logs, traces and metrics. */
  readonly serviceName: string;
  /** The function's own environment, added to the common Powertools and source-map variables. */
  readonly environment: Record<string, string>;
  /** Memory in MB; CPU share grows with it. @default 512 */
  readonly memorySize?: number;
  /** @default 10 seconds: every task is a few DynamoDB, SES or Step Functions calls */
  readonly timeout?: Duration;
  /** How long its logs are kept. @default one month */
  readonly logRetention?: RetentionDays;
  /**
   * Whether it reads Secrets Manager secrets: it then carries the Parameters and Secrets Lambda extension, which it
   * asks over a local port instead of bundling a Secrets Manager client (the grant to read each secret is separate).
   * @default false
   */
  readonly readsSecrets?: boolean;
}

/**
 * The Parameters and Secrets Lambda extension: secrets cached five minutes, as long as the functions' own cache, so
 * a rotation reaches them within that time; a Secrets Manager call that takes over 3 s is answered as an error
 * (the request fails and its sender retries) instead of holding the function to its timeout.
 */
const secretsExtension = () =>
  ParamsAndSecretsLayerVersion.fromVersion(ParamsAndSecretsVersions.V1_0_103, {
    cacheEnabled: true,
    secretsManagerTtl: Duration.minutes(5),
    secretsManagerTimeout: Duration.seconds(3),
  });

/**
 * A Stageflow Lambda function with the defaults every function shares: Node.js 24 on arm64, the bundling of
 * `bundling.ts`, X-Ray tracing, Powertools settings, and its own log group with a retention. Its role starts with
 * nothing but writing to that log group and X-Ray; each grant is added by the stack, for what the function uses.
 */
export class StageflowFunction extends Construct implements IGrantable {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: StageflowFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention ?? RetentionDays.ONE_MONTH });
    // An own role instead of the AWSLambdaBasicExecutionRole managed policy: that policy may write to every log group.
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      entry: resolve(PROJECT_ROOT, props.entry),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: resolve(PROJECT_ROOT, 'package-lock.json'),
      handler: 'handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      role: this.role,
      logGroup: this.logGroup,
      tracing: Tracing.ACTIVE,
      bundling: functionBundling,
      ...(props.readsSecrets ? { paramsAndSecrets: secretsExtension() } : {}),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        POWERTOOLS_METRICS_NAMESPACE: 'Stageflow',
        ...props.environment,
      },
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; AWS requires *.',
    });
  }

  get grantPrincipal(): IPrincipal {
    return this.role;
  }
}
