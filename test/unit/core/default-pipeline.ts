import { fileURLToPath } from 'node:url';
import { loadPipelineConfig } from '../../../functions/adapters/config-files.ts';
import type { VersionedPipeline } from '../../../functions/core/pipeline-config.ts';

const defaultFile = fileURLToPath(new URL('../../../stage-config/default.yaml', import.meta.url));

/** The default pipeline (`stage-config/default.yaml`), read by the product's own loader. */
export function defaultPipeline(): VersionedPipeline {
  return loadPipelineConfig(defaultFile);
}
