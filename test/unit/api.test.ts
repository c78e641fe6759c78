import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { handleApiEvent, type ApiDeps } from '../../functions/orchestrator/api.js';
import { InMemoryJobStore } from '../../functions/shared/store/memory.js';

/** The API on virtual time: jobs that never end (no run is started), a clock that moves only when the code sleeps. */
function world(estimateWaitMs: number) {
  let t = 1_700_000_000_000;
  const deps: ApiDeps = {
    store: new InMemoryJobStore(),
    startSampler: async () => {},
    startRun: async () => {},
    now: () => t,
    sleep: async (ms) => void (t += ms),
    jobTimeoutMs: 600_000,
    ttlSeconds: 86_400,
    pollIntervalMs: 1000,
    taskRestarts: 2,
    stallMs: 60_000,
    unheardMs: 180_000,
    samplerConcurrency: 100,
    reportIntervalMs: 1000,
    maxRunningJobs: 10,
    maxRunningJobsPerCaller: 5,
    partitionWriteUnitsPerSecond: 1000,
    estimateWaitMs,
    limits: { maxTasks: 1000, maxSamples: 1e12, maxSamplesPerTask: 1e10 },
  };
  return { deps, now: () => t };
}

const estimate = (requestTimeEpoch: number): APIGatewayProxyEvent =>
  ({
    httpMethod: 'POST',
    resource: '/estimate',
    path: '/estimate',
    headers: {},
    pathParameters: null,
    body: JSON.stringify({ samples: 1000, tasks: 1 }),
    isBase64Encoded: false,
    requestContext: { path: '/prod/estimate', requestTimeEpoch, identity: { userArn: 'arn:aws:iam::123456789012:user/alice' } },
  }) as unknown as APIGatewayProxyEvent;

describe('POST /estimate', () => {
  it("waits its configured time when the request is fresh, and answers 202 with the job's location", async () => {
    const { deps, now } = world(10_000);
    const arrived = now();
    const answer = await handleApiEvent(estimate(arrived), deps);
    expect(answer.statusCode).toBe(202);
    expect(answer.headers?.location).toMatch(/^\/prod\/jobs\//);
    expect(now() - arrived).toBeGreaterThanOrEqual(9_000);
    expect(now() - arrived).toBeLessThanOrEqual(10_000);
  });

  it("answers before API Gateway's 29 s cut, counted from when the request arrived, not from when it reached us", async () => {
    const { deps, now } = world(25_000);
    // A cold start and the job's creation already took 20 s of the request's 29.
    const arrived = now() - 20_000;
    const answer = await handleApiEvent(estimate(arrived), deps);
    expect(answer.statusCode).toBe(202);
    expect(now() - arrived).toBeLessThanOrEqual(26_000);
  });

  it('answers at once when the request is already past its budget', async () => {
    const { deps, now } = world(25_000);
    const started = now();
    const answer = await handleApiEvent(estimate(started - 28_000), deps);
    expect(answer.statusCode).toBe(202);
    expect(now() - started).toBe(0);
  });
});

describe('identity', () => {
  it('answers 403 MissingIdentity to an event with no IAM identity, and creates nothing', async () => {
    const { deps } = world(1000);
    const event = estimate(0);
    (event.requestContext as { identity?: unknown }).identity = { userArn: null, caller: null };
    const answer = await handleApiEvent(event, deps);
    expect(answer.statusCode).toBe(403);
    expect(JSON.parse(answer.body).error.code).toBe('MissingIdentity');
    expect((deps.store as InMemoryJobStore).snapshot()).toEqual([]);
  });
});
