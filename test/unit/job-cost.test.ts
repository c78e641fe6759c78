import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { handleApiEvent, type ApiDeps } from '../../functions/orchestrator/api.js';
import { runJob } from '../../functions/orchestrator/jobs.js';
import { applyProgressEvent } from '../../functions/progress/apply.js';
import { runTask } from '../../functions/sampler/task.js';
import { emptyUsage, PRICES, type JobUsage } from '../../functions/shared/cost.js';
import { usageOfCost, viewJob, withUsage, type JobHeader, type JobView, type ProgressReport, type TaskItem } from '../../functions/shared/job.js';
import { tsKernel } from '../../functions/shared/kernel/ts-kernel.js';
import { BLOCK_SIZE } from '../../functions/shared/kernel/index.js';
import { InMemoryJobStore } from '../../functions/shared/store/memory.js';
import { SandboxMeter } from '../../functions/shared/usage-meter.js';

const JOB = '00000000-0000-4000-8000-000000000001';
const header: JobHeader = {
  jobId: JOB, seed: 1, samples: 2 * BLOCK_SIZE, tasks: 2, status: 'RUNNING', createdAt: 0, deadlineAt: 1e15, expiresAt: 2e9, maxInvocations: 3,
  owner: 'arn:aws:iam::123456789012:user/alice',
};
const task = (taskId: number, usage?: JobUsage): TaskItem => ({
  jobId: JOB, taskId, startBlock: taskId, endBlock: taskId + 1, samples: BLOCK_SIZE, done: 0, inside: 0, invocations: 1, expiresAt: 2e9, ...(usage && { usage }),
});

function usage(parts: { orchestrator?: number; sampler?: number; progress?: number; read?: number; write?: number; api?: number }): JobUsage {
  const u = emptyUsage();
  // Memory as the stack sets it: the sampler 1769 MB (one vCPU), the others 256 and 512.
  const fn = (ms = 0, mb: number) => ({ requests: ms > 0 ? 1 : 0, billedMs: ms, mbMs: ms * mb });
  u.functions = { orchestrator: fn(parts.orchestrator, 512), sampler: fn(parts.sampler, 1769), progress: fn(parts.progress, 256) };
  u.dynamodb = { readUnits: parts.read ?? 0, writeUnits: parts.write ?? 0 };
  u.apiRequests = parts.api ?? 0;
  return u;
}

describe("a job's cost", () => {
  it("sums the header's usage and every task's, and prices it with the one price table", () => {
    const view = viewJob({ ...header, usage: usage({ orchestrator: 300, read: 4, write: 3, api: 2 }) }, [
      task(0, usage({ sampler: 2000, progress: 10, write: 2 })),
      task(1, usage({ sampler: 1000, progress: 6, read: 1, write: 2 })),
    ], 1);
    const { cost } = view;
    expect(cost.lambda.requests).toBe(5);
    expect(cost.lambda.byFunction.sampler).toMatchObject({ requests: 2, billedMs: 3000, mbMs: 3000 * 1769, gbSeconds: (3000 * 1769) / 1024 / 1000 });
    expect(cost.lambda.byFunction.progress.mbMs).toBe(16 * 256);
    expect(cost.lambda.byFunction.orchestrator.mbMs).toBe(300 * 512);
    expect(cost.dynamodb).toEqual({ readUnits: 5, writeUnits: 7 });
    expect(cost.apiRequests).toBe(2);
    const gbSeconds = (3000 * 1769 + 16 * 256 + 300 * 512) / 1024 / 1000;
    const lambda = gbSeconds * PRICES.lambdaPerGbSecond + 5 * PRICES.lambdaPerRequest;
    const dynamodb = 7 * PRICES.dynamodbPerWriteUnit + 5 * PRICES.dynamodbPerReadUnit;
    expect(cost.usdByService.lambda).toBeCloseTo(lambda, 15);
    expect(cost.usdByService.dynamodb).toBeCloseTo(dynamodb, 15);
    expect(cost.usdByService.apiGateway).toBeCloseTo(2 * PRICES.apiPerRequest, 15);
    expect(cost.usd).toBeCloseTo(lambda + dynamodb + 2 * PRICES.apiPerRequest, 15);
    expect(cost.prices).toEqual({ region: 'us-east-1', architecture: 'arm64', asOf: PRICES.asOf });
  });

  it('is zero for a job that recorded nothing, and adds a later usage exactly', () => {
    const view = viewJob(header, [task(0)], 1);
    expect(view.cost.usd).toBe(0);
    expect(usageOfCost(view.cost)).toEqual(emptyUsage());
    const more = usage({ orchestrator: 12, read: 1, write: 1, api: 1 });
    expect(usageOfCost(withUsage(view, more).cost)).toEqual(more);
  });
});

