import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The deals' table, as every item kind's reads and writes reach it. */
export interface TableRef {
  db: DynamoDBDocumentClient;
  tableName: string;
}

/** True when a write's condition failed (the item exists, or its version moved on). */
export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}
