import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { CfnElement } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { SECRET_NAMES } from '../../functions/adapters/environment.ts';
import { FUNCTION_TIMEOUT_SECONDS } from '../../functions/adapters/function-timeouts.ts';
import { tableDefinition } from '../../functions/adapters/table.ts';
import { esbuildOptions } from '../../infra/cloud/bundling.ts';
import { WORKFLOW_FUNCTION_ARN } from '../../infra/cloud/constructs/deal-workflow.ts';
import { ACCESS_LOG_FIELDS } from '../../infra/cloud/constructs/http-api.ts';
import { buildStateMachineDefinition, stateMachineName } from '../../workflows/definition.ts';
import statefulResources from './stateful-resources.json' with { type: 'json' };
import { PIPELINES, ROOT, renderString, type Synthesized, synthesize } from './synthesize.ts';

type Resource = {
  Type: string;
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};
type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };

// One synthesis with bundling, shared by every test of this file.
let synthesized: Synthesized;
let app: Template;
let data: Template;
beforeAll(() => {
  synthesized = synthesize({ bundle: true });
  app = synthesized.appTemplate;
  data = synthesized.dataTemplate;
});

const resources = (template: Template, type: string) => template.findResources(type) as Record<string, Resource>;
const resource = (template: Template, type: string, id: string): Resource => {
  const found = resources(template, type)[id];
  if (!found) throw new Error(`no ${type} ${id} in the template`);
  return found;
};
const only = <T>(values: Record<string, T>): T => {
  const all = Object.values(values);
  expect(all).toHaveLength(1);
  return all[0] as T;
};
const actionsOf = (statement: Statement) => [statement.Action].flat();
const statementsOf = (template: Template, roleId?: string) =>
  Object.values(resources(template, 'AWS::IAM::Policy'))
    .filter(({ Properties }) => !roleId || (Properties.Roles as { Ref: string }[]).some(({ Ref }) => Ref === roleId))
    .flatMap(({ Properties }) => (Properties.PolicyDocument as { Statement: Statement[] }).Statement);
const idOf = (element: unknown) => synthesized.app.getLogicalId(element as CfnElement);
type FunctionName = keyof Synthesized['app']['functions'];
const functionIds = () =>
  Object.fromEntries(
    Object.entries(synthesized.app.functions).map(([name, fn]) => [name, idOf(fn.function.node.defaultChild)]),
  ) as Record<FunctionName, string>;
const roleIdOf = (name: FunctionName) => idOf(synthesized.app.functions[name].role.node.defaultChild);
const environmentOf = (functionId: string) =>
  (
    resource(app, 'AWS::Lambda::Function', functionId).Properties.Environment as {
      Variables: Record<string, unknown>;
    }
  ).Variables;

