import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkConfigFile,
  DEFAULT_CONFIG_FILE,
  loadPipelineConfig,
  loadPipelines,
  resolveConfigFile,
} from '../../functions/adapters/config-files.ts';
import { describeCriterion } from '../../functions/core/criteria.ts';
import type { Criterion } from '../../functions/core/pipeline-config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_FILE = join(ROOT, DEFAULT_CONFIG_FILE);
const BROKEN_FILE = 'test/fixtures/configs/several_errors.yaml';

describe('describeCriterion', () => {
  const cases: [Criterion, string][] = [
    [{ field: 'decisionMaker', require: 'present' }, 'decisionMaker is filled in'],
    [{ field: 'firstMeetingDate', require: 'date' }, 'firstMeetingDate is a date'],
    [{ field: 'budgetConfirmed', require: 'equals', value: true }, 'budgetConfirmed = true'],
    [{ field: 'tier', require: 'equals', value: 'gold' }, 'tier = "gold"'],
    [{ field: 'discountPercent', require: 'number', greaterThan: 20 }, 'discountPercent > 20'],
    [{ field: 'seats', require: 'number', atLeast: 5, lessThan: 100 }, 'seats >= 5 and < 100'],
    [{ field: 'amount', require: 'number' }, 'amount is a number'],
  ];
  it.each(cases)('%o reads "%s"', (criterion, words) => {
    expect(describeCriterion(criterion)).toBe(words);
  });
});

describe('checkConfigFile', () => {
  it('summarises the default pipeline: stages in order, criteria in words, approvals, closed stages, CRM names', () => {
    const { ok, output } = checkConfigFile(DEFAULT_FILE);
    expect(ok).toBe(true);
    const lines = output.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        `${DEFAULT_FILE} is valid.`,
        'Pipeline  default: B2B sales pipeline',
        `Version   ${loadPipelineConfig(DEFAULT_FILE).version}`,
        'Forward   one stage at a time',
        'Start     identify',
        '       exit criteria: decisionMaker is filled in; firstMeetingDate is a date',
        '       exit criteria: champion is filled in; budgetConfirmed = true',
        '       exit approvals: sales_manager when discountPercent > 20',
        '  5. deliver (Deliver/Finalize)',
        '       entry approvals: finance, legal',
        '       exit approvals: finance, legal',
        '  closed_won (Closed Won): won, from deliver',
        '  closed_lost (Closed Lost): lost, from qualify, propose, negotiate, deliver',
        '       entry criteria: lostReason is filled in',
        '       CRM names: hubspot closedwon, salesforce "Closed Won", pipedrive status won',
        '  finance: Finance <finance@example.com>',
        'Approvals remind after 24 h, expire after 72 h',
      ]),
    );
    const stageLines = [
      '1. identify',
      '2. qualify',
      '3. propose',
      '4. negotiate',
      '5. deliver',
      'closed_won',
      'closed_lost',
    ];
    const positions = stageLines.map((start) => lines.findIndex((line) => line.startsWith(`  ${start}`)));
    expect(positions.every((position) => position >= 0)).toBe(true);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('lists every error of an invalid file with its location', () => {
    const { ok, output } = checkConfigFile(BROKEN_FILE);
    expect(ok).toBe(false);
    expect(output.split('\n')).toEqual([
      `${BROKEN_FILE}: 3 errors:`,
      expect.stringMatching(/:8:3 +approvalTiming\.expireAfterHours +approvals expire after 72 h/),
      expect.stringMatching(/:13:22 +stages\[0\]\.entryApprovals\[0\] +.*did you mean 'legal'\?$/),
      expect.stringMatching(/:21:19 +crm\.salesforce\.stages\["Closed Won"\] +.*did you mean 'closed_won'\?$/),
    ]);
  });

  it('reports a missing file as an error, not a crash', () => {
    const { ok, output } = checkConfigFile('stage-config/nope.yaml');
    expect(ok).toBe(false);
    expect(output).toMatch(/^stage-config\/nope\.yaml: 1 error:\nstage-config\/nope\.yaml +\(file\) +cannot read it/);
  });
});

describe('resolveConfigFile', () => {
  it('takes the argument, else STAGEFLOW_CONFIG, else the default pipeline', () => {
    expect(resolveConfigFile('a.yaml', { STAGEFLOW_CONFIG: 'b.yaml' })).toBe('a.yaml');
    expect(resolveConfigFile(undefined, { STAGEFLOW_CONFIG: 'b.yaml' })).toBe('b.yaml');
    expect(resolveConfigFile(undefined, {})).toBe('stage-config/default.yaml');
  });
});

describe('npm run config:check (the CLI, as a subprocess)', () => {
  const run = (args: string[], env: Record<string, string> = {}) => {
    const { STAGEFLOW_CONFIG: _ignored, ...inherited } = process.env;
    return spawnSync(join(ROOT, 'node_modules/.bin/tsx'), ['infra/config-check.ts', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...inherited, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`, ...env },
    });
  };

  it('exits 0 with the summary of the default pipeline when given no file', () => {
    const result = run([]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^stage-config\/default\.yaml is valid\.\n/);
    expect(result.stdout).toContain('  5. deliver (Deliver/Finalize)');
  });

  it('exits 1 with every error on stderr for a broken file', () => {
    const result = run([BROKEN_FILE]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`${BROKEN_FILE}: 3 errors:`);
    expect(result.stderr).toMatch(new RegExp(`${BROKEN_FILE}:13:22 +stages\\[0\\]\\.entryApprovals\\[0\\]`));
  });

  it('checks the file named by STAGEFLOW_CONFIG when given no argument', () => {
    const result = run([], { STAGEFLOW_CONFIG: BROKEN_FILE });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`${BROKEN_FILE}: 3 errors:`);
  });
});

describe('CRM pipelines claimed by two stage configs', () => {
  const folder = () => {
    const dir = mkdtempSync(join(tmpdir(), 'stageflow-claims-'));
    copyFileSync(DEFAULT_FILE, join(dir, 'default.yaml'));
    const renewals = readFileSync(join(ROOT, 'test/fixtures/accounts/renewals.yaml'), 'utf8');
    // The renewals pipeline also claims HubSpot's `default` pipeline, which default.yaml manages.
    writeFileSync(
      join(dir, 'renewals.yaml'),
      renewals.replace('pipelines: [renewals]', 'pipelines: [renewals, default]'),
    );
    return dir;
  };

  it('refuses the second claim, located at its line, when the file is checked beside the other', () => {
    const dir = folder();
    const { ok, output } = checkConfigFile(join(dir, 'renewals.yaml'));
    expect(ok).toBe(false);
    expect(output).toMatch(
      /renewals\.yaml:\d+:\d+ +crm\.hubspot\.pipelines\[1\] +HubSpot pipeline 'default' is also managed by pipeline 'default'/,
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses it when the whole folder is loaded, as npm start and a deploy do', () => {
    const dir = folder();
    expect(() => loadPipelines(dir)).toThrow(
      expect.objectContaining({
        issues: [expect.objectContaining({ path: 'crm.hubspot.pipelines[1]', line: expect.any(Number) })],
      }),
    );
    expect(checkConfigFile(dir).ok).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets two pipelines manage different CRM pipelines of one account', () => {
    const dir = folder();
    const renewals = join(dir, 'renewals.yaml');
    writeFileSync(
      renewals,
      readFileSync(renewals, 'utf8').replace('pipelines: [renewals, default]', 'pipelines: [renewals]'),
    );
    expect([...loadPipelines(dir).keys()]).toEqual(['default', 'renewals']);
    expect(checkConfigFile(dir).ok).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});
