import * as z from 'zod';
import { ApproverSchema } from './approver-config.ts';

/**
 * The schema of a pipeline's stage config (`stage-config/<pipeline>.yaml`).
 * This is the single definition of the config's shape; `config/read.ts` reads a config's text against it.
 */

const key = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'use lower_snake_case: a letter, then letters, digits or underscores')
  .describe('a machine key in lower_snake_case');

const scalar = z.union([z.string(), z.number(), z.boolean()]);

export const CriterionSchema = z
  .strictObject({
    field: z.string().min(1).describe('the deal field this criterion reads'),
    require: z
      .enum(['present', 'date', 'equals', 'number'])
      .describe(
        'present: a non-empty value; date: an ISO date (YYYY-MM-DD or a full timestamp); equals: exactly `value`; number: a number within the optional bounds',
      ),
    value: scalar.optional().describe('with `require: equals`, the value the field must hold'),
    greaterThan: z.number().optional().describe('with `require: number`, the field must be greater than this'),
    atLeast: z.number().optional().describe('with `require: number`, the field must be at least this'),
    lessThan: z.number().optional().describe('with `require: number`, the field must be less than this'),
    atMost: z.number().optional().describe('with `require: number`, the field must be at most this'),
    description: z.string().optional().describe('what the criterion means, shown to the deal owner'),
  })
  .superRefine((criterion, ctx) => {
    if (criterion.require === 'equals' && criterion.value === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `criterion on '${criterion.field}' says 'require: equals' but gives no 'value' — add the value the field must hold`,
      });
    }
    const bounds = (['greaterThan', 'atLeast', 'lessThan', 'atMost'] as const).filter(
      (b) => criterion[b] !== undefined,
    );
    if (criterion.require !== 'number' && bounds.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: [bounds[0] as string],
        message: `'${bounds[0]}' only applies to 'require: number' — change 'require' to number or remove the bound`,
      });
    }
  })
  .describe('a condition on one deal field');
export type Criterion = z.infer<typeof CriterionSchema>;

export const ExitApprovalSchema = z
  .strictObject({
    role: key.describe('the approver role (a key of `approvers`) whose approval gates the exit'),
    reason: z.string().optional().describe('why this approval is needed, shown in the approval email and page'),
    when: CriterionSchema.optional().describe('the approval is needed only when this criterion holds'),
  })
  .describe('an approval that must be granted before a deal may leave the stage forward');
export type ExitApproval = z.infer<typeof ExitApprovalSchema>;

export const StageSchema = z
  .strictObject({
    key: key.describe('the stage key used in webhooks, the API and the state machine'),
    name: z.string().min(1).describe('the name people see, e.g. "Deliver/Finalize"'),
    definition: z.string().min(1).describe('what the stage means'),
    goals: z.array(z.string().min(1)).default([]).describe('the goals of the stage'),
    actions: z.array(z.string().min(1)).default([]).describe('what the rep does in this stage'),
    closed: z.enum(['won', 'lost']).optional().describe('marks a closed stage; a closed deal takes no further moves'),
    exitCriteria: z
      .array(CriterionSchema)
      .default([])
      .describe('fields that must hold before the deal may leave this stage forward'),
    entryCriteria: z
      .array(CriterionSchema)
      .default([])
      .describe('fields that must hold before the deal may enter this stage (e.g. lostReason for closed lost)'),
    entryApprovals: z
      .array(key)
      .default([])
      .describe('approver roles asked at once when a deal enters this stage (a validation handoff)'),
    exitApprovals: z
      .array(ExitApprovalSchema)
      .default([])
      .describe('approvals that must be granted before the deal may leave this stage forward'),
    reachableFrom: z
      .array(key)
      .optional()
      .describe('for a closed stage, the open stages a deal may close from (default: every open stage)'),
    staleAfterDays: z
      .number()
      .positive()
      .optional()
      .describe('an open deal is stale once it has been in this stage longer than this many days (board, digest)'),
  })
  .describe('one stage of the pipeline');
export type StageConfig = z.infer<typeof StageSchema>;

const stageMap = z.record(z.string().min(1), key).describe('CRM value → stage key');
/**
 * The CRM pipelines a Stageflow pipeline manages. Ids are kept as text (Pipedrive's are numbers in YAML and in its
 * webhooks alike); an event of any other CRM pipeline is not this pipeline's.
 */
const crmPipelines = z
  .array(z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String))
  .default([]);
const fieldRenames = z.record(z.string().min(1), z.string().min(1)).default({}).describe('CRM field → deal field');
const writeBack = z
  .boolean()
  .default(true)
  .describe('write decisions back to this CRM when its credentials are set; false never writes');

