import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Repository hygiene (issue 13 item 17): no unused runtime dependency, a clean tree after a bench, no import circle. */

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

  it('has no import circle among the local stack modules', () => {
    const files = sourceFiles('infra/local');
    const edges = new Map(
      files.map((file) => {
        const text = readFileSync(file, 'utf8');
        const targets = [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+\.ts)'/g)].map((m) =>
          resolve(dirname(file), m[1] ?? ''),
        );
        return [file, targets.filter((target) => files.includes(target))];
      }),
    );
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (path.includes(file)) {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(root, f)).join(' → '));
        return;
      }
      for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
