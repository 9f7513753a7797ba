import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePorts } from '../support/stack-process.ts';

describe('npm start with an invalid stage config', () => {
  it('refuses to start, printing every error with its location, and exits 1', async () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'infra/local/start.ts', '--in-memory'], {
      env: { ...process.env, ...(await freePorts()), STAGEFLOW_CONFIG: 'test/fixtures/configs/several_errors.yaml' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('nothing was started');
    expect(run.stderr).toContain('test/fixtures/configs/several_errors.yaml:13:22');
    expect(run.stderr).toContain("did you mean 'legal'?");
    expect(run.stderr.match(/several_errors\.yaml:\d+:\d+/g)).toHaveLength(3);
  });
});
