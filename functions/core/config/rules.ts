import { basename, extname } from 'node:path';
import type { CrmSource, PipelineConfig, StageConfig } from '../pipeline-config.ts';
import { suggest } from './explain.ts';
import type { PathSegment, Problem } from './types.ts';

/** The cross-field rules of a stage config: what a config of a valid shape can still get wrong. */

/**
 * Every cross-field problem of a config whose shape is valid.
 * @param file where the config came from: a `.yaml`/`.yml` file name must equal the pipeline id.
 */
export function crossFieldProblems(config: PipelineConfig, file: string): Problem[] {
  const structure = [...stageListProblems(config.stages), ...stageReferenceProblems(config)];
  return [
    ...structure,
    // With broken references every stage would look unreachable: report those first.
    ...(structure.length === 0 ? reachabilityProblems(config) : []),
    ...approvalRoleProblems(config),
    ...crmProblems(config),
    ...timingProblems(config),
    ...retiredStageProblems(config),
    ...staleAfterProblems(config.stages),
    ...pipelineIdProblems(config.pipeline, file),
  ];
}

const CLOSED_STAGE_EXTRAS = {
  exitCriteria: 'a closed deal never leaves its stage — remove them; use entryCriteria for what must hold to close',
  exitApprovals: 'a closed deal never leaves its stage — move them to the open stage the deal closes from',
  entryApprovals: 'a closed deal takes no further moves — gate the move with exitApprovals on the stage before',
} as const;

function stageListProblems(stages: readonly StageConfig[]): Problem[] {
  const problems: Problem[] = [];
  const firstIndexOf = new Map<string, number>();
  let firstClosed: StageConfig | undefined;
  stages.forEach((stage, index) => {
    const earlier = firstIndexOf.get(stage.key);
    if (earlier === undefined) firstIndexOf.set(stage.key, index);
    else {
      const message = `stage key '${stage.key}' is already used by stages[${earlier}] — give every stage its own key`;
      problems.push({ path: ['stages', index, 'key'], message });
    }
    if (stage.closed) {
      firstClosed ??= stage;
      for (const [field, why] of Object.entries(CLOSED_STAGE_EXTRAS)) {
        if (stage[field as keyof typeof CLOSED_STAGE_EXTRAS].length > 0) {
          const message = `closed stage '${stage.key}' has ${field}, but ${why}`;
          problems.push({ path: ['stages', index, field], at: 'key', message });
        }
      }
      return;
    }
    if (firstClosed) {
      const message = `open stage '${stage.key}' follows closed stage '${firstClosed.key}' — list open stages first`;
      problems.push({ path: ['stages', index], message });
    }
    if (stage.reachableFrom) {
      const message = `open stage '${stage.key}' has reachableFrom, which only applies to closed stages — remove it`;
      problems.push({ path: ['stages', index, 'reachableFrom'], at: 'key', message });
    }
  });
  if (stages.every((stage) => stage.closed)) {
    problems.push({ path: ['stages'], message: 'there is no open stage — add the stages a deal works through' });
  }
  if (!firstClosed) {
    const message = "there is no closed stage — add at least one stage with 'closed: won' or 'closed: lost'";
    problems.push({ path: ['stages'], message });
  }
  return problems;
}

type StageKind = 'any' | 'open' | 'won' | 'lost';

const KIND_WORDS: Record<StageKind, string> = {
  any: 'a stage',
  open: 'an open stage',
  won: "a closed stage with 'closed: won'",
  lost: "a closed stage with 'closed: lost'",
};

/** A reference to a stage that must exist and be of the given kind; `referrer` says who refers, e.g. "X maps to". */
function stageReference(
  stages: readonly StageConfig[],
  path: readonly PathSegment[],
  referrer: string,
  key: string,
  kind: StageKind,
): Problem[] {
  const fits = (stage: StageConfig) => kind === 'any' || (kind === 'open' ? !stage.closed : stage.closed === kind);
  const stage = stages.find((candidate) => candidate.key === key);
  if (stage && fits(stage)) return [];
  const fitting = stages.filter(fits).map((candidate) => candidate.key);
  const advice = suggest(key, fitting, fitting.length > 0 ? `use one of: ${fitting.join(', ')}` : 'add such a stage');
  const what = stage
    ? `${stage.closed ? `a closed stage (${stage.closed})` : 'an open stage'}, but ${KIND_WORDS[kind]} is needed here`
    : 'not a stage of this pipeline';
  return [{ path, message: `${referrer} '${key}', which is ${what} — ${advice}` }];
}

function stageReferenceProblems({ stages, rules }: PipelineConfig): Problem[] {
  const starts = (rules.startStages ?? []).flatMap((key, index) =>
    stageReference(stages, ['rules', 'startStages', index], 'rules.startStages names', key, 'open'),
  );
  const closings = stages.flatMap((stage, index) =>
    stage.closed
      ? (stage.reachableFrom ?? []).flatMap((key, j) =>
          stageReference(
            stages,
            ['stages', index, 'reachableFrom', j],
            `closed stage '${stage.key}' is reachable from`,
            key,
            'open',
          ),
        )
      : [],
  );
  return [...starts, ...closings];
}