/** How open deals meet a new version: they move to it (the default), or keep theirs (`new-deals-only`). */
export const ROLLOUTS = ['open-deals', 'new-deals-only'] as const;
export type Rollout = (typeof ROLLOUTS)[number];

export const PipelineConfigSchema = z
  .strictObject({
    pipeline: key.describe('the pipeline id, used in webhooks (`pipeline`) and the read API'),
    name: z.string().min(1).describe('the pipeline name people see'),
    rules: z
      .strictObject({
        allowSkips: z.boolean().default(false).describe('may a forward move skip open stages?'),
        allowBackward: z.boolean().default(true).describe('may a deal move back to an earlier open stage?'),
        startStages: z
          .array(key)
          .min(1)
          .optional()
          .describe('the stages a new deal may start in (default: the first stage only)'),
        notifyOwnerOnStageEntry: z
          .boolean()
          .default(true)
          .describe("email the owner the stage's goals, actions and open exit criteria on entering each stage"),
      })
      .prefault({})
      .describe('transition rules'),
    approvers: z
      .record(
        key.describe('an approver role, referenced by `entryApprovals` and `exitApprovals[].role`'),
        ApproverSchema,
      )
      .default({})
      .describe('approver roles and where their requests go'),
    approvalTiming: z
      .strictObject({
        reminderAfterHours: z.number().positive().default(24).describe('remind the approver after this long'),
        expireAfterHours: z.number().positive().default(72).describe('the request expires after this long'),
      })
      .prefault({})
      .describe('approval reminders and expiry'),
    stages: z.array(StageSchema).min(2).describe('the stages in order: open stages first, then the closed ones'),
    crm: z
      .strictObject({
        hubspot: z
          .strictObject({
            pipelines: crmPipelines.describe(
              "the HubSpot pipeline ids this pipeline manages (HubSpot's first pipeline is 'default')",
            ),
            stages: stageMap.describe('HubSpot dealstage → stage key'),
            fields: fieldRenames,
            writeBack,
          })
          .optional()
          .describe('HubSpot webhooks v3'),
        pipedrive: z
          .strictObject({
            pipelines: crmPipelines.describe('the Pipedrive pipeline_ids this pipeline manages'),
            stages: stageMap.describe('Pipedrive stage_id → stage key'),
            status: z
              .strictObject({ won: key.optional(), lost: key.optional() })
              .default({})
              .describe('Pipedrive deal status → closed stage key'),
            fields: fieldRenames,
            options: z
              .record(
                z.string().min(1).describe('a custom field key (the 40-hex key Pipedrive sends)'),
                z.record(z.string().min(1), scalar).describe('option id → the value criteria compare with'),
              )
              .default({})
              .describe('the values of enum and set custom fields, which Pipedrive sends as option ids'),
            writeBack,
          })
          .optional()
          .describe('Pipedrive webhooks v2'),
        salesforce: z
          .strictObject({
            recordTypes: z
              .array(z.string().min(1).max(18).describe('an Opportunity RecordTypeId'))
              .optional()
              .describe(
                'the Opportunity record types this pipeline manages; without them, the pipeline takes the ' +
                  'Opportunities no pipeline claims by record type when outbound messages are routed to it',
              ),
            stages: stageMap.describe('Salesforce StageName → stage key'),
            fields: fieldRenames,
            writeBack,
          })
          .optional()
          .describe('Salesforce outbound messages'),
      })
      .default({})
      .describe('how each CRM names the stages and fields'),
    rollout: z
      .enum(ROLLOUTS)
      .default('open-deals')
      .describe(
        'open-deals: when this version goes live, open deals move to it; new-deals-only: open deals keep the version they have',
      ),
    retiredStages: z
      .record(key, key)
      .default({})
      .describe('removed stage key → the open stage its open deals move to when this version goes live'),
    digest: z
      .strictObject({
        to: z
          .array(z.email().describe('an address that receives the pipeline summary'))
          .default([])
          .describe('who receives the daily pipeline summary of stale deals (owners get their own deals anyway)'),
      })
      .optional()
      .describe('the daily stale-deal digest'),
  })
  .describe('a sales pipeline: its stages, rules, approvers and CRM mappings');

export type PipelineConfig = z.infer<typeof PipelineConfigSchema>;
export type CrmSource = keyof PipelineConfig['crm'];

/** A pipeline config as a deal is evaluated under it: the parsed config plus its content hash. */
export interface VersionedPipeline {
  config: PipelineConfig;
  /** The hash of the parsed config (comments and formatting do not count): what a deal records as its `configVersion`. */
  version: string;
}
