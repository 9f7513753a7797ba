import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ENV } from '../../functions/adapters/environment.ts';
import type { VersionedPipeline } from '../../functions/core/pipeline-config.ts';
import { StageflowAlarms } from './constructs/alarms.ts';
import { BoardLogin } from './constructs/board-login.ts';
import { DealWorkflow, LIVE_ALIAS, workflowArns } from './constructs/deal-workflow.ts';
import { DigestSchedule } from './constructs/digest-schedule.ts';
import { FailedExecutions } from './constructs/failed-executions.ts';
import { StageflowHttpApi } from './constructs/http-api.ts';
import { MailSending } from './constructs/mail-sending.ts';
import { PipelineVersions } from './constructs/pipeline-versions.ts';
import { StageflowFunction } from './constructs/stageflow-function.ts';
import { grantTableAccess } from './constructs/table-access.ts';
import { WebhookSecrets } from './constructs/webhook-secrets.ts';
import type { StageflowSettings } from './settings.ts';

/** Properties of the stateless stack. */
export interface StageflowAppStackProps extends StackProps {
  /** The table of the data stack. */
  readonly table: ITable;
  /** Every pipeline of `stage-config/`, by id, as loaded and validated. */
  readonly pipelines: ReadonlyMap<string, VersionedPipeline>;
  /** The deployment's settings (SES identity and sender, public URL, alarm topic), from CDK context. */
  readonly settings: StageflowSettings;
}

/**
 * The stateless part of Stageflow: the functions, one deal workflow per pipeline, the HTTP API, the secret, the
 * stored pipeline versions and the operations around them. Replacing anything here loses no deal data.
 */
export class StageflowAppStack extends Stack {
  readonly api: StageflowHttpApi;
  readonly functions: Record<'webhook' | 'approvals' | 'workflow' | 'readApi' | 'board' | 'digest', StageflowFunction>;
  readonly boardLogin: BoardLogin;
  readonly digestSchedule: DigestSchedule;
  readonly workflows: Map<string, DealWorkflow>;
  readonly pipelineVersions: PipelineVersions;