describe('functions', () => {
  it('every Stageflow function runs Node.js 24 on arm64, traced, with Powertools settings and source maps', () => {
    const functions = resources(app, 'AWS::Lambda::Function');
    for (const id of Object.values(functionIds())) {
      expect(functions[id]?.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        MemorySize: 512,
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        Environment: {
          Variables: {
            POWERTOOLS_SERVICE_NAME: expect.stringMatching(/^stageflow-/),
            POWERTOOLS_LOG_LEVEL: 'INFO',
            POWERTOOLS_METRICS_NAMESPACE: 'Stageflow',
          },
        },
      });
    }
  });

  it('deploys exactly the bundle that esbuildOptions builds (what the benchmark measures)', async () => {
    const { S3Key } = resource(app, 'AWS::Lambda::Function', functionIds().webhook).Properties.Code as {
      S3Key: string;
    };
    const deployed = join(synthesized.cdkApp.outdir, `asset.${S3Key.replace(/\.zip$/, '')}`, 'index.mjs');
    const outfile = join(mkdtempSync(join(tmpdir(), 'stageflow-bundle-')), 'index.mjs');
    await build(esbuildOptions(join(ROOT, 'functions/webhook/handler.ts'), outfile));
    const same = readFileSync(outfile).equals(readFileSync(deployed));
    expect(same, 'infra/cloud/bundling.ts: esbuildOptions must mirror functionBundling').toBe(true);
  });

  it('runs without --enable-source-maps (measured: it costs more at cold start than it gives)', () => {
    for (const id of Object.values(functionIds())) {
      expect(environmentOf(id)).not.toHaveProperty('NODE_OPTIONS');
    }
  });

  it('has no other function than the six, the AwsCustomResource provider and the rollout provider framework', () => {
    const others = Object.keys(resources(app, 'AWS::Lambda::Function')).filter(
      (id) => !Object.values(functionIds()).includes(id),
    );
    expect(others.sort()).toEqual([
      expect.stringMatching(/^AWS679f53fac002430cb0da5b7982bd2287/),
      expect.stringMatching(/^ConfigRolloutProviderframeworkonEvent/),
    ]);
  });

  it('makes each deployed version live once, after it is stored, and alarms when a rollout fails', () => {
    const rollouts = Object.values(app.findResources('Custom::StageflowConfigRollout')) as (Resource & {
      DependsOn?: string[];
    })[];
    expect(rollouts.map((r) => r.Properties)).toEqual(
      [...PIPELINES].map(([pipeline, { version }]) =>
        expect.objectContaining({ Pipeline: pipeline, Version: version }),
      ),
    );
    const stored = Object.keys(app.findResources('Custom::StageflowPipelineVersion'));
    for (const rollout of rollouts) expect(rollout.DependsOn).toEqual(expect.arrayContaining(stored));
    app.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'Stageflow', MetricName: 'RolloutFailed' });
  });

  it('logs every function to its own log group with a retention', () => {
    const groups = resources(app, 'AWS::Logs::LogGroup');
    for (const id of Object.values(functionIds())) {
      const { LoggingConfig } = resource(app, 'AWS::Lambda::Function', id).Properties as {
        LoggingConfig: { LogGroup: { Ref: string } };
      };
      expect(groups[LoggingConfig.LogGroup.Ref]?.Properties.RetentionInDays).toBe(30);
    }
  });

  it('gives each function the table, the current pipeline versions, the alias ARNs and the public URL', () => {
    for (const id of Object.values(functionIds())) {
      const variables = environmentOf(id);
      expect(JSON.parse(variables.STAGEFLOW_PIPELINES as string)).toEqual(
        Object.fromEntries([...PIPELINES].map(([pipeline, { version }]) => [pipeline, version])),
      );
      const arns = JSON.parse(renderString(variables.STATE_MACHINE_ARNS)) as Record<string, string>;
      expect(Object.keys(arns).sort()).toEqual([...PIPELINES.keys()].sort());
      for (const [pipeline, arn] of Object.entries(arns)) {
        expect(arn).toBe(
          `arn:{Ref:AWS::Partition}:states:{Ref:AWS::Region}:{Ref:AWS::AccountId}:stateMachine:${stateMachineName(pipeline)}:live`,
        );
      }
      const apiId = idOf(synthesized.app.api.api.node.defaultChild);
      expect(renderString(variables.PUBLIC_BASE_URL)).toBe(
        `https://{Ref:${apiId}}.execute-api.{Ref:AWS::Region}.{Ref:AWS::URLSuffix}/`,
      );
      expect(variables).toHaveProperty('TABLE_NAME');
      expect(variables.MAIL_FROM).toBe('stageflow@example.com');
    }
  });

  it('passes the secret ARN only to the functions that may read the secret', () => {
    const ids = functionIds();
    const withSecret = Object.entries(ids)
      .filter(([, id]) => 'SECRETS_ARN' in environmentOf(id))
      .map(([name]) => name);
    expect(withSecret.sort()).toEqual([
      'approvals',
      'outbox',
      'webhook',
      'webhookHubspot',
      'webhookPipedrive',
      'webhookSalesforce',
    ]);
  });

  it('gives the Parameters and Secrets extension, caching five minutes and giving up after 3 s, to exactly the functions given a secret', () => {
    const ids = functionIds();
    const withLayer = Object.entries(ids).filter(
      ([, id]) => resource(app, 'AWS::Lambda::Function', id).Properties.Layers !== undefined,
    );
    const givenSecret = Object.entries(ids).filter(
      ([, id]) => 'SECRETS_ARN' in environmentOf(id) || 'CRM_SECRETS_ARN' in environmentOf(id),
    );
    expect(withLayer.map(([name]) => name).sort()).toEqual(givenSecret.map(([name]) => name).sort());
    expect(withLayer.map(([name]) => name)).toContain('writeBack');
    for (const [, id] of withLayer) {
      const layers = JSON.stringify(resource(app, 'AWS::Lambda::Function', id).Properties.Layers);
      expect(layers).toContain('Paramsandsecrets');
      expect(environmentOf(id)).toMatchObject({
        PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'true',
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: '2773',
        SECRETS_MANAGER_TTL: '300',
        SECRETS_MANAGER_TIMEOUT_MILLIS: '3000',
      });
    }
  });
});

const TABLE_READ = ['BatchGetItem', 'GetItem', 'Query'].map((action) => `dynamodb:${action}`);
const TABLE_WRITE = ['BatchWriteItem', 'ConditionCheckItem', 'DeleteItem', 'PutItem', 'UpdateItem'].map(
  (action) => `dynamodb:${action}`,
);
const SECRET_READ = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];
const STREAM_READ = ['DescribeStream', 'GetRecords', 'GetShardIterator', 'ListStreams'].map((a) => `dynamodb:${a}`);
const LOGS_AND_TRACES = [
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'xray:PutTelemetryRecords',
  'xray:PutTraceSegments',
];

