import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Telemetry } from '../../functions/adapters/telemetry.ts';

describe('telemetry log lines', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    delete process.env.POWERTOOLS_DEV;
  });

  it("keeps the CRM's reason of a failed write-back in the log line", () => {
    process.env.POWERTOOLS_DEV = 'true';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    const lines: string[] = [];
    for (const method of ['log', 'info', 'warn', 'error'] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
    }
    const telemetry = new Telemetry(new Logger({ logLevel: 'INFO' }), new Metrics({ namespace: 'StageflowTest' }));
    telemetry.crmSynced({ pipeline: 'default', dealId: 'D-1' }, 'salesforce', false, 400, 'FIELD_INTEGRITY_EXCEPTION');
    const line = lines.find((text) => text.includes('CRM write-back failed'));
    expect(line).toBeDefined();
    expect(line).toContain('FIELD_INTEGRITY_EXCEPTION');
  });
});
