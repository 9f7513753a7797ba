import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { loadPipelineConfig } from '../../functions/adapters/config-files.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `npm run config:plan` without a live version: no data folder, nothing listening on DYNAMODB_PORT. */
describe('npm run config:plan with nothing live yet', () => {
  const empty = mkdtempSync(join(tmpdir(), 'stageflow-plan-'));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));
  const run = (args: string[]) =>
    spawnSync(join(ROOT, 'node_modules/.bin/tsx'), ['infra/config-plan.ts', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      // Port 9 (discard) answers no DynamoDB; the empty folder holds no data.
      env: { ...process.env, STAGEFLOW_DATA_DIR: empty, DYNAMODB_PORT: '9' },
    });

  it('exits 1 with every located error for an invalid file', () => {
    const result = run(['test/fixtures/configs/several_errors.yaml']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/several_errors\.yaml:\d+:\d+ /);
  });

  it('exits 0 and lists every stage as added, in text and as JSON', () => {
    const text = run([]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain(`live version (none) → ${loadPipelineConfig('stage-config/default.yaml').version}`);
    expect(text.stdout).toMatch(/added\s+identify/);
    const json = run(['--json']);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ moving: 0, decisionNeeded: null, diff: { from: null } });
  });
});

describe('a stage config too large to store', () => {
  const folder = mkdtempSync(join(tmpdir(), 'stageflow-large-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));
  const file = join(folder, 'default.yaml');
  const doc = parseDocument(readFileSync(join(ROOT, 'stage-config/default.yaml'), 'utf8'));
  doc.setIn(['stages', 2, 'definition'], 'A very long definition. '.repeat(18_000));
  writeFileSync(file, doc.toString({ lineWidth: 0 }));

  it.each([
    ['config:check', 'infra/config-check.ts'],
    ['config:plan', 'infra/config-plan.ts'],
  ])('is refused by %s with its location and the 400 KB item limit', (_name, script) => {
    const result = spawnSync(join(ROOT, 'node_modules/.bin/tsx'), [script, file], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, STAGEFLOW_DATA_DIR: folder, DYNAMODB_PORT: '9' },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/default\.yaml:\d+:\d+ +stages\[2\]\.definition +.*400 KB item limit/);
  });
});
