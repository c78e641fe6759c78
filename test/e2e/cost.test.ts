// A job's cost, as GET /jobs/{id} answers it, against the local cloud's own bill for the same job:
// every invocation's billed duration × memory, every Lambda and API request, every DynamoDB unit.
// The cloud is fresh and runs this one job, so everything it served is the job's.
import { describe, expect, it } from 'vitest';
import { FUNCTION_NAMES, priceUsage, type JobCost } from '../../functions/shared/cost.js';
import type { JobView } from '../../cli/api-client.js';
import { cloudUsage } from '../../bench/cloud-bill.js';
import { waitFor } from '../helpers/pool.js';
import { useE2eCloud } from './cloud.js';

// Few execution environments, as a warm function on AWS reuses its sandboxes: each invocation's usage
// is exact but for its last moments (the latency of the write that records it), which a sandbox
// predicts and then records with the job's next invocation there. Only the last invocation of the job
// in each sandbox keeps a prediction: four here (one sampler, one progress, two orchestrator
// sandboxes: a run and the API calls), against the whole job.
const env = useE2eCloud({ maxWorkersPerFunction: { sampler: 1, progress: 1, orchestrator: 2 } });

// Long enough that the tails predicted in the last invocations (each up to about 150 ms on a loaded
// machine) stay well under 1 % of the job.
const JOB = { samples: 10_000_000_000, tasks: 6, seed: 31 };
const POLL_MS = 500;

/** Within 1 % of the expected value. */
function expectWithinOnePercent(actual: number, expected: number, what: string): void {
  expect(expected, `${what}: the cloud's own bill`).toBeGreaterThan(0);
  expect(Math.abs(actual - expected) / expected, `${what}: the job says ${actual}, the cloud ${expected}`).toBeLessThanOrEqual(0.01);
}

describe("a job's cost", () => {
  it("agrees within 1 % with the cloud's own bill: Lambda GB-s and requests, DynamoDB units, API requests, dollars", async () => {
    let apiRequests = 0;
    const submitted = await env.client.submitJob(JOB);
    apiRequests++;
    const done = await env.client.waitForJob(submitted.jobId, { intervalMs: POLL_MS, onUpdate: () => apiRequests++ });
    expect(done.status).toBe('SUCCEEDED');
    // The job's run ends after the outcome is written: its bill is complete once nothing runs.
    await waitFor(() => env.cloud.pendingEvents() === 0 && env.cloud.invocationsInFlight() === 0, 30_000, 'the cloud to go quiet', 100);

    const view = (await env.client.getJob(submitted.jobId)) as JobView & { cost?: JobCost };
    apiRequests++;
    const usage = cloudUsage(env.cloud);
    const bill = priceUsage(usage);

    // The independent side first: what the cloud served is this job and nothing else.
    expect(usage.apiRequests).toBe(apiRequests);
    expect(usage.functions.sampler.requests).toBeGreaterThanOrEqual(JOB.tasks);
    expect(usage.functions.progress.requests).toBeGreaterThanOrEqual(JOB.tasks);
    // The POST and every GET, plus the job's asynchronous run.
    expect(usage.functions.orchestrator.requests).toBeGreaterThanOrEqual(apiRequests + 1);
    expect(usage.dynamodb.writeUnits).toBeGreaterThan(0);
    expect(usage.dynamodb.readUnits).toBeGreaterThan(0);

    expect(view.cost, 'GET /jobs/{id} answers the cost of the job').toBeDefined();
    const cost = view.cost!;
    for (const name of FUNCTION_NAMES) expect(cost.lambda.byFunction[name].requests, `${name} requests`).toBe(bill.lambda.byFunction[name].requests);
    expect(cost.lambda.requests).toBe(bill.lambda.requests);
    expect(cost.apiRequests).toBe(bill.apiRequests);
    const byFunction = FUNCTION_NAMES.map((name) => `${name} ${cost.lambda.byFunction[name].billedMs} ms / ${bill.lambda.byFunction[name].billedMs} ms`).join(', ');
    expectWithinOnePercent(cost.lambda.gbSeconds, bill.lambda.gbSeconds, `Lambda GB-s (billed by the job / by the cloud: ${byFunction})`);
    expectWithinOnePercent(cost.dynamodb.writeUnits, bill.dynamodb.writeUnits, 'DynamoDB write units');
    expectWithinOnePercent(cost.dynamodb.readUnits, bill.dynamodb.readUnits, 'DynamoDB read units');
    expectWithinOnePercent(cost.usd, bill.usd, 'US dollars');
  }, 180_000);
});
