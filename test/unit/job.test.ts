import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundFailure,
  deriveOutcome,
  MAX_FAILURE_CHARS,
  planTasks,
  pollFloorMs,
  reportIntervalFor,
  tasksToRestart,
  tasksToStart,
  type JobHeader,
  type Silence,
  type TaskItem,
} from '../../functions/shared/job.js';
import { BLOCK_SIZE, blockCount } from '../../functions/shared/kernel/stream-rule.js';

describe('planTasks', () => {
  it('splits the blocks into contiguous ranges that cover the job exactly once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e12 }), fc.integer({ min: 1, max: 1000 }), (samples, tasks) => {
        fc.pre(tasks <= blockCount(samples));
        const plan = planTasks(samples, tasks);
        expect(plan).toHaveLength(tasks);
        expect(plan[0]!.startBlock).toBe(0);
        expect(plan.at(-1)!.endBlock).toBe(blockCount(samples));
        for (let i = 1; i < plan.length; i++) expect(plan[i]!.startBlock).toBe(plan[i - 1]!.endBlock);
        expect(plan.reduce((sum, t) => sum + t.samples, 0)).toBe(samples);
        const sizes = plan.map((t) => t.endBlock - t.startBlock);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);
      }),
    );
  });

  it('gives the partial last block to the last task', () => {
    const plan = planTasks(3 * BLOCK_SIZE + 5, 2);
    expect(plan.map((t) => [t.startBlock, t.endBlock, t.samples])).toEqual([
      [0, 2, 2 * BLOCK_SIZE],
      [2, 4, BLOCK_SIZE + 5],
    ]);
  });
});

describe('deriveOutcome', () => {
  const header: JobHeader = { jobId: 'j', seed: 1, samples: 20, tasks: 2, status: 'RUNNING', createdAt: 0, deadlineAt: 100, expiresAt: 0, maxInvocations: 3, owner: 'arn:aws:iam::123456789012:user/alice' };
  const task = (taskId: number, done: number, extra: Partial<TaskItem> = {}): TaskItem => ({
    jobId: 'j', taskId, startBlock: taskId, endBlock: taskId + 1, samples: 10, done, inside: done - 1, invocations: 1, expiresAt: 0, ...extra,
  });

  it('is RUNNING while samples are missing and the deadline is ahead', () => {
    expect(deriveOutcome(header, [task(0, 10), task(1, 5)], 50).status).toBe('RUNNING');
  });
  it('is SUCCEEDED when every sample is in, summing the counts', () => {
    expect(deriveOutcome(header, [task(0, 10), task(1, 10)], 50)).toEqual({ status: 'SUCCEEDED', done: 20, inside: 18 });
  });
  it('is still RUNNING when a failed task has restarts left', () => {
    expect(deriveOutcome(header, [task(0, 10), task(1, 5, { failure: 'boom', invocations: 2 })], 50).status).toBe('RUNNING');
  });
  it('is FAILED naming the tasks that failed for good', () => {
    const outcome = deriveOutcome(header, [task(0, 10), task(1, 5, { failure: 'boom', invocations: 3 })], 50);
    expect(outcome).toMatchObject({ status: 'FAILED', failedTasks: [1], reason: 'task 1: boom' });
  });
  it('is FAILED after the deadline, naming the unfinished tasks', () => {
    const outcome = deriveOutcome(header, [task(0, 10), task(1, 5)], 100);
    expect(outcome).toMatchObject({ status: 'FAILED', failedTasks: [1], reason: 'deadline passed with 1 unfinished task(s)' });
  });
  it('is CANCELLED once cancellation was requested', () => {
    expect(deriveOutcome({ ...header, cancelRequestedAt: 10 }, [task(0, 10), task(1, 5)], 50).status).toBe('CANCELLED');
  });
  it('keeps a finished header\'s outcome whatever the tasks say', () => {
    const finished: JobHeader = { ...header, status: 'FAILED', done: 5, inside: 4, reason: 'r', failedTasks: [0] };
    expect(deriveOutcome(finished, [task(0, 10), task(1, 10)], 50)).toEqual({ status: 'FAILED', done: 5, inside: 4, reason: 'r', failedTasks: [0] });
  });
});

