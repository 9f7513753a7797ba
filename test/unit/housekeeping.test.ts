import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Repository hygiene: no unused runtime dependency, and a clean tree after a bench (import circles are Biome's). */

const root = resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

const CODE_DIRS = ['functions', 'infra', 'workflows', 'bench'];

describe('repository hygiene', () => {
  it('imports every runtime dependency somewhere in the shipped code', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const code = CODE_DIRS.flatMap(sourceFiles)
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    const unused = Object.keys(pkg.dependencies).filter(
      (name) =>
        !code.includes(`from '${name}'`) && !code.includes(`from '${name}/`) && !code.includes(`import('${name}`),
    );
    expect(unused).toEqual([]);
  });

  it('keeps bench results out of version control, so `npm run bench` leaves the tree clean', () => {
    expect(() => execFileSync('git', ['check-ignore', '-q', 'bench/results.json'], { cwd: root })).not.toThrow();
  });
});
