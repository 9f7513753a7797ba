import type { PipelineConfig } from '../pipeline-config.ts';
import type { PathSegment, Problem } from './types.ts';

/**
 * A pipeline config is stored whole, as one DynamoDB item (every deployed version is kept, so that deals pinned to it
 * are judged by it): DynamoDB's 400 KB item limit bounds the config. Its JSON text is measured, which counts at least
 * what DynamoDB counts (names and string values alike, plus quotes and separators), less room for the item's keys.
 */
export const MAX_STORED_CONFIG_BYTES = 400 * 1024 - 2 * 1024;

/** How deep the refusal looks for the part that makes a config too large: `stages[3].definition`, not just `stages`. */
const PINPOINT_DEPTH = 3;

/** The problem of a config too large to store, located at its largest part; null when it fits. */
export function storedSizeProblem(config: PipelineConfig): Problem | null {
  const bytes = sizeOf(config);
  if (bytes <= MAX_STORED_CONFIG_BYTES) return null;
  const path = largestPart(config);
  const largest = path.reduce<unknown>((node, segment) => (node as Record<PathSegment, unknown>)[segment], config);
  return {
    path,
    message:
      `the config takes ${kilobytes(bytes)} stored, over the ${kilobytes(MAX_STORED_CONFIG_BYTES)} a pipeline ` +
      `version may take (DynamoDB's 400 KB item limit) — shorten its largest part, here (${kilobytes(sizeOf(largest))})`,
  };
}

function largestPart(config: PipelineConfig): PathSegment[] {
  const path: PathSegment[] = [];
  let node: unknown = config;
  while (path.length < PINPOINT_DEPTH && node !== null && typeof node === 'object') {
    const children: [PathSegment, unknown][] = Array.isArray(node)
      ? node.map((child, index) => [index, child])
      : Object.entries(node);
    const [largest] = children.toSorted(([, a], [, b]) => sizeOf(b) - sizeOf(a));
    if (largest === undefined) break;
    path.push(largest[0]);
    node = largest[1];
  }
  return path;
}

function sizeOf(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

function kilobytes(bytes: number): string {
  return `${Math.ceil(bytes / 1024)} KB`;
}
