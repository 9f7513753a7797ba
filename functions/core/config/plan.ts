import { isDeepStrictEqual } from 'node:util';
import { describeCriterion, unmetCriteria } from '../criteria.ts';
import type { Deal } from '../deal.ts';
import { approvalsNoLongerNeeded, needsMigration, stageUnder, unmappedStagesMessage } from '../migrate.ts';
import type { Criterion, ExitApproval, PipelineConfig, StageConfig, VersionedPipeline } from '../pipeline-config.ts';
import { stageOf } from '../stages.ts';
import { formatReroutedApprovals, type ReroutedApproval, reroutedApprovals } from './plan-approvers.ts';

/**
 * `config:plan`: what a new version of a pipeline changes against the live one, and what it does to the open deals.
 * Pure: the caller reads the live version and the open deals.
 */

/** One change of one item: a criterion, an approval, a guidance text, a setting. */
export interface Change {
  change: 'added' | 'removed' | 'changed';
  /** What changed, in words, e.g. `exit criterion territory is filled in` or `rules.allowSkips`. */
  what: string;
  before?: string;
  after?: string;
}

/**
 * The changes of one stage. `renamed`: removed, with `retiredStages` mapping it to a stage the new version adds; it is
 * listed once, under its old key, with what differs in the stage that replaces it (which is not listed as added).
 */
export interface StageDiff {
  stage: string;
  status: 'added' | 'removed' | 'renamed' | 'changed';
  /** For a removed or renamed stage: where its open deals go (`retiredStages`), null when unmapped. */
  movesTo?: string | null;
  changes: Change[];
}

export interface ConfigDiff {
  pipeline: string;
  /** The live version, or null when none is live yet (a first start or deploy). */
  from: string | null;
  to: string;
  stages: StageDiff[];
  /** Rules, approvers, approval timing, CRM maps, the pipeline name, the rollout mode. */
  settings: Change[];
}

/** The impact on the open deals of one stage (a stage the deals sit in now). */
export interface StageImpact {
  stage: string;
  open: number;
  /** Open deals that meet the stage's exit criteria under their version but would not under the new one. */
  newlyBlocked: number;
  /** Up to five of them. */
  newlyBlockedDeals: string[];
  /** When the new version removes the stage: where its deals go, null when unmapped (a decision is needed). */
  movesTo?: string | null;
  /** Pending approvals the move to the new version would cancel (roles the stage no longer needs). */
  cancelledApprovals: number;
}

export interface RolloutPlan {
  diff: ConfigDiff;
  rollout: PipelineConfig['rollout'];
  /** Open deals that would move to the new version (0 with `rollout: new-deals-only`). */
  moving: number;
  stages: StageImpact[];
  cancelledApprovals: number;
  /** Pending approvals the new version keeps but asks of other people (approvers changed): who, before and after. */
  reroutedApprovals: ReroutedApproval[];
  /** Removed stages with open deals and no `retiredStages` entry: the rollout needs the admin's decision. */
  unmapped: { stage: string; dealIds: string[] }[];
  /** The refusal `config:plan`, `start` and the deploy print, or null when the rollout needs no decision. */
  decisionNeeded: string | null;
}

const NEWLY_BLOCKED_SHOWN = 5;

/** Every difference between the live version (null: nothing live yet) and the new one. */
export function diffConfigs(live: VersionedPipeline | null, next: VersionedPipeline): ConfigDiff {
  const before = live?.config;
  const after = next.config;
  const stages: StageDiff[] = [];
  const beforeStages = before?.stages ?? [];
  const renamedTo = new Set<string>();
  for (const old of beforeStages) {
    const now = stageOf(after, old.key);
    if (now) {
      const changes = diffStage(old, now);
      if (changes.length > 0) stages.push({ stage: old.key, status: 'changed', changes });
      continue;
    }
    const target = after.retiredStages[old.key] ?? null;
    const successor =
      target !== null && !beforeStages.some((s) => s.key === target) ? stageOf(after, target) : undefined;
    if (successor && target !== null && !renamedTo.has(target)) {
      renamedTo.add(target);
      stages.push({ stage: old.key, status: 'renamed', movesTo: target, changes: diffStage(old, successor) });
      continue;
    }
    stages.push({ stage: old.key, status: 'removed', movesTo: target, changes: [] });
  }
  for (const added of after.stages) {
    if ((before && stageOf(before, added.key)) || renamedTo.has(added.key)) continue;
    stages.push({ stage: added.key, status: 'added', changes: [] });
  }
  const settings = before
    ? diffValues('', settingsOf(before), settingsOf(after))
    : [{ change: 'added' as const, what: `pipeline ${after.pipeline}` }];
  return { pipeline: after.pipeline, from: live?.version ?? null, to: next.version, stages, settings };
}

/**
 * The plan of a rollout: the diff and its impact on the open deals (any version, each judged against its own).
 * @param versions every stored version the deals may be on, by version
 * @param now the moment whose delegations say who would be asked
 */