describe('tasksToRestart', () => {
  const header: JobHeader = { jobId: 'j', seed: 1, samples: 40, tasks: 4, status: 'RUNNING', createdAt: 0, deadlineAt: 1e6, expiresAt: 0, maxInvocations: 3, owner: 'arn:aws:iam::123456789012:user/alice' };
  /** A task whose first invocation was started at 0 and has been heard from since. */
  const task = (taskId: number, extra: Partial<TaskItem>): TaskItem => ({
    jobId: 'j', taskId, startBlock: taskId, endBlock: taskId + 1, samples: 10, done: 0, inside: 0, invocations: 1, lastInvokedAt: 0, updatedAt: 0, expiresAt: 0, ...extra,
  });
  const silence: Silence = { stallMs: 500, unheardMs: 5_000 };
  const ids = (tasks: TaskItem[]) => tasks.map((t) => t.taskId);

  it('restarts failed and silent tasks that have invocations to spare, and nothing else', () => {
    const tasks = [
      task(0, { failure: 'boom', lastInvokedAt: 990 }), // failed: restart now
      task(1, { updatedAt: 100 }), // running, silent since 100: stalled
      task(2, { updatedAt: 950 }), // reported recently
      task(3, { failure: 'boom', invocations: 3 }), // out of invocations
      task(4, { done: 10, updatedAt: 0 }), // finished
      task(5, { cancelled: true }), // stopped
      task(6, { invocations: 0, lastInvokedAt: undefined }), // not started yet: the fan-out's job
    ];
    expect(ids(tasksToRestart(header, tasks, 1000, silence))).toEqual([0, 1]);
  });

  it('waits unheardMs, not stallMs, for a task not heard from since it was started (it may be queued)', () => {
    const waiting = task(0, { updatedAt: undefined, lastInvokedAt: 100 });
    expect(tasksToRestart(header, [waiting], 100 + 4_000, silence)).toEqual([]);
    expect(tasksToRestart(header, [waiting], 100 + 5_000, silence)).toEqual([]);
    expect(ids(tasksToRestart(header, [waiting], 100 + 5_001, silence))).toEqual([0]);
  });

  it('counts a started invocation\'s silence from its last report, after stallMs', () => {
    const started = task(0, { lastInvokedAt: 100, updatedAt: 2_000 });
    expect(tasksToRestart(header, [started], 2_500, silence)).toEqual([]);
    expect(ids(tasksToRestart(header, [started], 2_501, silence))).toEqual([0]);
  });

  it('takes a report from before the latest start for no news of the restarted task', () => {
    // Invocation 2 was claimed at 1000; the last report (of invocation 1) landed at 900.
    const restarted = task(0, { invocations: 2, lastInvokedAt: 1_000, updatedAt: 900 });
    expect(tasksToRestart(header, [restarted], 1_000 + 4_000, silence)).toEqual([]);
    expect(ids(tasksToRestart(header, [restarted], 1_000 + 5_001, silence))).toEqual([0]);
  });
});