describe('what a progress report records', () => {
  async function storeWithTask() {
    const store = new InMemoryJobStore();
    await store.createJob(header);
    await store.claimInvocation(JOB, 0, 0, 1, task(0));
    return store;
  }

  it("adds the sampler's usage it carries and the progress invocation's own to the task, refused or not", async () => {
    const store = await storeWithTask();
    const sandbox = new SandboxMeter({ function: 'progress', memoryMb: 256, initMs: 0 });
    const sampler = { requests: 1, billedMs: 40, mbMs: 40 * 1769 };
    for (const done of [BLOCK_SIZE, BLOCK_SIZE]) {
      const meter = sandbox.start();
      await applyProgressEvent({ jobId: JOB, taskId: 0, done, inside: 1, usage: sampler }, store, 5, meter);
      meter.end();
    }
    const recorded = (await store.loadTask(JOB, 0))!.usage!;
    expect(recorded.functions.sampler).toEqual({ requests: 2, billedMs: 80, mbMs: 80 * 1769 });
    expect(recorded.functions.progress.requests).toBe(2);
    expect(recorded.functions.progress.billedMs).toBeGreaterThan(0);
    expect(recorded.functions.progress.mbMs).toBe(recorded.functions.progress.billedMs * 256);
    // Each report's own write unit, predicted (the in-memory store consumes none).
    expect(recorded.dynamodb.writeUnits).toBe(2);
  });

  it('takes an older report with no usage as before, and refuses a malformed usage like a malformed report', async () => {
    const store = await storeWithTask();
    expect(await applyProgressEvent({ jobId: JOB, taskId: 0, done: BLOCK_SIZE, inside: 1 }, store, 5)).toEqual({ cancelled: false, done: BLOCK_SIZE, inside: 1 });
    expect((await store.loadTask(JOB, 0))!.usage).toBeUndefined();
    for (const bad of [{ requests: -1, billedMs: 1, mbMs: 1 }, { requests: 1, billedMs: Number.NaN, mbMs: 1 }, { requests: 1, billedMs: 1 }, 'lots', null]) {
      const report = { jobId: JOB, taskId: 0, done: BLOCK_SIZE, inside: 1, usage: bad } as unknown as ProgressReport;
      await expect(applyProgressEvent(report, store, 5)).rejects.toThrow(TypeError);
    }
  });
});

describe("what a sampler's reports carry", () => {
  it('its request once, and billed time that sums to its duration plus the wait for its last answer', async () => {
    let t = 0;
    const sandbox = new SandboxMeter({ function: 'sampler', memoryMb: 1769, initMs: 100, clock: () => t });
    const meter = sandbox.start();
    const reports: ProgressReport[] = [];
    let state = { cancelled: false, done: 0, inside: 0 };
    let failNext = 1; // the second report fails: its usage rides on the next one
    const event = { jobId: JOB, taskId: 0, seed: 1, samples: 200 * BLOCK_SIZE, startBlock: 0, endBlock: 200, invocation: 1 };
    await runTask(event, {
      kernel: tsKernel,
      report: async (report) => {
        t += 5; // each report's round trip
        if (reports.push(report) === 2 && failNext-- > 0) throw new Error('throttled');
        if (report.done > state.done) state = { ...state, done: report.done, inside: report.inside };
        return state;
      },
      now: () => (t += 50),
      reportIntervalMs: 0,
      remainingMs: () => 60_000,
      sleep: async () => {},
      meter,
    });
    const answered = reports.filter((_, i) => i !== 1);
    expect(answered.map((r) => r.usage!.requests)).toEqual([1, ...answered.slice(1).map(() => 0)]);
    const recordedMs = answered.reduce((n, r) => n + r.usage!.billedMs, 0);
    const last = answered.at(-1)!;
    expect(last.done).toBe(200 * BLOCK_SIZE);
    // Recorded: everything up to the last report plus its answer's predicted wait (the mean round trip).
    const { billedMs } = meter.end();
    expect(recordedMs).toBeGreaterThanOrEqual(billedMs);
    expect(answered.every((r) => r.usage!.mbMs === r.usage!.billedMs * 1769)).toBe(true);
  });
});

