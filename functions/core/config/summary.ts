import type { ApproverConfig } from '../approver-config.ts';
import { describeCriterion } from '../criteria.ts';
import type { ExitApproval, PipelineConfig, StageConfig, VersionedPipeline } from '../pipeline-config.ts';
import { closableFrom, startStages } from '../stages.ts';

/** What `npm run config:check` prints for a valid stage config: its rules, stages, approvers and CRM names. */

function describeApproval({ role, when }: ExitApproval): string {
  return when ? `${role} when ${describeCriterion(when)}` : role;
}

/** The summary of a valid pipeline: its rules, stages in order with their CRM names, approvers and timing. */
export function summarizePipeline({ config, version }: VersionedPipeline, file: string): string {
  const { rules, stages, approvers, approvalTiming } = config;
  const openStages = stages.filter((stage) => !stage.closed);
  const crmNames = crmNamesByStage(config);
  const details = (stage: StageConfig) =>
    [
      ['entry criteria', stage.entryCriteria.map(describeCriterion).join('; ')],
      ['entry approvals', stage.entryApprovals.join(', ')],
      ['exit criteria', stage.exitCriteria.map(describeCriterion).join('; ')],
      ['exit approvals', stage.exitApprovals.map(describeApproval).join(', ')],
      ['CRM names', crmNames.get(stage.key)?.join(', ') ?? ''],
      ['stale after', stage.staleAfterDays === undefined ? '' : `${stage.staleAfterDays} days in the stage`],
    ]
      .filter(([, text]) => text)
      .map(([label, text]) => `       ${label}: ${text}`);
  const renames = Object.entries(config.crm).flatMap(([source, mapping]) =>
    Object.entries(mapping?.fields ?? {}).map(([from, to]) => `  ${source} ${from} → ${to}`),
  );
  return [
    `${file} is valid.`,
    '',
    `Pipeline  ${config.pipeline}: ${config.name}`,
    `Version   ${version}`,
    `Forward   ${rules.allowSkips ? 'may skip stages' : 'one stage at a time'}`,
    `Backward  ${rules.allowBackward ? 'to any earlier open stage' : 'never'}`,
    `Start     ${startStages(config)
      .map((stage) => stage.key)
      .join(', ')}`,
    `Owner     ${rules.notifyOwnerOnStageEntry ? 'emailed on entering each stage' : 'not emailed on stage entry'}`,
    '',
    'Open stages',
    ...openStages.flatMap((stage, index) => [`  ${index + 1}. ${stage.key} (${stage.name})`, ...details(stage)]),
    '',
    'Closed stages',
    ...stages
      .filter((stage) => stage.closed)
      .flatMap((stage) => [
        `  ${stage.key} (${stage.name}): ${stage.closed}, from ${closableFrom(config, stage).join(', ')}`,
        ...details(stage),
      ]),
    '',
    'Approvers',
    ...Object.entries(approvers).flatMap(([role, approver]) => approverLines(role, approver)),
    `Approvals remind after ${approvalTiming.reminderAfterHours} h, expire after ${approvalTiming.expireAfterHours} h`,
    ...(renames.length > 0 ? ['', 'CRM field renames', ...renames] : []),
    `Digest    stale deals to their owners daily; pipeline summary to ${config.digest?.to.join(', ') || 'nobody'}`,
  ].join('\n');
}

/** How each CRM names each stage, e.g. `deliver` → `hubspot contractsent`, `pipedrive 5`. */
function crmNamesByStage({ crm }: PipelineConfig): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const add = (stage: string | undefined, name: string) => {
    if (stage !== undefined) names.set(stage, [...(names.get(stage) ?? []), name]);
  };
  for (const [source, mapping] of Object.entries(crm)) {
    for (const [value, stage] of Object.entries(mapping?.stages ?? {}))
      add(stage, `${source} ${/\s/.test(value) ? JSON.stringify(value) : value}`);
  }
  for (const [status, stage] of Object.entries(crm.pipedrive?.status ?? {})) add(stage, `pipedrive status ${status}`);
  return names;
}

/** One approver role: whom it asks, how a group decides, delegations, escalation and the deal field naming the approver. */
function approverLines(role: string, approver: ApproverConfig): string[] {
  const who = approver.members
    ? `${approver.name}: ${approver.members.join(', ')} (decide: ${approver.decide ?? 'any'})`
    : `${approver.name} <${approver.email}>`;
  return [
    `  ${role}: ${who}`,
    ...(approver.fromField ? [`    asks the address in the deal field ${approver.fromField} when it holds one`] : []),
    ...(approver.delegates ?? []).map(
      (d) => `    delegate ${d.to} for ${d.for ?? approver.email} from ${d.from} until ${d.until}`,
    ),
    ...(approver.escalateTo ? [`    escalates to ${approver.escalateTo} (copied on reminders, told at expiry)`] : []),
  ];
}