describe('least privilege', () => {
  it('never allows a DynamoDB, Step Functions or SES action on *', () => {
    const wildcards = statementsOf(app)
      .filter((statement) => [statement.Resource].flat().includes('*'))
      .flatMap(actionsOf);
    expect(wildcards.length).toBeGreaterThan(0);
    expect(wildcards.filter((action) => /^(dynamodb|states|ses):/.test(action))).toEqual([]);
    expect(wildcards.filter((action) => !/^(xray|logs):/.test(action))).toEqual([]);
  });

  it.each([
    // The answer paths touch neither Step Functions nor SES: the outbox does.
    ['webhook', [...TABLE_READ, ...TABLE_WRITE, ...SECRET_READ]],
    ['webhookHubspot', [...TABLE_READ, ...TABLE_WRITE, ...SECRET_READ]],
    ['webhookPipedrive', [...TABLE_READ, ...TABLE_WRITE, ...SECRET_READ]],
    ['webhookSalesforce', [...TABLE_READ, ...TABLE_WRITE, ...SECRET_READ]],
    ['approvals', [...TABLE_READ, ...TABLE_WRITE, ...SECRET_READ]],
    ['workflow', [...TABLE_READ, ...TABLE_WRITE, 'states:SendTaskSuccess', 'states:StartExecution']],
    ['readApi', [...TABLE_READ, 'states:DescribeStateMachine']],
    [
      'outbox',
      [
        ...TABLE_READ,
        ...TABLE_WRITE,
        ...STREAM_READ,
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
        'ses:SendEmail',
        'states:SendTaskSuccess',
        'states:StartExecution',
        'states:StopExecution',
        ...SECRET_READ,
      ],
    ],
    // The only function that calls a CRM, and the only one holding the CRM credentials.
    ['writeBack', [...TABLE_READ, ...TABLE_WRITE, ...STREAM_READ, ...SECRET_READ]],
    ['rollout', [...TABLE_READ, ...TABLE_WRITE, 'dynamodb:Scan']],
    ['board', [...TABLE_READ]],
    ['digest', [...TABLE_READ, 'ses:SendEmail']],
    // The mail log's recorder only puts its own items.
    ['mailEvents', ['dynamodb:PutItem']],
  ] as const)('the %s function may call exactly what it uses', (name, expected) => {
    const actions = statementsOf(app, roleIdOf(name)).flatMap(actionsOf);
    expect(new Set(actions)).toEqual(new Set([...expected, ...LOGS_AND_TRACES]));
  });

  it('scopes table access to the table and its byStage and byOwner indexes', () => {
    const tableId = synthesized.data.getLogicalId(synthesized.data.table.node.defaultChild as CfnElement);
    for (const name of ['webhook', 'approvals', 'workflow', 'readApi', 'rollout'] as const) {
      const [table, indexes, ...more] = statementsOf(app, roleIdOf(name))
        .filter((statement) => actionsOf(statement).some((action) => action.startsWith('dynamodb:')))
        .map((statement) => [statement.Resource].flat().map(renderString));
      // The data stack's output of the table ARN.
      expect(table).toEqual([
        expect.stringMatching(new RegExp(`^\\{\\{Fn::GetStackOutput:.*StageflowData.*${tableId}Arn.*\\}\\}$`)),
      ]);
      expect(indexes?.sort()).toEqual([`${table?.[0]}/index/byOwner`, `${table?.[0]}/index/byStage`]);
      expect(more).toEqual([]);
    }
  });

  it('lets functions use the pipelines state machines only, and start executions only through the live alias', () => {
    const machines = [...PIPELINES.keys()].map(
      (pipeline) =>
        `arn:{Ref:AWS::Partition}:states:{Ref:AWS::Region}:{Ref:AWS::AccountId}:stateMachine:${stateMachineName(pipeline)}`,
    );
    const stepFunctions = statementsOf(app).filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('states:')),
    );
    expect(stepFunctions.length).toBeGreaterThan(0);
    const executions = machines.map((machine) => `${machine.replace(':stateMachine:', ':execution:')}:*`);
    for (const statement of stepFunctions) {
      // Stopping acts on executions: those of the pipelines' state machines only.
      const expected = actionsOf(statement).includes('states:StopExecution') ? executions : machines;
      expect([statement.Resource].flat().map(renderString).sort()).toEqual([...expected].sort());
      if (actionsOf(statement).includes('states:StartExecution')) {
        expect(statement.Condition).toEqual({ StringEquals: { 'states:StateMachineQualifier': 'live' } });
      }
    }
  });

  it('lets mail go out only as the configured identity and address, through the configuration set', () => {
    const configurationSet = Object.keys(resources(app, 'AWS::SES::ConfigurationSet'))[0];
    for (const name of ['outbox'] as const) {
      const [statement, ...more] = statementsOf(app, roleIdOf(name)).filter((candidate) =>
        actionsOf(candidate).some((action) => action.startsWith('ses:')),
      );
      expect(more).toEqual([]);
      expect(statement && actionsOf(statement)).toEqual(['ses:SendEmail']);
      expect([statement?.Resource].flat().map(renderString).sort()).toEqual([
        `arn:{Ref:AWS::Partition}:ses:{Ref:AWS::Region}:{Ref:AWS::AccountId}:configuration-set/{Ref:${configurationSet}}`,
        'arn:{Ref:AWS::Partition}:ses:{Ref:AWS::Region}:{Ref:AWS::AccountId}:identity/example.com',
      ]);
      expect(statement?.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'stageflow@example.com' } });
    }
  });

  it("records each email SES accepted: the configuration set's Send events, through an encrypted topic, into MAILSENT# items", () => {
    const configurationSet = Object.keys(resources(app, 'AWS::SES::ConfigurationSet'))[0];
    const destination = only(resources(app, 'AWS::SES::ConfigurationSetEventDestination'));
    const topicId = only(Object.fromEntries(Object.keys(resources(app, 'AWS::SNS::Topic')).map((id) => [id, id])));
    expect(destination.Properties).toEqual({
      ConfigurationSetName: { Ref: configurationSet },
      EventDestination: {
        Enabled: true,
        MatchingEventTypes: ['send'],
        SnsDestination: { TopicARN: { Ref: topicId } },
      },
    });
    const topic = resource(app, 'AWS::SNS::Topic', topicId);
    const keyId = (topic.Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const keyStatements = (
      resource(app, 'AWS::KMS::Key', keyId).Properties.KeyPolicy as {
        Statement: (Statement & { Principal: unknown })[];
      }
    ).Statement;
    expect(keyStatements).toContainEqual(
      expect.objectContaining({
        Principal: { Service: 'ses.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      }),
    );
    // Only SES, for this account's configuration set, may publish to the topic.
    const topicPolicy = only(resources(app, 'AWS::SNS::TopicPolicy'));
    const publish = (
      topicPolicy.Properties.PolicyDocument as { Statement: (Statement & { Principal: unknown; Effect: string })[] }
    ).Statement.filter((statement) => statement.Effect === 'Allow' && actionsOf(statement).includes('sns:Publish'));
    expect(publish).toHaveLength(1);
    expect(publish[0]?.Principal).toEqual({ Service: 'ses.amazonaws.com' });
    expect(renderString(publish[0]?.Condition?.StringEquals?.['AWS:SourceArn'])).toMatch(/:configuration-set\//);
    // The topic invokes the recorder, with a dead-letter queue for what it could not deliver.
    const subscription = only(resources(app, 'AWS::SNS::Subscription'));
    expect(subscription.Properties).toMatchObject({
      Protocol: 'lambda',
      TopicArn: { Ref: topicId },
      Endpoint: { 'Fn::GetAtt': [functionIds().mailEvents, 'Arn'] },
      RedrivePolicy: { deadLetterTargetArn: expect.anything() },
    });
    // The recorder puts mail log items and nothing else.
    const [put, ...more] = statementsOf(app, roleIdOf('mailEvents')).filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
    );
    expect(more).toEqual([]);
    expect(put && actionsOf(put)).toEqual(['dynamodb:PutItem']);
    expect(put?.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['MAILSENT#*'] } });
  });

  it('lets each state machine invoke the workflow function and nothing else', () => {
    for (const workflow of synthesized.app.workflows.values()) {
      const invokes = statementsOf(app, idOf(workflow.stateMachine.role.node.defaultChild)).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('lambda:')),
      );
      expect(invokes).toEqual([
        {
          Action: 'lambda:InvokeFunction',
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [functionIds().workflow, 'Arn'] },
        },
      ]);
    }
  });

  it('lets the deploy put only the version items of each pipeline', () => {
    const statements = statementsOf(app, idOf(synthesized.app.pipelineVersions.role.node.defaultChild));
    const puts = statements.filter((statement) => !actionsOf(statement).every((action) => action.startsWith('logs:')));
    expect(puts.map((statement) => [actionsOf(statement), statement.Condition])).toEqual(
      [...PIPELINES.keys()].map((pipeline) => [
        ['dynamodb:PutItem'],
        { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`PIPELINE#${pipeline}`] } },
      ]),
    );
  });
});