describe("a sampler's last report", () => {
  it("carries the wait for its answer predicted from the latest warm round trip, not the first report's cold one", async () => {
    let t = 0;
    const sandbox = new SandboxMeter({ function: 'sampler', memoryMb: 1769, initMs: 0, clock: () => t });
    const meter = sandbox.start();
    const sent: { at: number; report: ProgressReport }[] = [];
    // Each chunk of 64 blocks takes 1 ms; the first report waits 3 s (a cold progress function), the others 40 ms.
    const kernel = { name: 'stub', countInside: () => ((t += 1), 0) };
    const state = { cancelled: false, done: 0, inside: 0 };
    const event = { jobId: JOB, taskId: 0, seed: 1, samples: 192 * BLOCK_SIZE, startBlock: 0, endBlock: 192, invocation: 1 };
    await runTask(event, {
      kernel,
      report: async (report) => {
        sent.push({ at: t, report });
        t += sent.length === 1 ? 3000 : 40;
        return { ...state, done: Math.max(state.done, report.done) };
      },
      now: () => t,
      reportIntervalMs: 0,
      remainingMs: () => 60_000,
      meter,
    });
    const last = sent.at(-1)!;
    expect(last.report.done).toBe(192 * BLOCK_SIZE);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    const recordedMs = sent.reduce((n, s) => n + s.report.usage!.billedMs, 0);
    // An overlapped report's answer is seen when sampling yields: its round trip as measured is up to a chunk longer.
    expect(recordedMs).toBeGreaterThanOrEqual(last.at + 40);
    expect(recordedMs).toBeLessThanOrEqual(last.at + 41);
    expect(meter.end().billedMs).toBe(last.at + 40);
  });
});