export function planRollout(
  live: VersionedPipeline | null,
  next: VersionedPipeline,
  openDeals: readonly Deal[],
  versions: ReadonlyMap<string, VersionedPipeline>,
  now: string,
): RolloutPlan {
  const diff = diffConfigs(live, next);
  const moving = next.config.rollout === 'new-deals-only' ? [] : openDeals.filter((deal) => needsMigration(deal, next));
  const byStage = new Map<string, Deal[]>();
  for (const deal of openDeals) byStage.set(deal.stage, [...(byStage.get(deal.stage) ?? []), deal]);
  const movingIds = new Set(moving.map((deal) => deal.dealId));
  const stages: StageImpact[] = [];
  const unmapped: RolloutPlan['unmapped'] = [];
  for (const [stageKey, deals] of byStage) {
    const affected = deals.filter((deal) => movingIds.has(deal.dealId));
    const target = stageUnder(next.config, stageKey);
    const blocked = target ? affected.filter((deal) => newlyBlocked(deal, target, versions)) : [];
    const impact: StageImpact = {
      stage: stageKey,
      open: deals.length,
      newlyBlocked: blocked.length,
      newlyBlockedDeals: blocked.slice(0, NEWLY_BLOCKED_SHOWN).map((deal) => deal.dealId),
      cancelledApprovals: target
        ? affected.reduce((sum, deal) => sum + approvalsNoLongerNeeded(deal, target).length, 0)
        : 0,
    };
    if (!stageOf(next.config, stageKey)) {
      impact.movesTo = target?.key ?? null;
      if (!target && affected.length > 0) {
        unmapped.push({ stage: stageKey, dealIds: affected.map((deal) => deal.dealId) });
      }
    }
    stages.push(impact);
  }
  const order = (key: string) => {
    const index = [...(live?.config.stages ?? []), ...next.config.stages].findIndex((s) => s.key === key);
    return index < 0 ? Number.MAX_SAFE_INTEGER : index;
  };
  stages.sort((a, b) => order(a.stage) - order(b.stage) || a.stage.localeCompare(b.stage));
  return {
    diff,
    rollout: next.config.rollout,
    moving: moving.length,
    stages,
    cancelledApprovals: stages.reduce((sum, s) => sum + s.cancelledApprovals, 0),
    reroutedApprovals: reroutedApprovals(next.config, moving, now),
    unmapped,
    decisionNeeded: unmapped.length > 0 ? unmappedStagesMessage(next.config.pipeline, unmapped) : null,
  };
}

/** Met the stage's exit criteria under its own version (or had nothing to meet), misses one under the new one. */
function newlyBlocked(deal: Deal, target: StageConfig, versions: ReadonlyMap<string, VersionedPipeline>): boolean {
  const own = versions.get(deal.configVersion);
  const ownStage = own && stageOf(own.config, deal.stage);
  const unmetBefore = ownStage ? unmetCriteria(ownStage.exitCriteria, deal.fields) : [];
  const unmetAfter = unmetCriteria(target.exitCriteria, deal.fields);
  return unmetBefore.length === 0 && unmetAfter.length > 0;
}