describe('tasksToStart', () => {
  const header: JobHeader = { jobId: 'j', seed: 1, samples: 80, tasks: 8, status: 'RUNNING', createdAt: 0, deadlineAt: 1e6, expiresAt: 0, maxInvocations: 3, owner: 'arn:aws:iam::123456789012:user/alice' };
  const task = (taskId: number, extra: Partial<TaskItem> = {}): TaskItem => ({
    jobId: 'j', taskId, startBlock: taskId, endBlock: taskId + 1, samples: 10, done: 0, inside: 0, invocations: 0, expiresAt: 0, ...extra,
  });
  const ids = (tasks: TaskItem[]) => tasks.map((t) => t.taskId);
  // Never-started and started tasks alike count as silent after 500 ms here.
  const silence: Silence = { stallMs: 500, unheardMs: 500 };

  it('starts no more never-started tasks than the concurrency leaves room for, lowest ids first', () => {
    const tasks = Array.from({ length: 8 }, (_, i) => task(i));
    expect(ids(tasksToStart(header, tasks, 0, silence, 3))).toEqual([0, 1, 2]);
    expect(ids(tasksToStart(header, tasks, 0, silence, 100))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('counts started, unfinished tasks (silent or failed ones too) as taking a slot; finished and stopped ones free theirs', () => {
    const tasks = [
      task(0, { invocations: 1, lastInvokedAt: 900 }), // running
      task(1, { invocations: 1, lastInvokedAt: 0 }), // silent: restarted in its own slot
      task(2, { invocations: 1, done: 10 }), // finished
      task(3, { invocations: 1, cancelled: true }), // stopped
      task(4),
      task(5),
      task(6),
    ];
    expect(ids(tasksToStart(header, tasks, 1000, silence, 3))).toEqual([1, 4]);
    expect(ids(tasksToStart(header, tasks, 1000, silence, 2))).toEqual([1]);
  });

  it('keeps a silent task with no invocations left in its slot, and starts nothing while slots are over-full', () => {
    const tasks = [task(0, { invocations: 3, lastInvokedAt: 0 }), task(1, { invocations: 1, lastInvokedAt: 900 }), task(2)];
    expect(ids(tasksToStart(header, tasks, 1000, silence, 3))).toEqual([2]);
    expect(ids(tasksToStart(header, tasks, 1000, silence, 2))).toEqual([]);
    expect(ids(tasksToStart(header, tasks, 1000, silence, 1))).toEqual([]);
  });

  it('never starts a stopped task', () => {
    expect(tasksToStart(header, [task(0, { cancelled: true })], 0, silence, 10)).toEqual([]);
  });
});

describe('failure texts', () => {
  const header: JobHeader = { jobId: 'j', seed: 1, samples: 10_000, tasks: 1000, status: 'RUNNING', createdAt: 0, deadlineAt: 1e6, expiresAt: 0, maxInvocations: 1, owner: 'arn:aws:iam::123456789012:user/alice' };

  it('cuts a task failure to MAX_FAILURE_CHARS (300), keeping a short one as it is', () => {
    expect(MAX_FAILURE_CHARS).toBe(300);
    expect(boundFailure('Error: boom')).toBe('Error: boom');
    expect(boundFailure('x'.repeat(300))).toBe('x'.repeat(300));
    const cut = boundFailure('y'.repeat(10_000));
    expect(cut).toHaveLength(300);
    expect(cut.startsWith('y'.repeat(299))).toBe(true);
  });

  it('keeps the reason of a job whose 1,000 tasks failed short: five listed, the rest counted', () => {
    const tasks: TaskItem[] = Array.from({ length: 1000 }, (_, taskId) => ({
      jobId: 'j', taskId, startBlock: taskId, endBlock: taskId + 1, samples: 10, done: 0, inside: 0, invocations: 1, expiresAt: 0,
      failure: boundFailure(`Error: task ${taskId} ${'z'.repeat(1_000)}`),
    }));
    const outcome = deriveOutcome(header, tasks, 0);
    expect(outcome.status).toBe('FAILED');
    expect(outcome.failedTasks).toHaveLength(1000);
    expect(Buffer.byteLength(outcome.reason!)).toBeLessThan(2048);
    expect(outcome.reason).toMatch(/^task 0: Error: task 0 z+…; task 1: /);
    expect(outcome.reason).toMatch(/; task 4: [^;]+; and 995 more failed task\(s\)$/);
  });
});

describe('budgets of one job', () => {
  it('reports at the configured interval up to 100 tasks at once, then 100 reports a second in all', () => {
    expect(reportIntervalFor(1, 1_000)).toBe(1_000);
    expect(reportIntervalFor(100, 1_000)).toBe(1_000);
    expect(reportIntervalFor(200, 1_000)).toBe(2_000);
    expect(reportIntervalFor(1_000, 1_000)).toBe(10_000);
    expect(reportIntervalFor(50, 0)).toBe(500);
  });

  it('polls a big job no faster than its read budget allows', () => {
    expect(pollFloorMs(1)).toBe(4);
    // 1,000 tasks of ~400 bytes: 98 read units a poll, at most 300 units a second.
    expect(pollFloorMs(1_000)).toBe(327);
    expect(pollFloorMs(10_000)).toBeGreaterThan(pollFloorMs(1_000));
  });
});