describe('the table', () => {
  it('is on-demand, encrypted, point-in-time recoverable, retained and deletion-protected, with TTL on ttl', () => {
    const table = only(resources(data, 'AWS::DynamoDB::Table'));
    expect(table).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(table.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: true,
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });

  it('declares the keys and the byStage index of functions/adapters/table.ts', () => {
    const { Properties } = only(resources(data, 'AWS::DynamoDB::Table'));
    const local = tableDefinition('any');
    const byName = <T extends { AttributeName?: string; IndexName?: string }>(items: T[] | undefined) =>
      [...(items ?? [])].sort((a, b) =>
        String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName)),
      );
    expect(Properties.KeySchema).toEqual(local.KeySchema);
    expect(byName(Properties.AttributeDefinitions as [])).toEqual(byName(local.AttributeDefinitions));
    expect(byName(Properties.GlobalSecondaryIndexes as [])).toEqual(byName(local.GlobalSecondaryIndexes));
  });

  it('stores every pipeline version as an item the functions can read', () => {
    const records = Object.values(app.findResources('Custom::StageflowPipelineVersion')) as Resource[];
    expect(records).toHaveLength(PIPELINES.size);
    const items = records.map(({ Properties }) => {
      const call = JSON.parse(renderString(Properties.Update)) as {
        action: string;
        parameters: { Item: Parameters<typeof unmarshall>[0] };
      };
      expect(call.action).toBe('PutItem');
      return unmarshall(call.parameters.Item);
    });
    expect(items).toEqual(
      [...PIPELINES].map(([pipeline, { config, version }]) => ({
        pk: `PIPELINE#${pipeline}`,
        sk: `VERSION#${version}`,
        config: JSON.parse(JSON.stringify(config)),
        version,
      })),
    );
  });
});

