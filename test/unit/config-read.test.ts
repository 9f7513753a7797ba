import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPipelineConfig, loadPipelines } from '../../functions/adapters/config-files.ts';
import { configVersion, formatConfigIssues, parsePipelineConfig } from '../../functions/core/config/read.ts';
import { InvalidConfigError } from '../../functions/core/errors.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_FILE = join(ROOT, 'stage-config/default.yaml');
const FIXTURES = join(ROOT, 'test/fixtures/configs');
const defaultText = readFileSync(DEFAULT_FILE, 'utf8');
const minimalText = readFileSync(join(FIXTURES, 'minimal.yaml'), 'utf8');

function configError(action: () => unknown): InvalidConfigError {
  try {
    action();
  } catch (error) {
    if (error instanceof InvalidConfigError) return error;
    throw error;
  }
  throw new Error('expected an InvalidConfigError, but the config was accepted');
}

/** `text` with `from` replaced by `to`; throws when `from` is missing, so no case silently tests nothing. */
function edited(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture text lacks ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

/** The 1-based line on which `needle` first appears. */
function lineOf(text: string, needle: string): number {
  const index = text.indexOf(needle);
  if (index < 0) throw new Error(`text lacks ${JSON.stringify(needle)}`);
  return text.slice(0, index).split('\n').length;
}

describe('the default pipeline', () => {
  it('parses, with its seven stages in order', () => {
    const { config } = loadPipelineConfig(DEFAULT_FILE);
    expect(config.pipeline).toBe('default');
    expect(config.stages.map((stage) => stage.key)).toEqual([
      'identify',
      'qualify',
      'propose',
      'negotiate',
      'deliver',
      'closed_won',
      'closed_lost',
    ]);
    expect(config.stages[4]?.name).toBe('Deliver/Finalize');
  });

  it('is versioned by the first 16 hex digits of the SHA-256 of the parsed config with sorted keys', () => {
    const { config, version } = loadPipelineConfig(DEFAULT_FILE);
    expect(version).toMatch(/^[0-9a-f]{16}$/);
    expect(configVersion(config)).toBe(version);
    expect(loadPipelineConfig(DEFAULT_FILE).version).toBe(version);
  });

  it('keeps its version through comment, formatting and default-only edits, and changes it with the meaning', () => {
    const original = parsePipelineConfig(defaultText, 'default.yaml');
    const same = [
      `${defaultText}# reviewed\n`,
      edited(
        defaultText,
        'allowSkips: false\n  allowBackward: true',
        'allowBackward: true   # why\n  allowSkips: false',
      ),
      edited(defaultText, 'rules:\n', 'rollout: open-deals\nretiredStages: {}\nrules:\n'),
    ];
    for (const text of same) expect(parsePipelineConfig(text, 'default.yaml').version).toBe(original.version);
    const changed = edited(defaultText, 'reminderAfterHours: 24', 'reminderAfterHours: 25');
    expect(parsePipelineConfig(changed, 'default.yaml').version).not.toBe(original.version);
  });

  it('is the only pipeline in stage-config/', () => {
    expect([...loadPipelines(join(ROOT, 'stage-config')).keys()]).toEqual(['default']);
  });
});

describe('broken fixtures: each error is located by path, line and column, and says how to fix it', () => {
  const cases = [
    { fixture: 'empty.yaml', path: '', line: 1, column: 1, message: /the file is empty — write a pipeline/ },
    {
      fixture: 'unknown_crm_stage.yaml',
      path: 'crm.hubspot.stages.qualifiedtobuy',
      line: 18,
      column: 23,
      message: /'qualifiedtobuy' maps to 'qualfy', which is not a stage of this pipeline — did you mean 'qualify'\?/,
    },
    {
      fixture: 'misspelt_role.yaml',
      path: 'stages[1].exitApprovals[0].role',
      line: 15,
      column: 15,
      message: /stage 'deliver' lists approver role 'finace', which is not in approvers — did you mean 'finance'\?/,
    },
    {
      fixture: 'duplicate_stage_key.yaml',
      path: 'stages[2].key',
      line: 10,
      column: 10,
      message: /stage key 'identify' is already used by stages\[0\] — give every stage its own key/,
    },
    {
      fixture: 'no_closed_stage.yaml',
      path: 'stages',
      line: 4,
      column: 3,
      message: /no closed stage — add at least one stage with 'closed: won' or 'closed: lost'/,
    },
    {
      fixture: 'equals_without_value.yaml',
      path: 'stages[0].exitCriteria[0].value',
      line: 8,
      column: 9,
      message: /'require: equals' but gives no 'value' — add the value/,
    },
    {
      fixture: 'reminder_after_expiry.yaml',
      path: 'approvalTiming.expireAfterHours',
      line: 5,
      column: 21,
      message: /expire after 24 h, before the reminder due after 48 h .* make expireAfterHours greater/,
    },
    {
      fixture: 'unreachable_stage.yaml',
      path: 'stages[0]',
      line: 7,
      column: 5,
      message: /open stage 'identify' can never be reached: deals start in qualify and backward moves are off/,
    },
  ];

  it.each(cases)('$fixture: $path at $line:$column', ({ fixture, path, line, column, message }) => {
    const file = join(FIXTURES, fixture);
    const error = configError(() => loadPipelineConfig(file));
    expect(error.message).toBe(`${file}: 1 error`);
    expect(error.issues).toEqual([{ file, path, line, column, message: expect.stringMatching(message) }]);
  });

  it('lists every error of a file, in file order', () => {
    const file = join(FIXTURES, 'several_errors.yaml');
    const error = configError(() => loadPipelineConfig(file));
    expect(error.message).toBe(`${file}: 3 errors`);
    expect(error.issues.map(({ path, line }) => [path, line])).toEqual([
      ['approvalTiming.expireAfterHours', 8],
      ['stages[0].entryApprovals[0]', 13],
      ['crm.salesforce.stages["Closed Won"]', 21],
    ]);
    expect(error.issues[1]?.message).toMatch(/'legl', which is not in approvers — did you mean 'legal'\?/);
  });

  it('formats the errors as file:line:column  path  message', () => {
    const file = join(FIXTURES, 'several_errors.yaml');
    const lines = formatConfigIssues(
      configError(() => loadPipelineConfig(file)),
      file,
    ).split('\n');
    expect(lines[0]).toBe(`${file}: 3 errors:`);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(
      new RegExp(`^${file}:13:22 +stages\\[0\\]\\.entryApprovals\\[0\\] +stage 'deliver' lists approver role 'legl'`),
    );
  });
});

describe('broken variants of the minimal pipeline', () => {
  it('accepts the minimal pipeline itself', () => {
    expect(parsePipelineConfig(minimalText, 'minimal.yaml').config.stages).toHaveLength(4);
  });

  const cases = [
    {
      name: 'a document that is a list',
      text: () => '- identify\n- qualify\n',
      path: '',
      at: '- identify',
      message: /holds a list, not a pipeline/,
    },
    {
      name: 'invalid YAML',
      text: () => edited(minimalText, 'name: Minimal pipeline', 'name: Minimal: an unquoted colon'),
      path: 'name',
      at: 'name: Minimal:',
      message: /Nested mappings are not allowed in compact mappings — put a value that contains ': ' in quotes/,
    },
    {
      name: 'a key repeated in one mapping',
      text: () => edited(minimalText, 'name: Minimal pipeline\n', 'name: Minimal pipeline\nname: Again\n'),
      path: 'name',
      at: 'name: Again',
      message: /already set above in the same mapping — remove or rename one of them/,
    },
    {
      name: 'a misspelt key',
      text: () =>
        edited(
          minimalText,
          '    exitCriteria:\n      - field: decisionMaker',
          '    exitCriterias:\n      - field: decisionMaker',
        ),
      path: 'stages[0].exitCriterias',
      at: 'exitCriterias',
      message: /unknown key 'exitCriterias' — did you mean 'exitCriteria'\?/,
    },
    {
      name: 'a missing required field',
      text: () => edited(minimalText, '    definition: Find a decision maker.\n', ''),
      path: 'stages[0].definition',
      at: 'key: identify',
      message: /'definition' is missing — add what the stage means/,
    },
    {
      name: 'an invalid email address',
      text: () => edited(minimalText, 'email: finance@example.com', 'email: finance'),
      path: 'approvers.finance.email',
      at: 'email: finance',
      message: /'finance' is not an email address/,
    },
    {
      name: 'a misspelt requirement',
      text: () => edited(minimalText, 'require: present', 'require: presnt'),
      path: 'stages[0].exitCriteria[0].require',
      at: 'presnt',
      message: /'presnt' is not allowed — did you mean 'present'\?/,
    },
    {
      name: 'a misspelt rollout mode',
      text: () => edited(minimalText, 'approvers:\n', 'rollout: new-deal-only\napprovers:\n'),
      path: 'rollout',
      at: 'new-deal-only',
      message: /'new-deal-only' is not allowed — did you mean 'new-deals-only'\?/,
    },
    {
      name: 'a retired stage mapped to a misspelt stage',
      text: () => edited(minimalText, 'approvers:\n', 'retiredStages:\n  propose: qualfy\napprovers:\n'),
      path: 'retiredStages.propose',
      at: 'qualfy',
      message:
        /retired stage 'propose' maps to 'qualfy', which is not a stage of this pipeline — did you mean 'qualify'\?/,
    },
    {
      name: 'a retired stage mapped to a closed stage',
      text: () => edited(minimalText, 'approvers:\n', 'retiredStages:\n  propose: closed_won\napprovers:\n'),
      path: 'retiredStages.propose',
      at: 'closed_won',
      message: /maps to 'closed_won', which is a closed stage \(won\), but an open stage is needed here/,
    },
    {
      name: 'a retired stage that is still a stage',
      text: () => edited(minimalText, 'approvers:\n', 'retiredStages:\n  identify: qualify\napprovers:\n'),
      path: 'retiredStages.identify',
      at: 'identify: qualify',
      message: /stage 'identify' is retired here but still listed in stages — remove it from stages/,
    },
    {
      name: 'an approver role with no near match',
      text: () => edited(minimalText, 'role: finance', 'role: procurement'),
      path: 'stages[1].exitApprovals[0].role',
      at: 'procurement',
      message: /'procurement', which is not in approvers — add approvers\.procurement with a name and an email/,
    },
    {
      name: 'a Pipedrive status mapped to a closed stage of the other kind',
      text: () => edited(minimalText, '\n      won: closed_won', '\n      won: closed_lost'),
      path: 'crm.pipedrive.status.won',
      at: 'won: closed_lost',
      message:
        /maps to 'closed_lost', which is a closed stage \(lost\), but a closed stage with 'closed: won' is needed/,
    },
    {
      name: 'an open stage after the closed ones',
      text: () =>
        edited(
          minimalText,
          '\ncrm:\n',
          '  - key: follow_up\n    name: Follow-up\n    definition: After closing.\n\ncrm:\n',
        ),
      path: 'stages[4]',
      at: 'key: follow_up',
      message: /open stage 'follow_up' follows closed stage 'closed_won' — list open stages first/,
    },
    {
      name: 'reachableFrom on an open stage',
      text: () =>
        edited(
          minimalText,
          '    definition: Confirm the budget.\n',
          '    definition: Confirm the budget.\n    reachableFrom: [identify]\n',
        ),
      path: 'stages[1].reachableFrom',
      at: 'reachableFrom: [identify]',
      message: /reachableFrom, which only applies to closed stages — remove it/,
    },
    {
      name: 'exit criteria on a closed stage',
      text: () =>
        edited(
          minimalText,
          '    definition: Signed.\n',
          '    definition: Signed.\n    exitCriteria:\n      - field: invoiceSent\n        require: present\n',
        ),
      path: 'stages[2].exitCriteria',
      at: 'exitCriteria:\n      - field: invoiceSent',
      message: /closed stage 'closed_won' has exitCriteria, but a closed deal never leaves its stage/,
    },
    {
      name: 'a closed start stage',
      text: () => edited(minimalText, 'approvers:\n', 'rules:\n  startStages: [closed_won]\n\napprovers:\n'),
      path: 'rules.startStages[0]',
      at: 'startStages',
      message: /'closed_won', which is a closed stage \(won\), but an open stage is needed here/,
    },
    {
      name: 'a closed stage no open stage leads to',
      text: () => edited(minimalText, 'reachableFrom: [qualify]', 'reachableFrom: []'),
      path: 'stages[2].reachableFrom',
      at: 'reachableFrom: []',
      message: /closed stage 'closed_won' can never be reached/,
    },
    {
      name: 'an unknown stage in reachableFrom',
      text: () => edited(minimalText, 'reachableFrom: [qualify]', 'reachableFrom: [qualfy]'),
      path: 'stages[2].reachableFrom[0]',
      at: 'reachableFrom: [qualfy]',
      message: /'qualfy', which is not a stage of this pipeline — did you mean 'qualify'\?/,
    },
    {
      name: 'a staleAfterDays that is not positive',
      text: () =>
        edited(
          minimalText,
          '    definition: Confirm the budget.\n',
          '    definition: Confirm the budget.\n    staleAfterDays: 0\n',
        ),
      path: 'stages[1].staleAfterDays',
      at: 'staleAfterDays: 0',
      message: /'staleAfterDays' must be greater than 0/,
    },
    {
      name: 'a staleAfterDays that is not a number',
      text: () =>
        edited(
          minimalText,
          '    definition: Confirm the budget.\n',
          '    definition: Confirm the budget.\n    staleAfterDays: two weeks\n',
        ),
      path: 'stages[1].staleAfterDays',
      at: 'staleAfterDays: two weeks',
      message: /'staleAfterDays' must be a number, not 'two weeks'/,
    },
    {
      name: 'a misspelt staleAfterDays',
      text: () =>
        edited(
          minimalText,
          '    definition: Confirm the budget.\n',
          '    definition: Confirm the budget.\n    staleAfterDay: 5\n',
        ),
      path: 'stages[1].staleAfterDay',
      at: 'staleAfterDay: 5',
      message: /unknown key 'staleAfterDay' — did you mean 'staleAfterDays'\?/,
    },
    {
      name: 'staleAfterDays on a closed stage',
      text: () => edited(minimalText, '    definition: Signed.\n', '    definition: Signed.\n    staleAfterDays: 3\n'),
      path: 'stages[2].staleAfterDays',
      at: 'staleAfterDays: 3',
      message: /closed stage 'closed_won' has staleAfterDays, but a closed deal never goes stale/,
    },
    {
      name: 'a digest address that is not an email',
      text: () => edited(minimalText, '\ncrm:\n', '\ndigest:\n  to: [managers]\n\ncrm:\n'),
      path: 'digest.to[0]',
      at: 'managers]',
      message: /'managers' is not an email address/,
    },
    {
      name: 'a misspelt digest key',
      text: () => edited(minimalText, '\ncrm:\n', '\ndigest:\n  too: [m@example.com]\n\ncrm:\n'),
      path: 'digest.too',
      at: 'too:',
      message: /unknown key 'too' — did you mean 'to'\?/,
    },
  ];

  it.each(cases)('$name: $path', ({ text, path, at, message }) => {
    const source = text();
    const [issue, ...others] = configError(() => parsePipelineConfig(source, 'minimal.yaml')).issues;
    expect(others).toEqual([]);
    expect(issue).toMatchObject({ path, line: lineOf(source, at), message: expect.stringMatching(message) });
  });

  it('requires the pipeline id to match a .yaml file name, and only a .yaml file name', () => {
    const issues = configError(() => parsePipelineConfig(minimalText, 'stage-config/sales.yaml')).issues;
    expect(issues).toEqual([
      {
        file: 'stage-config/sales.yaml',
        path: 'pipeline',
        line: lineOf(minimalText, 'pipeline: minimal'),
        column: 11,
        message: expect.stringMatching(/'minimal' does not match the file name 'sales.yaml' — rename the file/),
      },
    ]);
    expect(parsePipelineConfig(minimalText, 'request body').config.pipeline).toBe('minimal');
  });

  it("names the default config's misspelt approver role by its path and suggests the right one", () => {
    const text = edited(defaultText, '      - role: finance', '      - role: finace');
    const [issue] = configError(() => parsePipelineConfig(text, 'default.yaml')).issues;
    expect(issue).toMatchObject({
      path: 'stages[4].exitApprovals[0].role',
      line: lineOf(text, 'role: finace'),
      message: "stage 'deliver' lists approver role 'finace', which is not in approvers — did you mean 'finance'?",
    });
  });
});

describe('files and folders', () => {
  const folders: string[] = [];
  const folder = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'stageflow-configs-'));
    folders.push(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  afterEach(() => {
    for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a missing file with an InvalidConfigError rather than a stack trace', () => {
    const file = join(FIXTURES, 'no_such_pipeline.yaml');
    const error = configError(() => loadPipelineConfig(file));
    expect(error.issues).toEqual([{ file, path: '', message: expect.stringMatching(/^cannot read it \(ENOENT/) }]);
  });

  it('loads every .yaml and .yml pipeline of a folder by id, and nothing else', () => {
    const sales = edited(minimalText, 'pipeline: minimal', 'pipeline: sales');
    const dir = folder({ 'minimal.yaml': minimalText, 'sales.yml': sales, 'README.md': '# not a pipeline' });
    const pipelines = loadPipelines(dir);
    expect([...pipelines.keys()]).toEqual(['minimal', 'sales']);
    expect(pipelines.get('sales')?.version).toBe(parsePipelineConfig(sales, 'sales.yaml').version);
  });

  it('collects the errors of every file in a folder, each naming its file', () => {
    const dir = folder({
      'minimal.yaml': minimalText,
      'minimal.yml': minimalText,
      'broken.yaml': '',
      'other.yaml': minimalText,
      'sales.yaml': edited(edited(minimalText, 'pipeline: minimal', 'pipeline: sales'), 'present', 'presnt'),
    });
    const error = configError(() => loadPipelines(dir));
    expect(error.message).toBe(`${dir}: 4 errors`);
    expect(error.issues.map(({ file, path }) => [file, path])).toEqual([
      [join(dir, 'broken.yaml'), ''],
      [join(dir, 'minimal.yml'), 'pipeline'],
      [join(dir, 'other.yaml'), 'pipeline'],
      [join(dir, 'sales.yaml'), 'stages[0].exitCriteria[0].require'],
    ]);
  });

  it('refuses a folder without any pipeline', () => {
    const dir = folder({ 'notes.txt': 'no pipelines here' });
    expect(configError(() => loadPipelines(dir)).issues[0]?.message).toMatch(/holds no stage config/);
  });
});

describe('properties', () => {
  it('the version is 16 hex digits and differs for configs that differ', () => {
    const base = parsePipelineConfig(minimalText, 'minimal.yaml').config;
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
        const one = configVersion({ ...base, name: a });
        expect(one).toMatch(/^[0-9a-f]{16}$/);
        if (a !== b) expect(one).not.toBe(configVersion({ ...base, name: b }));
      }),
    );
  });

  it('any edit of the default config is accepted or refused with located errors, never a crash', () => {
    const lines = defaultText.split('\n');
    const edit = fc.record({
      at: fc.nat({ max: lines.length - 1 }),
      how: fc.constantFrom('delete', 'duplicate', 'indent', 'dedent', 'cut'),
    });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
        const text = [...lines];
        for (const { at, how } of edits) {
          const line = text[at] ?? '';
          if (how === 'delete') text.splice(at, 1);
          else if (how === 'duplicate') text.splice(at, 0, line);
          else if (how === 'indent') text[at] = ` ${line}`;
          else if (how === 'dedent') text[at] = line.replace(/^ {1,2}/, '');
          else text[at] = line.slice(0, Math.floor(line.length / 2));
        }
        const source = text.join('\n');
        try {
          parsePipelineConfig(source, 'default.yaml');
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidConfigError);
          const { issues } = error as InvalidConfigError;
          expect(issues.length).toBeGreaterThan(0);
          for (const issue of issues) {
            expect(issue.line).toBeGreaterThanOrEqual(1);
            expect(issue.line).toBeLessThanOrEqual(text.length + 1);
            expect(issue.column).toBeGreaterThanOrEqual(1);
            expect(issue.message).toMatch(/ — /);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('a role misspelt by one inserted letter is reported at its path with the right suggestion', () => {
    const roles = ['finance', 'legal'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1),
        fc.nat(),
        fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_'),
        (which, position, letter) => {
          const role = roles[which] ?? 'finance';
          const at = 1 + (position % role.length);
          const typo = `${role.slice(0, at)}${letter}${role.slice(at)}`;
          const text = edited(defaultText, `      - role: ${role}\n`, `      - role: ${typo}\n`);
          const issues = configError(() => parsePipelineConfig(text, 'default.yaml')).issues;
          expect(issues).toEqual([
            expect.objectContaining({
              path: `stages[4].exitApprovals[${which}].role`,
              message: expect.stringContaining(`did you mean '${role}'?`),
            }),
          ]);
        },
      ),
      { numRuns: 50 },
    );
  });
});
