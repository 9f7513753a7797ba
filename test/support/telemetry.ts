import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Telemetry } from '../../functions/adapters/telemetry.ts';

/** Telemetry for tests that build Services by hand: logs nothing, publishes no metrics. */
export function silentTelemetry(): Telemetry {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  return new Telemetry(new Logger({ logLevel: 'SILENT' }), new Metrics({ namespace: 'StageflowTest' }));
}