describe('the deal workflows', () => {
  it('are one Standard state machine per pipeline, logged without execution data and traced', () => {
    const machines = Object.values(resources(app, 'AWS::StepFunctions::StateMachine'));
    expect(machines.map(({ Properties }) => Properties.StateMachineName).sort()).toEqual(
      [...PIPELINES.keys()].map(stateMachineName).sort(),
    );
    for (const { Properties } of machines) {
      expect(Properties).toMatchObject({
        StateMachineType: 'STANDARD',
        LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: [expect.anything()] },
        TracingConfiguration: { Enabled: true },
      });
    }
  });

  it('run the definition generated from the stage config, invoking the workflow function', () => {
    for (const [pipeline, workflow] of synthesized.app.workflows) {
      const stateMachineId = idOf(workflow.stateMachine.node.defaultChild);
      const { Properties } = resource(app, 'AWS::StepFunctions::StateMachine', stateMachineId);
      const { config } = PIPELINES.get(pipeline) ?? {};
      expect(config).toBeDefined();
      expect(JSON.parse(Properties.DefinitionString as string)).toEqual(
        config && buildStateMachineDefinition(config, WORKFLOW_FUNCTION_ARN),
      );
      expect(Properties.DefinitionSubstitutions).toEqual({
        WorkflowFunctionArn: { 'Fn::GetAtt': [functionIds().workflow, 'Arn'] },
      });
    }
  });

  it('are published as a kept version, named after the definition, behind the alias live', () => {
    for (const workflow of synthesized.app.workflows.values()) {
      const stateMachine = idOf(workflow.stateMachine.node.defaultChild);
      const version = idOf(workflow.version);
      expect(resources(app, 'AWS::StepFunctions::StateMachineVersion')[version]).toMatchObject({
        UpdateReplacePolicy: 'Retain',
        Properties: {
          StateMachineArn: { Ref: stateMachine },
          StateMachineRevisionId: { 'Fn::GetAtt': [stateMachine, 'StateMachineRevisionId'] },
          Description: `definition ${workflow.definitionHash}`,
        },
      });
      app.hasResourceProperties('AWS::StepFunctions::StateMachineAlias', {
        Name: 'live',
        RoutingConfiguration: [{ StateMachineVersionArn: { 'Fn::GetAtt': [version, 'Arn'] }, Weight: 100 }],
      });
    }
  });

  it('send failed, timed-out and aborted executions to the dead-letter queue', () => {
    const rule = only(resources(app, 'AWS::Events::Rule'));
    const queue = [idOf(synthesized.app.node.findChild('FailedExecutions').node.findChild('Queue').node.defaultChild)];
    expect(rule.Properties).toMatchObject({
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: [...synthesized.app.workflows.values()].map((w) => ({
            Ref: idOf(w.stateMachine.node.defaultChild),
          })),
        },
      },
      Targets: [{ Arn: { 'Fn::GetAtt': [queue[0], 'Arn'] } }],
    });
    app.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });
});

