import { describe, expect, it } from 'vitest';
import type { ProgressReport, ReportAnswer, SamplerEvent } from '../../functions/shared/job.js';
import { BLOCK_SIZE, type Kernel } from '../../functions/shared/kernel/index.js';
import { tsKernel } from '../../functions/shared/kernel/ts-kernel.js';
import { OutOfTimeError, runTask, type TaskDeps } from '../../functions/sampler/task.js';

const event: SamplerEvent = { jobId: 'j', taskId: 3, seed: 11, samples: 200 * BLOCK_SIZE + 7, startBlock: 60, endBlock: 201, invocation: 1 };
const taskSamples = (201 - 60 - 1) * BLOCK_SIZE + 7;
const expectedInside = tsKernel.countInside(11, 60, 201, event.samples);

/** A progress store in memory with the real rules: forward-only, answers the accepted state. */
function memoryStore(initial: ReportAnswer = { cancelled: false, done: 0, inside: 0 }) {
  const state = { ...initial };
  const reports: ProgressReport[] = [];
  const report = async (r: ProgressReport): Promise<ReportAnswer> => {
    reports.push(r);
    if (!state.cancelled && r.done > state.done) Object.assign(state, { done: r.done, inside: r.inside });
    return { ...state };
  };
  return { state, reports, report };
}

function deps(report: TaskDeps['report'], overrides: Partial<TaskDeps> = {}): TaskDeps {
  let clock = 0;
  return { kernel: tsKernel, report, now: () => (clock += 1000), reportIntervalMs: 1000, remainingMs: () => 60_000, ...overrides };
}

describe('runTask', () => {
  it('samples its blocks, reports at block boundaries about once per interval and ends with a final report', async () => {
    const store = memoryStore();
    const result = await runTask(event, deps(store.report));
    expect(result).toEqual({ jobId: 'j', taskId: 3, done: taskSamples, inside: expectedInside, cancelled: false });
    expect(store.reports[0]).toMatchObject({ done: 0, inside: 0 });
    expect(store.reports.length).toBeGreaterThan(2);
    for (const r of store.reports.slice(0, -1)) expect(r.done % BLOCK_SIZE).toBe(0);
    expect(store.reports.at(-1)).toMatchObject({ done: taskSamples, inside: expectedInside });
  });

  it('resumes from the last accepted report and reaches the same count', async () => {
    const full = memoryStore();
    await runTask(event, deps(full.report));
    const midway = full.reports[1]!;
    const resumed = memoryStore({ cancelled: false, done: midway.done, inside: midway.inside });
    const counted: number[] = [];
    const kernel: Kernel = { name: 'spy', countInside: (...args) => (counted.push(args[1]), tsKernel.countInside(...args)) };
    const result = await runTask(event, deps(resumed.report, { kernel }));
    expect(result.inside).toBe(expectedInside);
    expect(counted[0]).toBe(60 + midway.done / BLOCK_SIZE);
  });

  it('does no work for a task that is already complete', async () => {
    const store = memoryStore({ cancelled: false, done: taskSamples, inside: expectedInside });
    const kernel: Kernel = { name: 'never', countInside: () => { throw new Error('sampled again'); } };
    expect(await runTask(event, deps(store.report, { kernel }))).toMatchObject({ done: taskSamples, cancelled: false });
    expect(store.reports).toHaveLength(1);
  });

  it('stops at the next report once the job is cancelled', async () => {
    const store = memoryStore();
    const report = async (r: ProgressReport) => {
      const answer = await store.report(r);
      if (store.reports.length === 2) store.state.cancelled = true;
      return answer;
    };
    const result = await runTask(event, deps(report));
    expect(result.cancelled).toBe(true);
    expect(store.reports).toHaveLength(3);
    expect(result.done).toBe(store.reports[1]!.done);
  });

  it('reports what it has and hands over to a retry before the timeout', async () => {
    const store = memoryStore();
    let remaining = 60_000;
    await expect(runTask(event, deps(store.report, { remainingMs: () => (remaining -= 30_000) }))).rejects.toThrow(OutOfTimeError);
    expect(store.state.done).toBeGreaterThan(0);
    expect(store.state.done).toBeLessThan(taskSamples);
    const retried = await runTask(event, deps(store.report));
    expect(retried.inside).toBe(expectedInside);
  });
});

describe('runTask under report failures', () => {
  const flaky = (failWhen: (n: number) => boolean) => {
    const store = memoryStore();
    let calls = 0;
    const report = async (r: ProgressReport) => {
      if (failWhen(++calls)) throw new Error('ThrottlingException');
      return store.report(r);
    };
    return { store, report };
  };
  const noSleep = { sleep: async () => {} };

  it('keeps sampling when an intermediate report fails', async () => {
    const { store, report } = flaky((n) => n === 2);
    const result = await runTask(event, deps(report, noSleep));
    expect(result).toMatchObject({ done: taskSamples, inside: expectedInside });
    expect(store.state).toMatchObject({ done: taskSamples, inside: expectedInside });
  });

  it('retries the first and the final report', async () => {
    const { store, report } = flaky((n) => n === 1 || n === 2);
    await runTask(event, deps(report, noSleep));
    expect(store.state.done).toBe(taskSamples);
  });

  it('fails the run when the final report cannot land, so Lambda retries it', async () => {
    let calls = 0;
    const { report } = flaky(() => ++calls > 3);
    await expect(runTask(event, deps(report, noSleep))).rejects.toThrow('ThrottlingException');
  });
});
