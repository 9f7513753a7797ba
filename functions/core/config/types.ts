/** One step of a path into the config: a mapping key or a list index. */
export type PathSegment = string | number;

/** A problem found before it is located in the file: by path, or by offset for YAML syntax errors. */
export interface Problem {
  path: readonly PathSegment[];
  message: string;
  /** Point at the key of the last path segment rather than its value (unknown or misspelt keys). */
  at?: 'key';
  offset?: number;
}