/** The plan as an admin reads it in a terminal. */
export function formatRolloutPlan(plan: RolloutPlan): string {
  const { diff } = plan;
  const lines: string[] = [
    `Pipeline ${diff.pipeline}: live version ${diff.from ?? '(none)'} → ${diff.to}` +
      (diff.from === diff.to ? ' (unchanged)' : ''),
    '',
  ];
  if (diff.stages.length === 0 && diff.settings.length === 0) lines.push('No changes.', '');
  if (diff.stages.length > 0) {
    lines.push('Stages:');
    for (const stage of diff.stages) {
      const where =
        stage.movesTo === undefined
          ? ''
          : stage.movesTo === null
            ? ' (no retiredStages entry)'
            : ` → ${stage.movesTo} (retiredStages)`;
      lines.push(`  ${stage.status.padEnd(8)} ${stage.stage}${where}`);
      for (const change of stage.changes) lines.push(`             ${formatChange(change)}`);
    }
    lines.push('');
  }
  if (diff.settings.length > 0) {
    lines.push('Settings:');
    for (const change of diff.settings) lines.push(`  ${formatChange(change)}`);
    lines.push('');
  }
  lines.push(
    plan.rollout === 'new-deals-only'
      ? 'Open deals: rollout is new-deals-only — open deals keep their version; new deals start on this one.'
      : `Open deals moving to ${diff.to}: ${plan.moving}`,
  );
  if (plan.stages.length > 0) {
    const rows = plan.stages.map((s) => [
      s.stage,
      String(s.open),
      s.newlyBlocked > 0 ? `${s.newlyBlocked} (${s.newlyBlockedDeals.join(', ')})` : '0',
      s.movesTo === undefined ? '' : (s.movesTo ?? 'UNMAPPED'),
      String(s.cancelledApprovals),
    ]);
    const header = ['stage', 'open', 'newly blocked by exit criteria', 'moves to', 'approvals cancelled'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
    for (const row of [header, ...rows]) {
      lines.push(`  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
    }
  }
  lines.push(`Pending approvals cancelled: ${plan.cancelledApprovals}`);
  lines.push(...formatReroutedApprovals(plan.reroutedApprovals), '');
  lines.push(plan.decisionNeeded ? `Decision needed: ${plan.decisionNeeded}` : 'No decision needed.');
  return lines.join('\n');
}

function formatChange(change: Change): string {
  const values =
    change.change === 'changed'
      ? `: ${change.before ?? '(none)'} → ${change.after ?? '(none)'}`
      : change.after !== undefined || change.before !== undefined
        ? `: ${change.after ?? change.before}`
        : '';
  return `${change.change.padEnd(7)} ${change.what}${values}`;
}

function diffStage(before: StageConfig, after: StageConfig): Change[] {
  return [
    ...diffCriteria('exit criterion', before.exitCriteria, after.exitCriteria),
    ...diffCriteria('entry criterion', before.entryCriteria, after.entryCriteria),
    ...diffApprovals(before, after),
    ...(['name', 'definition', 'goals', 'actions'] as const).flatMap((field): Change[] =>
      isDeepStrictEqual(before[field], after[field])
        ? []
        : [{ change: 'changed', what: `guidance ${field}`, before: text(before[field]), after: text(after[field]) }],
    ),
    ...diffValues(
      '',
      { closed: before.closed, reachableFrom: before.reachableFrom },
      {
        closed: after.closed,
        reachableFrom: after.reachableFrom,
      },
    ),
  ];
}

/** Criteria are matched by field (and their order among the criteria on the same field). */
function diffCriteria(label: string, before: Criterion[], after: Criterion[]): Change[] {
  const keyed = (list: Criterion[]) => {
    const seen = new Map<string, number>();
    return new Map(
      list.map((c) => {
        const n = seen.get(c.field) ?? 0;
        seen.set(c.field, n + 1);
        return [n === 0 ? c.field : `${c.field}#${n}`, c] as const;
      }),
    );
  };
  return diffKeyed(keyed(before), keyed(after), (c) => describeCriterion(c), label);
}

/** Approvals are matched by kind and role: entry approvals by role, exit approvals by role with reason and condition. */
function diffApprovals(before: StageConfig, after: StageConfig): Change[] {
  const entry = (stage: StageConfig) => new Map(stage.entryApprovals.map((role) => [role, role] as const));
  const exit = (stage: StageConfig) => new Map(stage.exitApprovals.map((a) => [a.role, a] as const));
  const describeExit = (a: ExitApproval) =>
    `${a.role}${a.when ? ` when ${describeCriterion(a.when)}` : ''}${a.reason ? ` ("${a.reason}")` : ''}`;
  return [
    ...diffKeyed(entry(before), entry(after), (role) => role, 'entry approval'),
    ...diffKeyed(exit(before), exit(after), describeExit, 'exit approval'),
  ];
}

function diffKeyed<T>(before: Map<string, T>, after: Map<string, T>, show: (item: T) => string, label: string) {
  const changes: Change[] = [];
  for (const [key, item] of before) {
    const now = after.get(key);
    if (now === undefined) changes.push({ change: 'removed', what: `${label} ${show(item)}` });
    else if (!isDeepStrictEqual(item, now)) {
      changes.push({
        change: 'changed',
        what: `${label} on ${key.split('#')[0]}`,
        before: show(item),
        after: show(now),
      });
    }
  }
  for (const [key, item] of after) {
    if (!before.has(key)) changes.push({ change: 'added', what: `${label} ${show(item)}` });
  }
  return changes;
}

/** Everything of a pipeline but its stages, for a leaf-by-leaf comparison. */
function settingsOf(config: PipelineConfig): Record<string, unknown> {
  const { stages: _stages, pipeline: _pipeline, ...rest } = config;
  return rest;
}

/** Leaf-by-leaf differences of two JSON values, named by path (`approvers.finance.email`, `crm.hubspot.stages.123`). */
function diffValues(path: string, before: unknown, after: unknown): Change[] {
  if (isDeepStrictEqual(before, after)) return [];
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => diffValues(path ? `${path}.${key}` : key, before[key], after[key]));
  }
  if (before === undefined) return [{ change: 'added', what: path, after: text(after) }];
  if (after === undefined) return [{ change: 'removed', what: path, before: text(before) }];
  return [{ change: 'changed', what: path, before: text(before), after: text(after) }];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function text(value: unknown): string {
  if (typeof value === 'string') return value.length > 60 ? `"${value.slice(0, 57)}…"` : `"${value}"`;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
    const joined = value.join('; ');
    return `[${joined.length > 60 ? `${joined.slice(0, 57)}…` : joined}]`;
  }
  return JSON.stringify(value);
}