describe('what an API request records', () => {
  const ALICE = 'arn:aws:iam::123456789012:user/alice';
  const request = (httpMethod: string, resource: string, jobId?: string, body?: unknown): APIGatewayProxyEvent =>
    ({
      httpMethod,
      resource,
      path: jobId ? `/jobs/${jobId}` : resource,
      headers: {},
      pathParameters: jobId ? { id: jobId } : null,
      body: body === undefined ? null : JSON.stringify(body),
      isBase64Encoded: false,
      requestContext: { path: `/prod${jobId ? `/jobs/${jobId}` : resource}`, identity: { userArn: ALICE } },
    }) as unknown as APIGatewayProxyEvent;

  /** The API on an in-memory store, each call one orchestrator invocation of one sandbox. */
  function world() {
    const store = new InMemoryJobStore();
    const sandbox = new SandboxMeter({ function: 'orchestrator', memoryMb: 512, initMs: 50 });
    const deps: ApiDeps = {
      store,
      startSampler: async () => {},
      startRun: async () => {},
      now: Date.now,
      sleep: async () => {},
      jobTimeoutMs: 600_000,
      ttlSeconds: 86_400,
      pollIntervalMs: 1000,
      taskRestarts: 2,
      stallMs: 600_000,
      unheardMs: 600_000,
      samplerConcurrency: 100,
      reportIntervalMs: 1000,
      maxRunningJobs: 10,
      maxRunningJobsPerCaller: 5,
      partitionWriteUnitsPerSecond: 1000,
      estimateWaitMs: 1000,
      limits: { maxTasks: 1000, maxSamples: 1e12, maxSamplesPerTask: 1e10 },
    };
    const call = async (event: APIGatewayProxyEvent) => {
      const meter = sandbox.start();
      const answer = await handleApiEvent(event, { ...deps, meter });
      meter.end();
      if (answer.statusCode >= 300) throw new Error(answer.body);
      return JSON.parse(answer.body) as JobView;
    };
    return { store, sandbox, deps, call };
  }

  it('its POST, each GET and its DELETE: the API request and the invocation, the answer including itself', async () => {
    const { store, sandbox, deps, call } = world();
    const stored = async (jobId: string) => viewJob((await store.loadHeader(jobId))!, [], 0).cost;

    const posted = await call(request('POST', '/jobs', undefined, { samples: 2 * BLOCK_SIZE, tasks: 2 }));
    expect(posted.cost.apiRequests).toBe(1);
    expect(posted.cost.lambda.byFunction.orchestrator.requests).toBe(1);
    // The cold start's init is in the first invocation's billed time.
    expect(posted.cost.lambda.byFunction.orchestrator.billedMs).toBeGreaterThanOrEqual(50);
    expect(posted.cost).toEqual(await stored(posted.jobId));

    const read = await call(request('GET', '/jobs/{id}', posted.jobId));
    expect(read.cost.apiRequests).toBe(2);
    expect(read.cost.lambda.byFunction.orchestrator.requests).toBe(2);
    expect(read.cost).toEqual(await stored(posted.jobId));

    const cancelled = await call(request('DELETE', '/jobs/{id}', posted.jobId));
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.cost.apiRequests).toBe(3);
    expect(cancelled.cost).toEqual(await stored(posted.jobId));

    // A request for a job that is not there records nothing anywhere.
    const before = store.snapshot();
    const missing = await handleApiEvent(request('GET', '/jobs/{id}', '00000000-0000-4000-8000-00000000ffff'), { ...deps, meter: sandbox.start() });
    expect(missing.statusCode).toBe(404);
    expect(store.snapshot()).toEqual(before);
  });

  it("a GET whose usage write fails still answers the job; the usage is recorded by the job's next request in the sandbox", async () => {
    const { store, sandbox, deps, call } = world();
    const posted = await call(request('POST', '/jobs', undefined, { samples: 2 * BLOCK_SIZE, tasks: 2 }));
    const addJobUsage = store.addJobUsage.bind(store);
    store.addJobUsage = () => Promise.reject(new Error('ThrottlingException: the header is hot'));
    const observed: string[] = [];
    const meter = sandbox.start();
    meter.forJob(posted.jobId);
    const answer = await handleApiEvent(request('GET', '/jobs/{id}', posted.jobId), { ...deps, meter, observe: (e) => observed.push(e.kind) });
    meter.end();
    expect(answer.statusCode).toBe(200);
    expect(observed).toContain('usageNotRecorded');
    store.addJobUsage = addJobUsage;
    // The next GET records its own request and the failed one's time (owed), but the failed one's
    // API request and invocation stay uncounted: a usage never counts a request twice.
    const next = await call(request('GET', '/jobs/{id}', posted.jobId));
    expect(next.cost.apiRequests).toBe(2);
    expect(next.cost.lambda.byFunction.orchestrator.requests).toBe(2);
  });

  it("a job's run: its heartbeat and its end record the run's invocation, and its view includes them", async () => {
    const { store, sandbox, deps, call } = world();
    const posted = await call(request('POST', '/jobs', undefined, { samples: 2 * BLOCK_SIZE, tasks: 2 }));
    const meter = sandbox.start();
    // No time left: one round of the run's work (starting the tasks), then a hand-over to the next run.
    const view = await runJob(posted.jobId, { ...deps, meter }, () => 0);
    meter.end();
    const job = (await store.loadJob(posted.jobId))!;
    expect(job.tasks.map((t) => t.invocations)).toEqual([1, 1]);
    expect(view.cost).toEqual(viewJob(job.header, job.tasks, 0).cost);
    expect(view.cost.lambda.byFunction.orchestrator.requests).toBe(2);
    expect(view.cost.lambda.byFunction.orchestrator.billedMs).toBeGreaterThan(posted.cost.lambda.byFunction.orchestrator.billedMs);
    expect(view.cost.apiRequests).toBe(1);
  });
});