  constructor(scope: Construct, id: string, props: StageflowAppStackProps) {
    super(scope, id, props);
    const { table, pipelines, settings } = props;
    const secrets = new WebhookSecrets(this, 'Secrets');
    const mail = new MailSending(this, 'Mail', {
      identity: settings.sesIdentity,
      mailFrom: settings.mailFrom,
      configurationSetName: settings.sesConfigurationSet,
    });
    this.api = new StageflowHttpApi(this, 'Http');

    const arns = new Map([...pipelines.keys()].map((pipeline) => [pipeline, workflowArns(this, pipeline)]));
    const environment = {
      [ENV.tableName]: table.tableName,
      [ENV.pipelines]: JSON.stringify(Object.fromEntries([...pipelines].map(([id, { version }]) => [id, version]))),
      [ENV.stateMachines]: this.toJsonString(Object.fromEntries([...arns].map(([id, { alias }]) => [id, alias]))),
      [ENV.publicBaseUrl]: settings.publicBaseUrl ?? this.api.url,
      [ENV.mailFrom]: settings.mailFrom,
      [ENV.sesConfigurationSet]: mail.configurationSetName,
    };
    const withSecrets = { ...environment, [ENV.secretsArn]: secrets.secret.secretArn };
    const publicBaseUrl = (settings.publicBaseUrl ?? this.api.url).replace(/\/+$/, '');
    this.boardLogin = new BoardLogin(this, 'BoardLogin', {
      callbackUrl: `${publicBaseUrl}/board/callback`,
      signOutUrl: `${publicBaseUrl}/board`,
    });
    this.functions = {
      webhook: new StageflowFunction(this, 'Webhook', {
        entry: 'functions/webhook/handler.ts',
        serviceName: 'stageflow-webhook',
        environment: withSecrets,
      }),
      approvals: new StageflowFunction(this, 'Approvals', {
        entry: 'functions/approvals/handler.ts',
        serviceName: 'stageflow-approvals',
        environment: withSecrets,
      }),
      workflow: new StageflowFunction(this, 'Workflow', {
        entry: 'functions/workflow/handler.ts',
        serviceName: 'stageflow-workflow',
        environment: withSecrets,
      }),
      readApi: new StageflowFunction(this, 'ReadApi', {
        entry: 'functions/read-api/handler.ts',
        serviceName: 'stageflow-read-api',
        environment,
      }),
      board: new StageflowFunction(this, 'Board', {
        entry: 'functions/board/handler.ts',
        serviceName: 'stageflow-board',
        environment: {
          ...environment,
          [ENV.boardUserPoolId]: this.boardLogin.userPool.userPoolId,
          [ENV.boardClientId]: this.boardLogin.client.userPoolClientId,
          [ENV.boardLoginDomain]: this.boardLogin.baseUrl,
        },
      }),
      digest: new StageflowFunction(this, 'Digest', {
        entry: 'functions/digest/handler.ts',
        serviceName: 'stageflow-digest',
        environment,
        timeout: Duration.minutes(5),
      }),
    };
    const { webhook, approvals, workflow, readApi, board, digest } = this.functions;

    this.workflows = new Map(
      [...pipelines].map(([pipeline, { config }]) => [
        pipeline,
        new DealWorkflow(this, `Workflow-${pipeline}`, { config, workflowFunction: workflow.function }),
      ]),
    );

    // Each function gets what it calls, nothing more.
    const stateMachineArns = [...arns.values()].map(({ stateMachine }) => stateMachine);
    const allow = (grantee: StageflowFunction, actions: string[], conditions?: Record<string, unknown>) =>
      grantee.role.addToPrincipalPolicy(new PolicyStatement({ actions, resources: stateMachineArns, conditions }));
    // Step Functions authorizes calls through an alias against the state machine's ARN, qualified by the alias name.
    const startThroughAlias = { StringEquals: { 'states:StateMachineQualifier': LIVE_ALIAS } };

    grantTableAccess(table, webhook, 'readWrite');
    allow(webhook, ['states:SendTaskSuccess']);
    allow(webhook, ['states:StartExecution'], startThroughAlias);
    secrets.grantRead(webhook);

    grantTableAccess(table, approvals, 'readWrite');
    mail.grantSend(approvals);
    allow(approvals, ['states:SendTaskSuccess']);
    // A decision on a deal that no execution has picked up yet starts it (syncWorkflow).
    allow(approvals, ['states:StartExecution'], startThroughAlias);
    secrets.grantRead(approvals);

    grantTableAccess(table, workflow, 'readWrite');
    mail.grantSend(workflow);
    allow(workflow, ['states:SendTaskSuccess']);
    allow(workflow, ['states:StartExecution'], startThroughAlias);
    secrets.grantRead(workflow);

    grantTableAccess(table, readApi, 'read');
    allow(readApi, ['states:DescribeStateMachine']);

    grantTableAccess(table, board, 'read');
    grantTableAccess(table, digest, 'read');
    mail.grantSend(digest);
    this.digestSchedule = new DigestSchedule(this, 'DigestSchedule', { digest: digest.function });

    const verifiesItself = (how: string) => ({ access: 'public', reason: `Called by ${how}.` }) as const;
    this.api.addRoute(
      '/webhooks/{source}',
      [HttpMethod.POST],
      webhook.function,
      verifiesItself('CRMs, which cannot sign AWS requests; the function verifies each source signature or credential'),
    );
    this.api.addRoute(
      '/approvals/{approvalId}',
      [HttpMethod.GET, HttpMethod.HEAD, HttpMethod.POST],
      approvals.function,
      verifiesItself('approvers from an emailed link; the function checks the single-use token of the approval'),
    );
    for (const path of ['/deals', '/deals/{dealId}', '/pipelines/{pipeline}/stages', '/health']) {
      this.api.addRoute(path, [HttpMethod.GET], readApi.function, { access: 'iam' });
    }

    for (const path of ['/board', '/board/deals/{dealId}', '/board/insights', '/board/callback']) {
      this.api.addRoute(
        path,
        [HttpMethod.GET],
        board.function,
        verifiesItself(
          'people in a browser; the function verifies the Cognito session cookie on every request and redirects to the login without one',
        ),
      );
    }

    this.pipelineVersions = new PipelineVersions(this, 'PipelineVersions', { table, pipelines });

    const failed = new FailedExecutions(this, 'FailedExecutions', {
      stateMachines: [...this.workflows.values()].map(({ stateMachine }) => stateMachine),
    });
    new StageflowAlarms(this, 'Alarms', {
      functions: Object.fromEntries(Object.entries(this.functions).map(([name, fn]) => [name, fn.function])),
      stateMachines: Object.fromEntries(
        [...this.workflows].map(([pipeline, { stateMachine }]) => [pipeline, stateMachine]),
      ),
      deadLetterQueue: failed.queue,
      action: settings.alarmTopicArn
        ? new SnsAction(Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn))
        : undefined,
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'Base URL of the webhooks, approvals and read API',
    });
    new CfnOutput(this, 'BoardUrl', {
      value: `${publicBaseUrl}/board?pipeline=default`,
      description:
        'The board; sign in with a user of BoardUserPoolId (admins invite them: aws cognito-idp admin-create-user)',
    });
    new CfnOutput(this, 'BoardUserPoolId', { value: this.boardLogin.userPool.userPoolId });
    new CfnOutput(this, 'SecretArn', {
      value: secrets.secret.secretArn,
      description: 'Set the CRM secrets in this secret with aws secretsmanager put-secret-value (see WebhookSecrets)',
    });
  }
}