describe('the HTTP API', () => {
  const READ_ROUTES = ['GET /deals', 'GET /deals/{dealId}', 'GET /pipelines/{pipeline}/stages', 'GET /health'];
  const CRM_WEBHOOK_ROUTES = {
    'POST /webhooks/hubspot': 'webhookHubspot',
    'POST /webhooks/pipedrive': 'webhookPipedrive',
    'POST /webhooks/salesforce': 'webhookSalesforce',
  } as const;
  const PUBLIC_ROUTES = [
    'POST /webhooks/{source}',
    ...Object.keys(CRM_WEBHOOK_ROUTES),
    'GET /approvals/{approvalId}',
    'HEAD /approvals/{approvalId}',
    'POST /approvals/{approvalId}',
  ];
  const BOARD_ROUTES = [
    'GET /',
    'GET /board',
    'GET /board/export.csv',
    'GET /board/deals/{dealId}',
    'GET /board/insights',
    'GET /board/callback',
  ];

  it('puts the read routes behind IAM authorization and leaves webhooks and approvals to the functions', () => {
    const routes = Object.values(resources(app, 'AWS::ApiGatewayV2::Route')).map(({ Properties }) => Properties);
    const byKey = Object.fromEntries(routes.map((route) => [route.RouteKey, route.AuthorizationType ?? 'NONE']));
    expect(byKey).toEqual({
      ...Object.fromEntries(READ_ROUTES.map((key) => [key, 'AWS_IAM'])),
      ...Object.fromEntries(PUBLIC_ROUTES.map((key) => [key, 'NONE'])),
      ...Object.fromEntries(BOARD_ROUTES.map((key) => [key, 'NONE'])),
    });
  });

  it('routes each CRM to a webhook function of its own, and every other source to the generic one', () => {
    const routes = Object.values(resources(app, 'AWS::ApiGatewayV2::Route')).map(({ Properties }) => Properties);
    const integrations = resources(app, 'AWS::ApiGatewayV2::Integration');
    const functionOf = (routeKey: string) => {
      const target = routes.find((route) => route.RouteKey === routeKey)?.Target as { 'Fn::Join': [string, unknown[]] };
      const integrationId = (target['Fn::Join'][1][1] as { Ref: string }).Ref;
      return JSON.stringify(integrations[integrationId]?.Properties.IntegrationUri);
    };
    const arnOf = (name: FunctionName) => JSON.stringify({ 'Fn::GetAtt': [functionIds()[name], 'Arn'] });
    expect(functionOf('POST /webhooks/{source}')).toBe(arnOf('webhook'));
    for (const [routeKey, name] of Object.entries(CRM_WEBHOOK_ROUTES)) expect(functionOf(routeKey)).toBe(arnOf(name));
  });

  it('routes the board pages to the board function, which is given the user pool, its client and hosted UI', () => {
    const routes = Object.values(resources(app, 'AWS::ApiGatewayV2::Route')).map(({ Properties }) => Properties);
    const targets = new Set(
      routes.filter((r) => BOARD_ROUTES.includes(r.RouteKey as string)).map((r) => JSON.stringify(r.Target)),
    );
    expect(targets.size).toBe(1);
    const board = environmentOf(functionIds().board);
    expect(board).toMatchObject({
      BOARD_USER_POOL_ID: { Ref: expect.stringMatching(/^BoardLoginUsers/) },
      BOARD_CLIENT_ID: { Ref: expect.stringMatching(/^BoardLoginUsersBoard/) },
      BOARD_LOGIN_DOMAIN: expect.anything(),
    });
  });
});

describe('the board login and the digest schedule', () => {
  it('is a user pool without self sign-up, with MFA required and threat protection, kept on delete', () => {
    const pool = only(resources(app, 'AWS::Cognito::UserPool'));
    expect(pool.Properties).toMatchObject({
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: 'ON',
      UserPoolTier: 'PLUS',
      UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
    });
    expect(pool.DeletionPolicy).toBe('Retain');
    expect(only(resources(app, 'AWS::Cognito::UserPoolDomain')).Properties.Domain).toBeDefined();
  });

  it('has one public app client for the authorization code flow, calling back to /board/callback', () => {
    const client = only(resources(app, 'AWS::Cognito::UserPoolClient'));
    expect(client.Properties).toMatchObject({
      GenerateSecret: false,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthScopes: ['openid', 'email'],
      SupportedIdentityProviders: ['COGNITO'],
    });
    expect(JSON.stringify(client.Properties.CallbackURLs)).toContain('/board/callback');
  });

  it('runs the digest function once a day with EventBridge Scheduler, retried with the run named by its time', () => {
    const schedule = only(
      Object.fromEntries(
        Object.entries(resources(app, 'AWS::Scheduler::Schedule')).filter(
          ([, { Properties }]) => Properties.ScheduleExpression !== 'rate(1 minute)',
        ),
      ),
    );
    expect(schedule.Properties).toMatchObject({
      ScheduleExpression: 'cron(0 7 * * ? *)',
      ScheduleExpressionTimezone: 'Etc/UTC',
      State: 'ENABLED',
      Target: {
        Arn: { 'Fn::GetAtt': [functionIds().digest, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 7200 },
      },
    });
    const target = schedule.Properties.Target as { Input: string };
    expect(JSON.parse(target.Input)).toEqual({ scheduledTime: '<aws.scheduler.scheduled-time>' });
  });

  it('throttles the default stage', () => {
    const stage = only(resources(app, 'AWS::ApiGatewayV2::Stage'));
    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingRateLimit: expect.any(Number), ThrottlingBurstLimit: expect.any(Number) },
    });
  });

  it('writes JSON access logs that never hold the query string or headers', () => {
    const { AccessLogSettings } = only(resources(app, 'AWS::ApiGatewayV2::Stage')).Properties as {
      AccessLogSettings: { Format: string; DestinationArn: unknown };
    };
    const format = JSON.parse(AccessLogSettings.Format) as Record<string, string>;
    expect(format).toEqual(ACCESS_LOG_FIELDS);
    expect(Object.values(format)).toEqual(
      expect.arrayContaining(['$context.requestId', '$context.routeKey', '$context.status', '$context.path']),
    );
    for (const variable of Object.values(format)) {
      expect(variable).toMatch(/^\$context\.[A-Za-z.]+$/);
      expect(variable).not.toMatch(/query|header|request\.|requestOverride|authorizer/i);
    }
  });
});

