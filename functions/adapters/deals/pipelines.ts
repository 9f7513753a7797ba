import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { PipelineConfig, VersionedPipeline } from '../../core/pipeline-config.ts';
import { liveKey, pipelineKey, pipelinePartition, VERSION_PREFIX } from './keys.ts';
import type { TableRef } from './table-ref.ts';
import { queryAll } from './table-ref.ts';

/** A stored version item as the functions read it. */
export function toVersionedPipeline(item: Record<string, unknown>): VersionedPipeline {
  return { config: item.config as PipelineConfig, version: item.version as string };
}

/** The stored pipeline configs: every deployed version (never deleted), and which one is live. */
export class PipelineItems {
  constructor(private readonly table: TableRef) {}

  async putVersion(pipeline: VersionedPipeline): Promise<void> {
    await this.table.db.send(
      new PutCommand({
        TableName: this.table.tableName,
        Item: { ...pipelineKey(pipeline.config.pipeline, pipeline.version), ...pipeline },
      }),
    );
  }

  async getVersion(pipeline: string, version: string): Promise<VersionedPipeline | null> {
    const { Item } = await this.table.db.send(
      new GetCommand({ TableName: this.table.tableName, Key: pipelineKey(pipeline, version) }),
    );
    return Item ? toVersionedPipeline(Item) : null;
  }

  /** Every stored version of a pipeline (one per deployed config), e.g. to resume deals pinned to older ones. */
  async listVersions(pipeline: string): Promise<VersionedPipeline[]> {
    const items = await queryAll(this.table, {
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :version)',
      ExpressionAttributeValues: { ':pk': pipelinePartition(pipeline), ':version': VERSION_PREFIX },
    });
    return items.map(toVersionedPipeline);
  }

  /** The version of a pipeline that went live last (its open deals were moved to it), or null before the first. */
  async getLive(pipeline: string): Promise<string | null> {
    const { Item } = await this.table.db.send(
      new GetCommand({ TableName: this.table.tableName, Key: liveKey(pipeline), ConsistentRead: true }),
    );
    return Item ? (Item.version as string) : null;
  }

  /** Records which version of a pipeline is live: what `config:plan` compares a file against. */
  async putLive(pipeline: string, version: string, at: string): Promise<void> {
    await this.table.db.send(
      new PutCommand({ TableName: this.table.tableName, Item: { ...liveKey(pipeline), version, at } }),
    );
  }
}
