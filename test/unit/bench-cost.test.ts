import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { billedMs, costOfDeals, type DealUsage, dealCost, gbSeconds } from '../../bench/cost-model.ts';

const nothing: DealUsage = {
  stateTransitions: 0,
  functions: {},
  dynamoDb: { readRequestUnits: 0, writeRequestUnits: 0 },
  emails: 0,
  httpApiRequests: 0,
};

const usage = fc.record({
  stateTransitions: fc.nat(200),
  functions: fc.dictionary(
    fc.constantFrom('webhook', 'approvals', 'workflow', 'read_api'),
    fc.record({
      memoryMb: fc.constantFrom(128, 512, 1024, 1769),
      architecture: fc.constantFrom('arm64' as const, 'x86_64' as const),
      durationsMs: fc.array(fc.double({ min: 0, max: 5_000, noNaN: true }), { maxLength: 30 }),
    }),
  ),
  dynamoDb: fc.record({ readRequestUnits: fc.nat(500), writeRequestUnits: fc.nat(500) }),
  emails: fc.nat(20),
  httpApiRequests: fc.nat(50),
});

describe('the benchmark cost model', () => {
  it('prices a worked example at us-east-1 list prices', () => {
    const cost = dealCost({
      stateTransitions: 20,
      functions: {
        webhook: { memoryMb: 512, architecture: 'arm64', durationsMs: [10.2, 4] },
        workflow: { memoryMb: 1024, architecture: 'x86_64', durationsMs: [100] },
      },
      dynamoDb: { readRequestUnits: 10, writeRequestUnits: 40 },
      emails: 3,
      httpApiRequests: 5,
    });
    expect(cost.stepFunctions).toBeCloseTo(20 * 0.000025, 12);
    expect(cost.lambdaRequests).toBeCloseTo(3 * 0.0000002, 12);
    // 0.5 GB × 0.015 s on arm64 (10.2 ms bills as 11) + 1 GB × 0.1 s on x86_64
    expect(cost.lambdaDuration).toBeCloseTo(0.0075 * 0.0000133334 + 0.1 * 0.0000166667, 12);
    expect(cost.dynamoDb).toBeCloseTo(10 * 0.000000125 + 40 * 0.000000625, 12);
    expect(cost.ses).toBeCloseTo(0.0003, 12);
    expect(cost.apiGateway).toBeCloseTo(0.000005, 12);
    expect(cost.total).toBeCloseTo(0.00083361667, 10);
  });

  it('bills Lambda duration in whole milliseconds, at least one per invocation', () => {
    expect([0, 0.01, 1, 1.2, 37.999].map(billedMs)).toEqual([1, 1, 1, 2, 38]);
    expect(gbSeconds({ memoryMb: 2048, architecture: 'arm64', durationsMs: [999.5, 0.2] })).toBeCloseTo(2.002, 9);
  });

  it('costs nothing for no usage', () => {
    expect(dealCost(nothing).total).toBe(0);
  });

  it('totals its parts, none of which is negative', () => {
    fc.assert(
      fc.property(usage, (u) => {
        const { total, ...parts } = dealCost(u);
        for (const part of Object.values(parts)) expect(part).toBeGreaterThanOrEqual(0);
        expect(total).toBeCloseTo(
          Object.values(parts).reduce((sum, part) => sum + part, 0),
          12,
        );
      }),
    );
  });

  it('doubles when every count and invocation doubles', () => {
    fc.assert(
      fc.property(usage, (u) => {
        const doubled: DealUsage = {
          stateTransitions: 2 * u.stateTransitions,
          functions: Object.fromEntries(
            Object.entries(u.functions).map(([name, f]) => [
              name,
              { ...f, durationsMs: [...f.durationsMs, ...f.durationsMs] },
            ]),
          ),
          dynamoDb: {
            readRequestUnits: 2 * u.dynamoDb.readRequestUnits,
            writeRequestUnits: 2 * u.dynamoDb.writeRequestUnits,
          },
          emails: 2 * u.emails,
          httpApiRequests: 2 * u.httpApiRequests,
        };
        expect(dealCost(doubled).total).toBeCloseTo(2 * dealCost(u).total, 12);
        expect(costOfDeals(dealCost(u), 2).total).toBeCloseTo(dealCost(doubled).total, 12);
      }),
    );
  });

  it('never gets cheaper when an invocation is added', () => {
    fc.assert(
      fc.property(usage, fc.double({ min: 0, max: 5_000, noNaN: true }), (u, ms) => {
        const withExtra = (durationsMs: number[]): DealUsage => ({
          ...u,
          functions: { ...u.functions, extra: { memoryMb: 512, architecture: 'arm64', durationsMs } },
        });
        expect(dealCost(withExtra([ms])).total).toBeGreaterThan(dealCost(withExtra([])).total);
      }),
    );
  });
});
