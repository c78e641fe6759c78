/**
 * What a job used and what that costs. Every quantity is counted from what really ran: each
 * invocation's billed duration (init included, as Lambda bills on-demand functions since
 * 2025-08-01) times its memory, each request, and the DynamoDB units each call's
 * `ConsumedCapacity` reported. The prices are one table, below, with their date and source.
 */

/** The functions a job's invocations run in. */
export const FUNCTION_NAMES = ['orchestrator', 'sampler', 'progress'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** One function's share of a job: invocations, billed milliseconds, and billed ms × memory MB. */
export interface FunctionUsage {
  requests: number;
  billedMs: number;
  /** Σ billed ms × memory MB over the invocations (integer; GB-seconds = mbMs / 1024 / 1000). */
  mbMs: number;
}

/** Everything a job used. */
export interface JobUsage {
  functions: Record<FunctionName, FunctionUsage>;
  dynamodb: { readUnits: number; writeUnits: number };
  /** API Gateway requests naming the job (its POST, GETs and DELETE). */
  apiRequests: number;
}

/**
 * Prices used for every job's `usd`: us-east-1, Lambda on arm64 (first pricing tier), DynamoDB
 * on-demand Standard table class, API Gateway REST API (first tier). Free tiers are left out.
 */
export const PRICES = {
  region: 'us-east-1',
  architecture: 'arm64',
  asOf: '2026-11-30',
  source: 'https://aws.amazon.com/lambda/pricing/, https://aws.amazon.com/dynamodb/pricing/on-demand/, https://aws.amazon.com/api-gateway/pricing/',
  lambdaPerGbSecond: 0.0000133334,
  lambdaPerRequest: 0.2 / 1e6,
  dynamodbPerWriteUnit: 0.625 / 1e6,
  dynamodbPerReadUnit: 0.125 / 1e6,
  apiPerRequest: 3.5 / 1e6,
} as const;

/** What `GET /jobs/{id}` answers as `cost`. */
export interface JobCost {
  lambda: {
    requests: number;
    gbSeconds: number;
    byFunction: Record<FunctionName, FunctionUsage & { gbSeconds: number }>;
  };
  dynamodb: { readUnits: number; writeUnits: number };
  apiRequests: number;
  /** The whole job in US dollars, and per service. */
  usd: number;
  usdByService: { lambda: number; dynamodb: number; apiGateway: number };
  prices: { region: string; architecture: string; asOf: string };
}

export const emptyFunctionUsage = (): FunctionUsage => ({ requests: 0, billedMs: 0, mbMs: 0 });

export const emptyUsage = (): JobUsage => ({
  functions: { orchestrator: emptyFunctionUsage(), sampler: emptyFunctionUsage(), progress: emptyFunctionUsage() },
  dynamodb: { readUnits: 0, writeUnits: 0 },
  apiRequests: 0,
});

/** The sum of usages (a new object). */
export function addUsage(...parts: readonly JobUsage[]): JobUsage {
  const sum = emptyUsage();
  for (const part of parts) {
    for (const name of FUNCTION_NAMES) {
      const f = part.functions[name];
      sum.functions[name].requests += f.requests;
      sum.functions[name].billedMs += f.billedMs;
      sum.functions[name].mbMs += f.mbMs;
    }
    sum.dynamodb.readUnits += part.dynamodb.readUnits;
    sum.dynamodb.writeUnits += part.dynamodb.writeUnits;
    sum.apiRequests += part.apiRequests;
  }
  return sum;
}

const gbSeconds = (mbMs: number) => mbMs / 1024 / 1000;

/** Prices a usage with PRICES. */
export function priceUsage(usage: JobUsage): JobCost {
  const byFunction = Object.fromEntries(
    FUNCTION_NAMES.map((name) => [name, { ...usage.functions[name], gbSeconds: gbSeconds(usage.functions[name].mbMs) }]),
  ) as JobCost['lambda']['byFunction'];
  const requests = FUNCTION_NAMES.reduce((n, name) => n + usage.functions[name].requests, 0);
  const lambdaGbSeconds = FUNCTION_NAMES.reduce((n, name) => n + byFunction[name].gbSeconds, 0);
  const lambda = lambdaGbSeconds * PRICES.lambdaPerGbSecond + requests * PRICES.lambdaPerRequest;
  const dynamodb = usage.dynamodb.writeUnits * PRICES.dynamodbPerWriteUnit + usage.dynamodb.readUnits * PRICES.dynamodbPerReadUnit;
  const apiGateway = usage.apiRequests * PRICES.apiPerRequest;
  return {
    lambda: { requests, gbSeconds: lambdaGbSeconds, byFunction },
    dynamodb: { ...usage.dynamodb },
    apiRequests: usage.apiRequests,
    usd: lambda + dynamodb + apiGateway,
    usdByService: { lambda, dynamodb, apiGateway },
    prices: { region: PRICES.region, architecture: PRICES.architecture, asOf: PRICES.asOf },
  };
}
