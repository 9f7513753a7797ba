/**
 * What a won deal costs in AWS, from the calls counted while one deal was driven to `closed_won`:
 * us-east-1 list prices and the arithmetic, nothing else, so that both can be checked by a unit test.
 */

/** The Lambda architectures Stageflow can deploy on; duration is priced per architecture. */
export type Architecture = 'arm64' | 'x86_64';

/** us-east-1 list prices in USD (on-demand, beyond any free tier). */
export interface PriceList {
  /** Step Functions Standard, per state transition ($0.025 per 1,000). */
  stepFunctionsTransition: number;
  /** Lambda, per request ($0.20 per million). */
  lambdaRequest: number;
  /** Lambda duration, per GB-second of configured memory. */
  lambdaGbSecond: Record<Architecture, number>;
  /** DynamoDB on-demand, per write request unit (1 KB; transactional writes take two). */
  dynamoDbWriteRequestUnit: number;
  /** DynamoDB on-demand, per read request unit (4 KB strongly consistent; eventual takes half, transactional two). */
  dynamoDbReadRequestUnit: number;
  /** SES, per email sent (each recipient counts as one). */
  sesEmail: number;
  /** API Gateway HTTP API, per request (metered in 512 KB steps; every Stageflow request fits in one). */
  httpApiRequest: number;
}

export const US_EAST_1_PRICES: PriceList = {
  stepFunctionsTransition: 0.025 / 1_000,
  lambdaRequest: 0.2 / 1_000_000,
  lambdaGbSecond: { arm64: 0.0000133334, x86_64: 0.0000166667 },
  dynamoDbWriteRequestUnit: 0.625 / 1_000_000,
  dynamoDbReadRequestUnit: 0.125 / 1_000_000,
  sesEmail: 0.1 / 1_000,
  httpApiRequest: 1 / 1_000_000,
};

/** One function's invocations: its deployed memory and architecture, and how long each invocation ran. */
export interface FunctionUsage {
  memoryMb: number;
  architecture: Architecture;
  durationsMs: number[];
}

/** Everything one deal consumed, as counted. */
export interface DealUsage {
  stateTransitions: number;
  functions: Record<string, FunctionUsage>;
  /** Request units as DynamoDB reports them (`ReturnConsumedCapacity`), indexes and transactions included. */
  dynamoDb: { readRequestUnits: number; writeRequestUnits: number };
  emails: number;
  httpApiRequests: number;
}

/** USD by service, and their sum. */
export interface CostBreakdown {
  stepFunctions: number;
  lambdaRequests: number;
  lambdaDuration: number;
  dynamoDb: number;
  ses: number;
  apiGateway: number;
  total: number;
}

/** Lambda bills duration rounded up to the next millisecond, and at least 1 ms per invocation. */
export function billedMs(durationMs: number): number {
  return Math.max(1, Math.ceil(durationMs));
}

/** The GB-seconds Lambda bills for one function's invocations. */
export function gbSeconds(usage: FunctionUsage): number {
  const billed = usage.durationsMs.reduce((sum, ms) => sum + billedMs(ms), 0);
  return (usage.memoryMb / 1024) * (billed / 1000);
}

/** What one deal costs at `prices`, by service. */
export function dealCost(usage: DealUsage, prices: PriceList = US_EAST_1_PRICES): CostBreakdown {
  const functions = Object.values(usage.functions);
  const parts = {
    stepFunctions: usage.stateTransitions * prices.stepFunctionsTransition,
    lambdaRequests: functions.reduce((sum, f) => sum + f.durationsMs.length, 0) * prices.lambdaRequest,
    lambdaDuration: functions.reduce((sum, f) => sum + gbSeconds(f) * prices.lambdaGbSecond[f.architecture], 0),
    dynamoDb:
      usage.dynamoDb.readRequestUnits * prices.dynamoDbReadRequestUnit +
      usage.dynamoDb.writeRequestUnits * prices.dynamoDbWriteRequestUnit,
    ses: usage.emails * prices.sesEmail,
    apiGateway: usage.httpApiRequests * prices.httpApiRequest,
  };
  return { ...parts, total: Object.values(parts).reduce((sum, part) => sum + part, 0) };
}

/** A breakdown for `deals` deals alike, e.g. 1,000 (the benchmark's unit). */
export function costOfDeals(cost: CostBreakdown, deals: number): CostBreakdown {
  const { stepFunctions, lambdaRequests, lambdaDuration, dynamoDb, ses, apiGateway, total } = cost;
  return {
    stepFunctions: stepFunctions * deals,
    lambdaRequests: lambdaRequests * deals,
    lambdaDuration: lambdaDuration * deals,
    dynamoDb: dynamoDb * deals,
    ses: ses * deals,
    apiGateway: apiGateway * deals,
    total: total * deals,
  };
}