const mappingOf = (name: FunctionName) =>
  only(
    Object.fromEntries(
      Object.entries(resources(app, 'AWS::Lambda::EventSourceMapping')).filter(
        ([, { Properties }]) => (Properties.FunctionName as { Ref?: string }).Ref === functionIds()[name],
      ),
    ),
  );

describe('the outbox', () => {
  it('feeds the outbox function from the table stream: parallel batches, partial failures, a day of retries, failure queue', () => {
    expect(Object.keys(resources(app, 'AWS::Lambda::EventSourceMapping'))).toHaveLength(2);
    const mapping = mappingOf('outbox');
    expect(mapping?.Properties).toMatchObject({
      FunctionName: { Ref: functionIds().outbox },
      StartingPosition: 'TRIM_HORIZON',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10_000,
      MaximumRecordAgeInSeconds: 86_400,
      BatchSize: 100,
      ParallelizationFactor: 10,
      DestinationConfig: { OnFailure: { Destination: expect.anything() } },
    });
    expect(renderString(mapping?.Properties.EventSourceArn)).toMatch(/StageflowData.*StreamArn/);
  });

  it('gives the outbox a timeout as long as its effect runs may last, and the write-back one as long as its leases', () => {
    const timeoutOf = (name: FunctionName) =>
      resource(app, 'AWS::Lambda::Function', functionIds()[name]).Properties.Timeout;
    expect(timeoutOf('outbox')).toBe(FUNCTION_TIMEOUT_SECONDS.outbox);
    expect(timeoutOf('writeBack')).toBe(FUNCTION_TIMEOUT_SECONDS.writeBack);
  });
});

describe('the CRM write-back', () => {
  it('starts a run on each new write-back (the stream, filtered to write-back inserts), never retrying a batch', () => {
    const mapping = mappingOf('writeBack');
    expect(mapping.Properties).toMatchObject({ StartingPosition: 'LATEST', MaximumRetryAttempts: 0 });
    expect(mapping.Properties).not.toHaveProperty('DestinationConfig');
    const [filter, ...more] = (mapping.Properties.FilterCriteria as { Filters: { Pattern: string }[] }).Filters;
    expect(more).toEqual([]);
    expect(JSON.parse(filter?.Pattern ?? '{}')).toEqual({
      eventName: ['INSERT'],
      dynamodb: { Keys: { pk: { S: [{ prefix: 'WRITEBACK#' }] }, sk: { S: [{ prefix: 'ITEM#' }] } } },
    });
  });

  it('sweeps the due retries every minute, without retrying a failed sweep', () => {
    const schedules = Object.values(resources(app, 'AWS::Scheduler::Schedule')).filter(
      ({ Properties }) => Properties.ScheduleExpression === 'rate(1 minute)',
    );
    expect(schedules).toHaveLength(1);
    expect(schedules[0]?.Properties.Target).toMatchObject({
      Arn: { 'Fn::GetAtt': [functionIds().writeBack, 'Arn'] },
      RetryPolicy: { MaximumRetryAttempts: 0 },
    });
  });
});

