import { BadRequestError } from '../core/errors.ts';
import type { PipelineConfig, VersionedPipeline } from '../core/pipeline-config.ts';
import type { StoredDeal } from '../core/stored-deal.ts';
import type { DealRepository } from './deal-repository.ts';

/**
 * The pipeline configs the functions evaluate deals under. New deals start on the current version of their pipeline
 * (set at deploy or start-up); a deal in flight is always evaluated under the version it started on, read from the
 * table where every deployed version is stored. Versions are immutable, so they are cached for the process's life.
 */
export class PipelineCatalog {
  private readonly cache = new Map<string, Promise<VersionedPipeline | null>>();

  constructor(
    private readonly deals: DealRepository,
    private readonly currentVersions: Record<string, string>,
  ) {}

  pipelineIds(): string[] {
    return Object.keys(this.currentVersions);
  }

  /** Whether a pipeline of this id is deployed. */
  isDeployed(pipeline: string): boolean {
    return this.currentVersionOf(pipeline) !== undefined;
  }

  /** The version new deals of a pipeline start on; undefined for a pipeline not deployed. */
  private currentVersionOf(pipeline: string): string | undefined {
    // Own keys only: a pipeline named `__proto__` or `toString` must not find Object's members.
    return Object.hasOwn(this.currentVersions, pipeline) ? this.currentVersions[pipeline] : undefined;
  }

  /**
   * Every deployed pipeline's current config, by pipeline id. Read after the deals a request needs
   * ({@link getDeal} reads each config with its deal on a cold start), it costs no call.
   */
  async currentConfigs(): Promise<Map<string, PipelineConfig>> {
    const ids = this.pipelineIds();
    const configs = await Promise.all(ids.map(async (id) => (await this.current(id)).config));
    return new Map(ids.map((id, index) => [id, configs[index] as PipelineConfig]));
  }

  /** The version new deals of this pipeline start on; an unknown pipeline is the sender's mistake. */
  async current(pipeline: string): Promise<VersionedPipeline> {
    const version = this.currentVersionOf(pipeline);
    if (!version) {
      throw new BadRequestError(
        'UNKNOWN_PIPELINE',
        `pipeline '${pipeline}' does not exist — use one of: ${this.pipelineIds().join(', ')}`,
        [{ path: 'pipeline', message: `unknown pipeline '${pipeline}'` }],
      );
    }
    return this.version(pipeline, version);
  }

  /**
   * A deal, read (consistently) together with its pipeline's current config while that is not cached yet: one round
   * trip instead of two on a cold start. The config is then cached, so {@link version} of a deal on the current
   * version reads nothing more; a deal on another version reads its own config there.
   */
  async getDeal(pipeline: string, dealId: string): Promise<StoredDeal | null> {
    const version = this.currentVersionOf(pipeline);
    if (!version || this.cache.has(`${pipeline}@${version}`)) return this.deals.getDeal(pipeline, dealId);
    const { stored, config } = await this.deals.getDealWithPipelineVersion(pipeline, dealId, version);
    if (config && !this.cache.has(`${pipeline}@${version}`))
      this.cache.set(`${pipeline}@${version}`, Promise.resolve(config));
    return stored;
  }

  async version(pipeline: string, version: string): Promise<VersionedPipeline> {
    const key = `${pipeline}@${version}`;
    let found = this.cache.get(key);
    if (!found) {
      found = this.deals.getPipelineVersion(pipeline, version);
      this.cache.set(key, found);
    }
    const config = await found;
    if (!config) {
      this.cache.delete(key);
      throw new Error(`pipeline ${pipeline} version ${version} is not stored; redeploy the stage config`);
    }
    return config;
  }
}
