import { type Document, isAlias, isMap, isNode, isScalar, isSeq, type LineCounter } from 'yaml';
import type { ErrorIssue } from '../errors.ts';
import type { PathSegment, Problem } from './types.ts';

/** Where a problem is in the YAML text: the file, the formatted path, and the line and column of its node. */
export function locateProblem(problem: Problem, doc: Document, lineCounter: LineCounter, file: string): ErrorIssue {
  const { line, col } = lineCounter.linePos(problem.offset ?? offsetOf(doc, problem));
  return { file, path: formatPath(problem.path), line, column: col, message: problem.message };
}

/** The start of the node at the problem's path, or of its deepest ancestor in the file when the path is missing. */
function offsetOf(doc: Document, { path, at }: Problem): number {
  let node: unknown = doc.contents;
  let offset = startOf(node) ?? 0;
  for (const [index, segment] of path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    let key: unknown;
    let value: unknown;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      key = pair.key;
      // An empty value (`name:`) has no text of its own: point at its key.
      value = isScalar(pair.value) && pair.value.value === null ? undefined : pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      value = node.items[segment];
    } else {
      break;
    }
    const preferKey = at === 'key' && index === path.length - 1;
    offset = (preferKey ? startOf(key) : undefined) ?? startOf(value) ?? startOf(key) ?? offset;
    node = value;
  }
  return offset;
}

/** The path of the innermost node around an offset, so a YAML syntax error is named like any other problem. */
export function pathAtOffset(doc: Document, offset: number): PathSegment[] {
  const path: PathSegment[] = [];
  let node: unknown = doc.contents;
  while (isMap(node) || isSeq(node)) {
    if (isMap(node)) {
      const pair = node.items.find((item) => contains(item.key, offset) || contains(item.value, offset));
      if (!pair || !isScalar(pair.key)) break;
      path.push(String(pair.key.value));
      // The error is at this key or at the very start of its value: deeper nodes are the parser's guesses.
      if (contains(pair.key, offset) || startOf(pair.value) === offset) break;
      node = pair.value;
    } else {
      const index = node.items.findIndex((item) => contains(item, offset));
      if (index < 0) break;
      path.push(index);
      node = node.items[index];
    }
  }
  return path;
}

function startOf(node: unknown): number | undefined {
  return isNode(node) ? node.range?.[0] : undefined;
}

function contains(node: unknown, offset: number): boolean {
  const range = isNode(node) ? node.range : undefined;
  return range !== undefined && range !== null && range[0] <= offset && offset < Math.max(range[2], range[0] + 1);
}

/** `stages[4].exitApprovals[0].role`; keys that are not plain words are quoted: `stages["Closed Won"]`. */
function formatPath(path: readonly PathSegment[]): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      if (!/^[A-Za-z_$][\w$]*$/.test(segment)) return `[${JSON.stringify(segment)}]`;
      return index === 0 ? segment : `.${segment}`;
    })
    .join('');
}
