import { ArnFormat, CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { HttpMethod } from 'aws-cdk-lib/aws-apigatewayv2';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ENV, OWN_CRM_ORIGINS } from '../../functions/adapters/environment.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../../functions/adapters/function-timeouts.ts';
import type { VersionedPipeline } from '../../functions/core/pipeline-config.ts';
import { stateMachineName } from '../../workflows/definition.ts';
import { StageflowAlarms } from './constructs/alarms.ts';
import { BoardLogin } from './constructs/board-login.ts';
import { ConfigRollout } from './constructs/config-rollout.ts';
import { CrmCredentials } from './constructs/crm-credentials.ts';
import { DealWorkflow, LIVE_ALIAS, workflowArns } from './constructs/deal-workflow.ts';
import { DigestSchedule } from './constructs/digest-schedule.ts';
import { FailedExecutions } from './constructs/failed-executions.ts';
import { StageflowHttpApi } from './constructs/http-api.ts';
import { MailSendEvents } from './constructs/mail-send-events.ts';
import { MailSending } from './constructs/mail-sending.ts';
import { Outbox } from './constructs/outbox.ts';
import { PipelineVersions } from './constructs/pipeline-versions.ts';
import { StageflowFunction } from './constructs/stageflow-function.ts';
import { grantIndexBackfill, grantTableAccess } from './constructs/table-access.ts';
import { WebhookSecrets } from './constructs/webhook-secrets.ts';
import { WriteBackRuns } from './constructs/write-back-runs.ts';
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

/** The Powertools service name of the webhook functions. */
const WEBHOOK_SERVICE = 'stageflow-webhook';

/**
 * The stateless part of Stageflow: the functions, one deal workflow per pipeline, the HTTP API, the secret, the
 * stored pipeline versions and the operations around them. Replacing anything here loses no deal data.
 */