describe('operations', () => {
  it('alarms on failed and timed-out executions, function errors and throttles, the dead-letter queue and unmapped CRM stages', () => {
    const alarms = Object.values(resources(app, 'AWS::CloudWatch::Alarm')).map(({ Properties }) => ({
      metric: `${Properties.Namespace} ${Properties.MetricName}`,
      of: (Properties.Dimensions as { Value: { Ref?: string; 'Fn::GetAtt'?: string[] } }[])[0]?.Value,
    }));
    const expected = [
      ...[...synthesized.app.workflows.values()].flatMap((workflow) =>
        ['ExecutionsFailed', 'ExecutionsTimedOut'].map((name) => ({
          metric: `AWS/States ${name}`,
          of: { Ref: idOf(workflow.stateMachine.node.defaultChild) },
        })),
      ),
      ...Object.values(functionIds()).flatMap((id) =>
        ['Errors', 'Throttles'].map((name) => ({ metric: `AWS/Lambda ${name}`, of: { Ref: id } })),
      ),
      { metric: 'Stageflow RolloutFailed', of: 'stageflow-rollout' },
      { metric: 'Stageflow OutboxEffectFailed', of: 'stageflow-outbox' },
      { metric: 'AWS/Lambda IteratorAge', of: { Ref: functionIds().outbox } },
      { metric: 'Stageflow UnmappedCrmStage', of: 'stageflow-webhook' },
      ...Object.keys(resources(app, 'AWS::SQS::Queue')).map((queue) => ({
        metric: 'AWS/SQS ApproximateNumberOfMessagesVisible',
        of: { 'Fn::GetAtt': [queue, 'QueueName'] },
      })),
    ];
    expect(alarms).toHaveLength(expected.length);
    expect(alarms).toEqual(expect.arrayContaining(expected));
  });

  it('gives the CRM write-back credentials a secret of their own, read by the write-back function alone', () => {
    const crmSecrets = Object.entries(resources(app, 'AWS::SecretsManager::Secret')).filter(
      ([, s]) => !s.Properties.GenerateSecretString,
    );
    expect(crmSecrets).toHaveLength(1);
    const [crmSecretId] = crmSecrets[0] ?? [];
    expect(environmentOf(functionIds().writeBack)).toHaveProperty('CRM_SECRETS_ARN', { Ref: crmSecretId });
    const readers = Object.entries(functionIds()).filter(([name]) =>
      JSON.stringify(statementsOf(app, roleIdOf(name as FunctionName))).includes(`"${crmSecretId}"`),
    );
    expect(readers.map(([name]) => name)).toEqual(['writeBack']);
  });

  it('creates the secret with the CRM values empty and the link signing key generated: nothing in plain text', () => {
    const secret = only(
      Object.fromEntries(
        Object.entries(resources(app, 'AWS::SecretsManager::Secret')).filter(
          ([, s]) => s.Properties.GenerateSecretString,
        ),
      ),
    );
    expect(secret.Properties).not.toHaveProperty('SecretString');
    const generate = secret.Properties.GenerateSecretString as {
      SecretStringTemplate: string;
      GenerateStringKey: string;
    };
    const template = JSON.parse(generate.SecretStringTemplate) as Record<string, string>;
    expect([...Object.keys(template), generate.GenerateStringKey].sort()).toEqual([...SECRET_NAMES].sort());
    expect(Object.values(template).every((value) => value === '')).toBe(true);
  });

  it('has no finding of the cdk-nag AWS Solutions rules that is not acknowledged with a reason', () => {
    // The rules app.ts runs on synthesis, run here on the same construct tree.
    const report = new AwsSolutionsChecks().validateScope(synthesized.cdkApp);
    const findings = report.violations.map(
      (violation) => `${violation.ruleName} at ${violation.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });

  it('has no dependency cycle between the resources of the app stack', () => {
    const template = app.toJSON() as { Resources: Record<string, { DependsOn?: string | string[] }> };
    const ids = new Set(Object.keys(template.Resources));
    const edges = new Map<string, string[]>();
    for (const [id, resource] of Object.entries(template.Resources)) {
      const text = JSON.stringify(resource);
      const refs = [...text.matchAll(/"(?:Ref|Fn::GetAtt)":\s*(?:"([^"]+)"|\["([^"]+)")/g)].map((m) => m[1] ?? m[2]);
      edges.set(
        id,
        [...refs, ...[resource.DependsOn ?? []].flat()].filter((ref): ref is string => ids.has(ref ?? '')),
      );
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const cycleFrom = (id: string, path: string[]): string[] | undefined => {
      if (done.has(id)) return undefined;
      if (visiting.has(id)) return [...path, id];
      visiting.add(id);
      for (const next of edges.get(id) ?? []) {
        const cycle = cycleFrom(next, [...path, id]);
        if (cycle) return cycle;
      }
      visiting.delete(id);
      done.add(id);
      return undefined;
    };
    for (const id of ids) expect(cycleFrom(id, [])).toBeUndefined();
  });
});

describe('stateful resources', () => {
  it('keeps the logical ids and keys of the table, the state machines and the secret', () => {
    const pick = (template: Template, type: string, keys: string[]) =>
      Object.fromEntries(
        Object.entries(resources(template, type)).map(([id, { Properties }]) => [
          id,
          { Type: type, ...Object.fromEntries(keys.map((key) => [key, Properties[key] ?? null])) },
        ]),
      );
    const current = {
      StageflowData: pick(data, 'AWS::DynamoDB::Table', [
        'KeySchema',
        'AttributeDefinitions',
        'GlobalSecondaryIndexes',
      ]),
      StageflowApp: {
        ...pick(app, 'AWS::StepFunctions::StateMachine', ['StateMachineName', 'StateMachineType']),
        ...pick(app, 'AWS::SecretsManager::Secret', ['Name']),
      },
    };
    expect(
      current,
      'A change would replace a stateful resource (a new logical id or key schema means CloudFormation creates a new ' +
        'one and loses the data, running executions or secret values of the old). Keep the construct ids and keys. ' +
        'If the replacement is intended and the data is migrated, copy the received value into ' +
        'test/infra/stateful-resources.json.',
    ).toEqual(statefulResources);
  });
});