/** Every stage must be reachable from a start stage by the moves the rules allow. */
function reachabilityProblems({ stages, rules }: PipelineConfig): Problem[] {
  const open = stages.filter((stage) => !stage.closed);
  const openKeys = open.map((stage) => stage.key);
  const starts = rules.startStages ?? openKeys.slice(0, 1);
  const next = (key: string): string[] => {
    const index = openKeys.indexOf(key);
    if (index < 0) return [];
    const forward = openKeys.slice(index + 1, rules.allowSkips ? undefined : index + 2);
    const backward = rules.allowBackward ? openKeys.slice(0, index) : [];
    const closing = stages.filter((stage) => stage.closed && (stage.reachableFrom ?? openKeys).includes(key));
    return [...forward, ...backward, ...closing.map((stage) => stage.key)];
  };
  const reached = new Set<string>();
  const queue = [...starts];
  for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
    if (reached.has(key)) continue;
    reached.add(key);
    queue.push(...next(key));
  }
  return stages.flatMap((stage, index): Problem[] => {
    if (reached.has(stage.key)) return [];
    if (stage.closed) {
      const message =
        `closed stage '${stage.key}' can never be reached` +
        ' — add an open stage that deals can reach to its reachableFrom';
      return [{ path: ['stages', index, 'reachableFrom'], at: 'key', message }];
    }
    const message =
      `open stage '${stage.key}' can never be reached: deals start in ${starts.join(', ')} and backward moves are off` +
      ' — add it to rules.startStages or set rules.allowBackward: true';
    return [{ path: ['stages', index], message }];
  });
}

function approvalRoleProblems({ stages, approvers }: PipelineConfig): Problem[] {
  const roles = Object.keys(approvers);
  const check = (stage: StageConfig, role: string, path: PathSegment[]): Problem[] => {
    if (Object.hasOwn(approvers, role)) return [];
    const advice = suggest(role, roles, `add approvers.${role} with a name and an email`);
    return [
      { path, message: `stage '${stage.key}' lists approver role '${role}', which is not in approvers — ${advice}` },
    ];
  };
  return stages.flatMap((stage, index) => [
    ...stage.entryApprovals.flatMap((role, j) => check(stage, role, ['stages', index, 'entryApprovals', j])),
    ...stage.exitApprovals.flatMap(({ role }, j) => check(stage, role, ['stages', index, 'exitApprovals', j, 'role'])),
  ]);
}

const CRM_STAGE_VALUE: Record<CrmSource, string> = {
  hubspot: 'HubSpot dealstage',
  pipedrive: 'Pipedrive stage_id',
  salesforce: 'Salesforce StageName',
};

function crmProblems({ stages, crm }: PipelineConfig): Problem[] {
  const maps = (Object.keys(CRM_STAGE_VALUE) as CrmSource[]).flatMap((source) =>
    Object.entries(crm[source]?.stages ?? {}).flatMap(([value, key]) =>
      stageReference(
        stages,
        ['crm', source, 'stages', value],
        `${CRM_STAGE_VALUE[source]} '${value}' maps to`,
        key,
        'any',
      ),
    ),
  );
  const status = crm.pipedrive?.status ?? {};
  const statuses = (['won', 'lost'] as const).flatMap((outcome) => {
    const key = status[outcome];
    const path = ['crm', 'pipedrive', 'status', outcome];
    return key === undefined ? [] : stageReference(stages, path, `Pipedrive status '${outcome}' maps to`, key, outcome);
  });
  return [...maps, ...statuses];
}

function timingProblems({ approvalTiming }: PipelineConfig): Problem[] {
  const { reminderAfterHours: reminder, expireAfterHours: expiry } = approvalTiming;
  if (expiry > reminder) return [];
  const message =
    `approvals expire after ${expiry} h, before the reminder due after ${reminder} h could go out` +
    ' — make expireAfterHours greater than reminderAfterHours';
  return [{ path: ['approvalTiming', 'expireAfterHours'], message }];
}

/** `retiredStages` maps keys that are gone to open stages that exist: a key still in `stages` is not retired. */
function retiredStageProblems({ stages, retiredStages }: PipelineConfig): Problem[] {
  return Object.entries(retiredStages).flatMap(([retired, target]) => {
    const path = ['retiredStages', retired];
    const still = stages.find((stage) => stage.key === retired);
    const kept: Problem[] = still
      ? [
          {
            path,
            at: 'key',
            message:
              `stage '${retired}' is retired here but still listed in stages` +
              ' — remove it from stages, or remove this retiredStages entry',
          },
        ]
      : [];
    return [...kept, ...stageReference(stages, path, `retired stage '${retired}' maps to`, target, 'open')];
  });
}

function staleAfterProblems(stages: readonly StageConfig[]): Problem[] {
  return stages.flatMap((stage, index): Problem[] => {
    if (!stage.closed || stage.staleAfterDays === undefined) return [];
    const message =
      `closed stage '${stage.key}' has staleAfterDays, but a closed deal never goes stale` +
      ' — set staleAfterDays on the open stages only';
    return [{ path: ['stages', index, 'staleAfterDays'], at: 'key', message }];
  });
}

function pipelineIdProblems(pipeline: string, file: string): Problem[] {
  const extension = extname(file);
  if (!/^\.ya?ml$/i.test(extension)) return [];
  const stem = basename(file, extension);
  if (stem === pipeline) return [];
  const message =
    `pipeline id '${pipeline}' does not match the file name '${basename(file)}'` +
    ` — rename the file to '${pipeline}${extension}' or set 'pipeline: ${stem}'`;
  return [{ path: ['pipeline'], message }];
}