export class StageflowAppStack extends Stack {
  readonly api: StageflowHttpApi;
  readonly functions: Record<
    | 'webhook'
    | 'webhookHubspot'
    | 'webhookPipedrive'
    | 'webhookSalesforce'
    | 'approvals'
    | 'workflow'
    | 'readApi'
    | 'outbox'
    | 'writeBack'
    | 'rollout'
    | 'board'
    | 'digest'
    | 'mailEvents',
    StageflowFunction
  >;
  readonly outbox: Outbox;
  readonly writeBackRuns: WriteBackRuns;
  readonly boardLogin: BoardLogin;
  readonly digestSchedule: DigestSchedule;
  readonly mailSendEvents: MailSendEvents;
  readonly workflows: Map<string, DealWorkflow>;
  readonly pipelineVersions: PipelineVersions;
  readonly rollout: ConfigRollout;

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
    // The webhook functions share one Powertools service name: their metrics (the unmapped CRM stage alarm) and logs
    // read as one service, the function name telling them apart.
    const webhookFunction = (id: string, entry: string) =>
      new StageflowFunction(this, id, {
        entry,
        serviceName: WEBHOOK_SERVICE,
        // Who Stageflow's own write-back is in each CRM's change markers: the webhook tells its echoes by them.
        environment: { ...withSecrets, ...ownCrmOrigins(settings) },
        readsSecrets: true,
      });
    this.functions = {
      // The generic webhook, and the answer to any source no other route serves.
      webhook: webhookFunction('Webhook', 'functions/webhook/handler.ts'),
      // One function per CRM, so that each bundle carries only its own parser (docs/decisions.md).
      webhookHubspot: webhookFunction('WebhookHubspot', 'functions/webhook/hubspot.ts'),
      webhookPipedrive: webhookFunction('WebhookPipedrive', 'functions/webhook/pipedrive.ts'),
      webhookSalesforce: webhookFunction('WebhookSalesforce', 'functions/webhook/salesforce.ts'),
      approvals: new StageflowFunction(this, 'Approvals', {
        entry: 'functions/approvals/handler.ts',
        serviceName: 'stageflow-approvals',
        environment: withSecrets,
        readsSecrets: true,
      }),
      workflow: new StageflowFunction(this, 'Workflow', {
        entry: 'functions/workflow/handler.ts',
        serviceName: 'stageflow-workflow',
        environment,
      }),
      readApi: new StageflowFunction(this, 'ReadApi', {
        entry: 'functions/read-api/handler.ts',
        serviceName: 'stageflow-read-api',
        environment,
      }),
      outbox: new StageflowFunction(this, 'Outbox', {
        entry: 'functions/outbox/handler.ts',
        serviceName: 'stageflow-outbox',
        environment: withSecrets,
        readsSecrets: true,
        // A batch of 25 changes, each a few table, Step Functions and SES calls (CRM write-backs are only enqueued).
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.outbox),
      }),
      // The CRM write-backs: each deal's in order under a lease as long as this timeout.
      writeBack: new StageflowFunction(this, 'WriteBack', {
        entry: 'functions/write-back/handler.ts',
        serviceName: 'stageflow-write-back',
        environment,
        readsSecrets: true,
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.writeBack),
      }),
      // Makes each deployed version live: open deals move to it (15 minutes: a walk over every open deal).
      rollout: new StageflowFunction(this, 'Rollout', {
        entry: 'functions/rollout/handler.ts',
        serviceName: 'stageflow-rollout',
        environment,
        timeout: Duration.minutes(15),
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
      // The mail log: each email SES accepted, from the configuration set's send events.
      mailEvents: new StageflowFunction(this, 'MailEvents', {
        entry: 'functions/mail-events/handler.ts',
        serviceName: 'stageflow-mail-events',
        environment,
      }),
    };
    const { webhook, webhookHubspot, webhookPipedrive, webhookSalesforce } = this.functions;
    const { approvals, workflow, readApi, outbox, writeBack, board, digest } = this.functions;
    const webhooks = [webhook, webhookHubspot, webhookPipedrive, webhookSalesforce];

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

    // The answer paths read, decide and commit: the table and their secrets, nothing else.
    for (const fn of webhooks) {
      grantTableAccess(table, fn, 'readWrite');
      secrets.grantRead(fn);
    }
    grantTableAccess(table, approvals, 'readWrite');
    secrets.grantRead(approvals);

    // The workflow's tasks keep tokens on the table, answer their own tasks and hand over to a new execution.
    grantTableAccess(table, workflow, 'readWrite');
    allow(workflow, ['states:SendTaskSuccess']);
    allow(workflow, ['states:StartExecution'], startThroughAlias);

    // The outbox: every side effect of a committed decision.
    this.outbox = new Outbox(this, 'OutboxStream', { table, consumer: outbox });
    grantTableAccess(table, outbox, 'readWrite');
    mail.grantSend(outbox);
    secrets.grantRead(outbox);
    // The CRM write-back: its own function, the only one that reads the CRM tokens (a secret of their own).
    this.writeBackRuns = new WriteBackRuns(this, 'WriteBackRuns', { table, runner: writeBack });
    grantTableAccess(table, writeBack, 'readWrite');
    const crmCredentials = new CrmCredentials(this, 'CrmCredentials');
    for (const [name, value] of Object.entries(crmCredentials.grantRead(writeBack.function))) {
      writeBack.function.addEnvironment(name, value);
    }
    allow(outbox, ['states:SendTaskSuccess']);
    allow(outbox, ['states:StartExecution'], startThroughAlias);
    // Replaces a deal's execution (a config migration, approvals asked while others run): its executions only.
    for (const pipeline of pipelines.keys()) {
      Validations.of(outbox.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${stateMachineName(pipeline)}:*]`,
        reason: "Executions are named per deal at run time; the wildcard is scoped to the pipeline's state machine.",
      });
    }
    outbox.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['states:StopExecution'],
        resources: [...pipelines.keys()].map((pipeline) =>
          this.formatArn({
            service: 'states',
            resource: 'execution',
            resourceName: `${stateMachineName(pipeline)}:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ),
      }),
    );

    grantTableAccess(table, readApi, 'read');
    allow(readApi, ['states:DescribeStateMachine']);

    grantTableAccess(table, board, 'read');
    grantTableAccess(table, digest, 'read');
    mail.grantSend(digest);
    this.digestSchedule = new DigestSchedule(this, 'DigestSchedule', { digest: digest.function });
    this.mailSendEvents = new MailSendEvents(this, 'MailSendEvents', {
      configurationSetName: mail.configurationSetName,
      recorder: this.functions.mailEvents,
      table,
    });

    const verifiesItself = (how: string) => ({ access: 'public', reason: `Called by ${how}.` }) as const;
    // API Gateway routes the most specific path first: each CRM to its function, everything else to the generic one.
    const webhookRoutes = [
      ['/webhooks/{source}', webhook],
      ['/webhooks/hubspot', webhookHubspot],
      ['/webhooks/pipedrive', webhookPipedrive],
      ['/webhooks/salesforce', webhookSalesforce],
    ] as const;
    for (const [path, fn] of webhookRoutes) {
      this.api.addRoute(
        path,
        [HttpMethod.POST],
        fn.function,
        verifiesItself(
          'CRMs, which cannot sign AWS requests; the function verifies each source signature or credential',
        ),
      );
    }
    this.api.addRoute(
      '/approvals/{approvalId}',
      [HttpMethod.GET, HttpMethod.HEAD, HttpMethod.POST],
      approvals.function,
      verifiesItself('approvers from an emailed link; the function checks the single-use token of the approval'),
    );
    for (const path of ['/deals', '/deals/{dealId}', '/pipelines/{pipeline}/stages', '/health']) {
      this.api.addRoute(path, [HttpMethod.GET], readApi.function, { access: 'iam' });
    }

    for (const path of [
      '/',
      '/board',
      '/board/export.csv',
      '/board/deals/{dealId}',
      '/board/insights',
      '/board/callback',
    ]) {
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

    const rolloutFunction = this.functions.rollout;
    grantTableAccess(table, rolloutFunction, 'readWrite');
    grantIndexBackfill(table, rolloutFunction);
    const alarmAction = settings.alarmTopicArn
      ? new SnsAction(Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn))
      : undefined;
    this.rollout = new ConfigRollout(this, 'ConfigRollout', {
      rolloutFunction,
      pipelines,
      storedVersions: this.pipelineVersions,
      alarmAction,
    });

    const failed = new FailedExecutions(this, 'FailedExecutions', {
      stateMachines: [...this.workflows.values()].map(({ stateMachine }) => stateMachine),
    });
    new StageflowAlarms(this, 'Alarms', {
      functions: Object.fromEntries(Object.entries(this.functions).map(([name, fn]) => [name, fn.function])),
      stateMachines: Object.fromEntries(
        [...this.workflows].map(([pipeline, { stateMachine }]) => [pipeline, stateMachine]),
      ),
      deadLetterQueue: failed.queue,
      outboxFailureQueue: this.outbox.failureQueue,
      mailEventsFailureQueue: this.mailSendEvents.failureQueue,
      webhookService: WEBHOOK_SERVICE,
      action: alarmAction,
    });
    if (alarmAction) {
      for (const alarm of [this.outbox.effectFailedAlarm, this.outbox.fallingBehindAlarm])
        alarm.addAlarmAction(alarmAction);
    }

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
    new CfnOutput(this, 'CrmSecretArn', {
      value: crmCredentials.secret.secretArn,
      description: 'Set the CRM write-back credentials in this secret with aws secretsmanager put-secret-value',
    });
    new CfnOutput(this, 'SecretArn', {
      value: secrets.secret.secretArn,
      description: 'Set the CRM secrets in this secret with aws secretsmanager put-secret-value (see WebhookSecrets)',
    });
  }
}

/** The ids of Stageflow's own user in each CRM, from the settings, as the environment the echo check reads. */
function ownCrmOrigins(settings: StageflowSettings): Record<string, string> {
  const ids = {
    [OWN_CRM_ORIGINS.hubspot]: settings.hubspotWriteBackSourceId,
    [OWN_CRM_ORIGINS.pipedrive]: settings.pipedriveApiUserId,
    [OWN_CRM_ORIGINS.salesforce]: settings.salesforceIntegrationUserId,
  };
  return Object.fromEntries(Object.entries(ids).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
