import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerKey } from '../../functions/shared/store/items.js';
import { startTestTable, type TestTable } from '../helpers/dynalite.js';
import { startInProcessStack, type InProcessStack } from '../helpers/in-process-lambda.js';
import { waitFor } from '../helpers/pool.js';

let table: TestTable;
let stack: InProcessStack;

beforeAll(async () => {
  table = await startTestTable();
  stack = await startInProcessStack(table, { orchestrator: { stallSeconds: 1, samplerConcurrency: 3, samplerMaxEventAgeSeconds: 1 } });
});
afterAll(async () => {
  stack.restore();
  await table.stop();
});

async function runJob(body: object) {
  const submitted = await stack.api('POST', '/jobs', { body: JSON.stringify(body) });
  expect(submitted.statusCode).toBe(202);
  await stack.settle();
  const result = await stack.api('GET', '/jobs/{id}', { id: submitted.json.jobId });
  expect(result.statusCode).toBe(200);
  return { submitted: submitted.json, result: result.json };
}

describe('a whole job, in process, against dynalite', () => {
  it('10 tasks estimate π within 5 standard errors, with the header finalized', async () => {
    const { submitted, result } = await runJob({ samples: 2_000_000, tasks: 10 });
    expect(submitted.location).toBe(`/prod/jobs/${submitted.jobId}`);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.done).toBe(2_000_000);
    expect(result.progress).toBe(1);
    expect(result.taskProgress).toHaveLength(10);
    expect(result.taskProgress.every((t: { progress: number }) => t.progress === 1)).toBe(true);
    const { pi, standardError, ci95 } = result.estimate;
    expect(Math.abs(pi - Math.PI)).toBeLessThan(5 * standardError);
    expect(ci95[0]).toBeLessThan(pi);
    expect(ci95[1]).toBeGreaterThan(pi);
    const key = headerKey(submitted.jobId);
    const header = (await table.scanAll()).find((i) => i.pk === key.pk && i.sk === key.sk)!;
    expect(header.status).toBe('SUCCEEDED');
    expect(header.inside).toBe(result.inside);
    expect(header.finishedAt).toBeTypeOf('number');
  });

  it('runs at most the sampler concurrency (3) of a job\'s tasks at once, and starts every task', async () => {
    const before = stack.asyncEvents.sampler!.length;
    stack.peakAsyncRuns.sampler = 0;
    const { result } = await runJob({ samples: 2_000_000, tasks: 10, seed: 3 });
    expect(result.status).toBe('SUCCEEDED');
    const started = new Set<number>(stack.asyncEvents.sampler!.slice(before).map((e: any) => e.taskId));
    expect([...started].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(stack.peakAsyncRuns.sampler).toBeLessThanOrEqual(3);
    expect(stack.peakAsyncRuns.sampler).toBeGreaterThanOrEqual(2);
  });

  it('gives the same inside count for the same seed every time', async () => {
    const a = await runJob({ samples: 500_000, tasks: 4, seed: 42 });
    const b = await runJob({ samples: 500_000, tasks: 4, seed: 42 });
    expect(a.submitted.jobId).not.toBe(b.submitted.jobId);
    expect(a.result.inside).toBe(b.result.inside);
    expect(a.result.seed).toBe(42);
  });

  it('gives the same count for 1, 7 and 10 tasks with the same seed and samples', async () => {
    const counts = [];
    for (const tasks of [1, 7, 10]) counts.push((await runJob({ samples: 1_000_003, tasks, seed: 7 })).result.inside);
    expect(new Set(counts).size).toBe(1);
  });

  it('answers POST /estimate with the finished job', async () => {
    const response = await stack.api('POST', '/estimate', { body: JSON.stringify({ samples: 300_000, tasks: 3, seed: 1 }) });
    expect(response.statusCode).toBe(200);
    expect(response.json.status).toBe('SUCCEEDED');
    expect(response.json.estimate.pi).toBeCloseTo(Math.PI, 1);
    await stack.settle();
  });

  it('cancels a sampling job: DELETE flags every unfinished task item stopped, ends it CANCELLED, and no count moves after', async () => {
    // Long enough (seconds per task) that it is still sampling when cancelled.
    const samples = 10_000_000_000;
    const submitted = await stack.api('POST', '/jobs', { body: JSON.stringify({ samples, tasks: 2, seed: 3 }) });
    const id = submitted.json.jobId;
    const taskItems = async () =>
      (await table.scanAll())
        .filter((i) => i.pk === `JOB#${id}` && String(i.sk).startsWith('TASK#'))
        .map(({ sk, samples, done, inside, cancelled }) => ({ sk, samples, done, inside, cancelled }) as { sk: string; samples: number; done: number; inside: number; cancelled?: boolean });
    // A report has landed: the job is sampling.
    await waitFor(async () => (await taskItems()).some((t) => t.done > 0), 30_000, 'a progress report to reach the table', 20);
    const cancelled = await stack.api('DELETE', '/jobs/{id}', { id });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json.status).toBe('CANCELLED');
    const atCancel = await taskItems();
    expect(atCancel).toHaveLength(2);
    // Every unfinished task is stopped (a task that finished just before the cancel keeps its count).
    expect(atCancel.filter((t) => t.cancelled !== true && t.done < t.samples)).toEqual([]);
    expect(atCancel.some((t) => t.cancelled === true)).toBe(true);
    // The header froze the counts of the stopped items.
    expect(cancelled.json.done).toBe(atCancel.reduce((sum, t) => sum + t.done, 0));
    expect(cancelled.json.done).toBeGreaterThan(0);
    expect(cancelled.json.done).toBeLessThan(samples);
    // The samplers see the flag at their next report and stop; nothing they send moves a count.
    await stack.settle();
    expect(await taskItems()).toEqual(atCancel);
    const after = await stack.api('GET', '/jobs/{id}', { id });
    expect(after.json.status).toBe('CANCELLED');
    expect([after.json.done, after.json.inside]).toEqual([cancelled.json.done, cancelled.json.inside]);
    const again = await stack.api('DELETE', '/jobs/{id}', { id });
    expect(again.statusCode).toBe(200);
  });

  it('returns the same job for a repeated Idempotency-Key and refuses the key for another request', async () => {
    const headers = { 'Idempotency-Key': `key-${Date.now()}` };
    const first = await stack.api('POST', '/jobs', { body: JSON.stringify({ samples: 100_000, tasks: 2 }), headers });
    const second = await stack.api('POST', '/jobs', { body: JSON.stringify({ samples: 100_000, tasks: 2 }), headers });
    expect(second.statusCode).toBe(202);
    expect(second.json.jobId).toBe(first.json.jobId);
    expect(second.json.seed).toBe(first.json.seed);
    const other = await stack.api('POST', '/jobs', { body: JSON.stringify({ samples: 200_000, tasks: 2 }), headers });
    expect(other.statusCode).toBe(422);
    await stack.settle();
    expect(stack.asyncEvents.orchestrator!.filter((e: any) => e.jobId === first.json.jobId)).toHaveLength(1);
  });

  it('a repeated Idempotency-Key starts the run that the first request failed to start', async () => {
    const headers = { 'Idempotency-Key': `lost-run-${Date.now()}` };
    const body = JSON.stringify({ samples: 200_000, tasks: 2, seed: 9 });
    stack.asyncFault = (name) => (name === 'orchestrator' ? 'drop' : undefined);
    const first = await stack.api('POST', '/jobs', { body, headers });
    stack.asyncFault = () => undefined;
    await stack.settle();
    expect((await stack.api('GET', '/jobs/{id}', { id: first.json.jobId })).json.done).toBe(0);
    // A run is taken for lost once it is a stall limit (1 s here) late, as a GET judges it.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const repeat = await stack.api('POST', '/jobs', { body, headers });
    expect(repeat.json.jobId).toBe(first.json.jobId);
    await stack.settle();
    const result = (await stack.api('GET', '/jobs/{id}', { id: first.json.jobId })).json;
    expect(result.status).toBe('SUCCEEDED');
    expect(result.done).toBe(200_000);
  });

  it('a GET starts a new run when the job\'s run went silent (its event was lost)', async () => {
    stack.asyncFault = (name) => (name === 'orchestrator' ? 'drop' : undefined);
    // Taken before the request: the job's own creation time is later, and the stall counts from it.
    const createdAt = Date.now();
    const submitted = await stack.api('POST', '/jobs', { body: JSON.stringify({ samples: 200_000, tasks: 2, seed: 10 }) });
    stack.asyncFault = () => undefined;
    const id = submitted.json.jobId;
    const runs = () => stack.asyncEvents.orchestrator!.filter((e: any) => e.jobId === id).length;
    // A GET while the job is young starts nothing.
    expect((await stack.api('GET', '/jobs/{id}', { id })).json.status).toBe('RUNNING');
    expect(runs()).toBe(1);
    // GETs keep coming, as a client's would; one of them, once the run has been silent for STALL_SECONDS, starts a run.
    await waitFor(async () => (await stack.api('GET', '/jobs/{id}', { id }), runs() === 2), 10_000, 'a GET to start a new run', 50);
    expect(Date.now() - createdAt).toBeGreaterThanOrEqual(1_000);
    await stack.settle();
    const result = (await stack.api('GET', '/jobs/{id}', { id })).json;
    expect(result.status).toBe('SUCCEEDED');
    expect(stack.asyncEvents.orchestrator!.filter((e: any) => e.jobId === id)).toHaveLength(2);
  });

  it.each([
    ['whose sampler Lambda gave up on', 'fail', 1, 5],
    ['whose event was lost, once it goes silent', 'drop', 2, 6],
  ] as const)('restarts a task %s, and the count is exactly the fault-free one', async (_name, fault, taskId, seed) => {
    const clean = await runJob({ samples: 400_000, tasks: 3, seed });
    let events = 0;
    stack.asyncFault = (name, payload) => (name === 'sampler' && payload.taskId === taskId && events++ === 0 ? fault : undefined);
    const faulty = await runJob({ samples: 400_000, tasks: 3, seed });
    stack.asyncFault = () => undefined;
    expect(events).toBe(2);
    expect(faulty.result.status).toBe('SUCCEEDED');
    expect(faulty.result.inside).toBe(clean.result.inside);
  });

  it('fails the job naming the task once a task has failed on every allowed invocation', async () => {
    stack.asyncFault = (name, payload) => (name === 'sampler' && payload.taskId === 0 ? 'fail' : undefined);
    const { result } = await runJob({ samples: 400_000, tasks: 2, seed: 8 });
    stack.asyncFault = () => undefined;
    expect(result.status).toBe('FAILED');
    expect(result.failedTasks).toEqual([0]);
    expect(result.reason).toMatch(/^task 0: sampler gave up \(RetriesExhausted, 3 attempt\(s\)\): Error: injected failure$/);
    expect(stack.asyncEvents.sampler!.filter((e: any) => e.taskId === 0 && e.seed === 8)).toHaveLength(3);
    expect(result.taskProgress[1].progress).toBe(1);
  });
});
