import { mkdirSync, writeFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { type StackProcess, startStackProcess } from './support/stack-process.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: { api: string; ses: string; dynamoDb: string; stepFunctions: string };
  }
}

let stack: StackProcess | undefined;

/** One local stack (in memory, free ports) for every integration and browser test, started as `npm start` does. */
export async function setup(project: TestProject) {
  stack = await startStackProcess({ APPROVAL_REMINDER_SECONDS: '', APPROVAL_EXPIRY_SECONDS: '' }, ['--in-memory']);
  project.provide('stack', stack.urls);
}

/** The stack's own log is kept for diagnosis: `test-output/local-stack.log`. */
export async function teardown() {
  await stack?.stop();
  mkdirSync('test-output', { recursive: true });
  writeFileSync('test-output/local-stack.log', stack?.output() ?? '');
}
