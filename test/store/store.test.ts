import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { addUsage, emptyUsage, type JobUsage } from '../../functions/shared/cost.js';
import { UnknownJobError } from '../../functions/shared/errors.js';
import { planTasks, type JobHeader, type TaskItem } from '../../functions/shared/job.js';
import { DynamoDbJobStore } from '../../functions/shared/store/dynamodb.js';
import { InMemoryJobStore } from '../../functions/shared/store/memory.js';
import type { JobStore } from '../../functions/shared/store/port.js';
import type { ConsumedUnits, UsageSource } from '../../functions/shared/usage-meter.js';
import type { JobListPosition } from '../../functions/shared/store/items.js';
import { startTestTable } from '../helpers/dynalite.js';

/** One adapter under test: the store, everything it holds (for "nothing was written"), and its teardown. */
interface Subject {
  store: JobStore;
  snapshot(): Promise<unknown>;
  stop(): Promise<void>;
}

const ADAPTERS: [string, () => Promise<Subject>][] = [
  [
    'DynamoDbJobStore (dynalite)',
    async () => {
      const table = await startTestTable();
      return { store: new DynamoDbJobStore(table.db, table.tableName), snapshot: () => table.scanAll(), stop: () => table.stop() };
    },
  ],
  [
    'InMemoryJobStore',
    async () => {
      const store = new InMemoryJobStore();
      return { store, snapshot: async () => store.snapshot(), stop: async () => {} };
    },
  ],
];

const OWNER = 'arn:aws:iam::123456789012:user/alice';

/** A job's task items as created: `tasks` tasks of 4 blocks each. */
function taskItems(jobId: string, tasks: number): TaskItem[] {
  return planTasks(tasks * 4 * 16_384, tasks).map((p) => ({ ...p, jobId, done: 0, inside: 0, invocations: 0, expiresAt: 2e9 }));
}

/** A usage with every number set: `n` requests, and multiples of n for the rest. */
function usageOf(n: number): JobUsage {
  const usage = emptyUsage();
  usage.functions.sampler = { requests: n, billedMs: 10 * n, mbMs: 10 * n * 1769 };
  usage.functions.progress = { requests: n, billedMs: 3 * n, mbMs: 3 * n * 256 };
  usage.functions.orchestrator = { requests: n, billedMs: 7 * n, mbMs: 7 * n * 512 };
  usage.dynamodb = { readUnits: n, writeUnits: 2 * n };
  usage.apiRequests = n;
  return usage;
}

/** A usage source that counts what it handed out and got back: `recorded()` is how many usages were kept. */
function countingSource(usage: JobUsage): UsageSource & { recorded(): number } {
  let kept = 0;
  return {
    take: () => {
      kept++;
      return addUsage(usage);
    },
    giveBack: () => void kept--,
    recorded: () => kept,
  };
}

/** The same contract, held against every adapter: the in-memory store must behave like the table. */
describe.each(ADAPTERS)('%s', (_name, start) => {
  let subject: Subject;
  let store: JobStore;
  let jobCounter = 0;

  beforeAll(async () => {
    subject = await start();
    store = subject.store;
  });
  afterAll(() => subject.stop());

  /** A fresh job with `tasks` tasks of 4 blocks each; returns its id. */
  async function createJob(tasks = 3): Promise<string> {
    const jobId = `00000000-0000-4000-8000-${String(++jobCounter).padStart(12, '0')}`;
    const samples = tasks * 4 * 16_384;
    const header: JobHeader = {
      jobId, seed: 1, samples, tasks, status: 'RUNNING', createdAt: 0, deadlineAt: 1e15, expiresAt: 2e9, maxInvocations: 3, owner: OWNER,
    };
    expect(await store.createJob(header)).toBe(true);
    await store.createMissingTasks(taskItems(jobId, tasks));
    return jobId;
  }

  describe('JobStore contract', () => {
    let jobId: string;
    beforeEach(async () => {
      jobId = await createJob();
    });

    it('creates a header and one item per task, and refuses to create the same job twice', async () => {
      const job = await store.loadJob(jobId);
      expect(job?.header.status).toBe('RUNNING');
      expect(job?.tasks.map((t) => t.taskId)).toEqual([0, 1, 2]);
      expect(await store.createJob({ ...job!.header, seed: 2 })).toBe(false);
      expect((await store.loadHeader(jobId))!.seed).toBe(1);
      expect(await store.loadHeader('no-such-job')).toBeUndefined();
    });

    it('reads back exactly what it wrote, and nothing for an unknown job or task', async () => {
      const job = (await store.loadJob(jobId))!;
      expect(job.header).toEqual({
        jobId, seed: 1, samples: 3 * 4 * 16_384, tasks: 3, status: 'RUNNING', createdAt: 0, deadlineAt: 1e15, expiresAt: 2e9, maxInvocations: 3, owner: OWNER,
      });
      expect(await store.loadHeader(jobId)).toEqual(job.header);
      expect(job.tasks[1]).toEqual({
        jobId, taskId: 1, startBlock: 4, endBlock: 8, samples: 4 * 16_384, done: 0, inside: 0, invocations: 0, expiresAt: 2e9,
      });
      expect(await store.loadTask(jobId, 1)).toEqual(job.tasks[1]);
      expect(await store.loadJob('no-such-job')).toBeUndefined();
      expect(await store.loadTask(jobId, 99)).toBeUndefined();
    });

    it('hands out copies: changing what it returned or was given changes nothing stored', async () => {
      const job = (await store.loadJob(jobId))!;
      job.header.status = 'FAILED';
      job.tasks[0]!.done = 5;
      const task = (await store.loadTask(jobId, 1))!;
      task.done = 7;
      const again = (await store.loadJob(jobId))!;
      expect(again.header.status).toBe('RUNNING');
      expect(again.tasks.map((t) => t.done)).toEqual([0, 0, 0]);
      const outcome = { status: 'FAILED' as const, done: 0, inside: 0, reason: 'x', failedTasks: [1] };
      await store.finishJob(jobId, outcome, 1);
      outcome.failedTasks.push(2);
      expect((await store.loadJob(jobId))!.header.failedTasks).toEqual([1]);
    });

    it('applies a report that moves a task forward and answers with the accepted state', async () => {
      const answer = await store.applyReport({ jobId, taskId: 1, done: 16_384, inside: 12_000 }, 1);
      expect(answer).toEqual({ cancelled: false, done: 16_384, inside: 12_000 });
      const task = (await store.loadJob(jobId))!.tasks[1]!;
      expect([task.done, task.inside, task.updatedAt]).toEqual([16_384, 12_000, 1]);
    });

    it('acknowledges a duplicate report and changes nothing', async () => {
      await store.applyReport({ jobId, taskId: 0, done: 32_768, inside: 25_000 }, 1);
      const answer = await store.applyReport({ jobId, taskId: 0, done: 32_768, inside: 25_000 }, 2);
      expect(answer).toEqual({ cancelled: false, done: 32_768, inside: 25_000 });
      expect((await store.loadTask(jobId, 0))!.updatedAt).toBe(1);
    });

    it('ignores a stale (out-of-order) report and answers with the newer state', async () => {
      await store.applyReport({ jobId, taskId: 2, done: 49_152, inside: 38_000 }, 1);
      const answer = await store.applyReport({ jobId, taskId: 2, done: 16_384, inside: 13_000 }, 2);
      expect(answer).toEqual({ cancelled: false, done: 49_152, inside: 38_000 });
      expect((await store.loadTask(jobId, 2))!.inside).toBe(38_000);
    });

    it('answers a report of nothing with the accepted state, without writing', async () => {
      await store.applyReport({ jobId, taskId: 1, done: 16_384, inside: 12_000 }, 1);
      expect(await store.applyReport({ jobId, taskId: 1, done: 0, inside: 0 }, 2)).toEqual({ cancelled: false, done: 16_384, inside: 12_000 });
      expect((await store.loadTask(jobId, 1))!.updatedAt).toBe(1);
      await expect(store.applyReport({ jobId: 'no-such-job', taskId: 0, done: 0, inside: 0 }, 1)).rejects.toThrow(UnknownJobError);
    });

    it('refuses a report beyond the task\'s samples', async () => {
      await expect(store.applyReport({ jobId, taskId: 0, done: 10 * 16_384, inside: 1 }, 1)).rejects.toThrow(RangeError);
      expect((await store.loadTask(jobId, 0))!.done).toBe(0);
    });

    it('accepts a report of exactly the task\'s samples', async () => {
      expect(await store.applyReport({ jobId, taskId: 0, done: 4 * 16_384, inside: 50_000 }, 1)).toEqual({ cancelled: false, done: 4 * 16_384, inside: 50_000 });
    });

    it('answers an unknown job or task with a clear error and writes nothing', async () => {
      const before = await subject.snapshot();
      await expect(store.applyReport({ jobId: 'no-such-job', taskId: 0, done: 1, inside: 1 }, 1)).rejects.toThrow(UnknownJobError);
      await expect(store.applyReport({ jobId, taskId: 99, done: 1, inside: 1 }, 1)).rejects.toThrow(/has no task 99/);
      await expect(store.recordTaskFailure('no-such-job', 0, 1, 'x', 1)).rejects.toThrow(UnknownJobError);
      expect(await store.claimInvocation('no-such-job', 0, 0, 1)).toBe(false);
      expect(await store.claimInvocation(jobId, 99, 0, 1)).toBe(false);
      expect(await store.requestCancel('no-such-job', 1)).toBe(false);
      expect(await store.finishJob('no-such-job', { status: 'SUCCEEDED', done: 0, inside: 0 }, 1)).toBe(false);
      await expect(store.beatRun('no-such-job', 1)).rejects.toThrow(UnknownJobError);
      expect(await subject.snapshot()).toEqual(before);
    });

    it('refuses reports after the tasks are stopped and answers "cancelled"', async () => {
      await store.applyReport({ jobId, taskId: 0, done: 16_384, inside: 12_000 }, 1);
      await store.stopTasks(taskItems(jobId, 3));
      const answer = await store.applyReport({ jobId, taskId: 0, done: 32_768, inside: 24_000 }, 2);
      expect(answer).toEqual({ cancelled: true, done: 16_384, inside: 12_000 });
      expect((await store.loadTask(jobId, 1))!.cancelled).toBe(true);
    });

    it('writes a task that does not exist yet stopped, so a later creation cannot start it', async () => {
      const planned = taskItems(jobId, 4);
      await store.applyReport({ jobId, taskId: 0, done: 16_384, inside: 12_000 }, 1);
      await store.stopTasks([planned[0]!, planned[3]!]);
      await store.createMissingTasks(planned);
      const tasks = (await store.loadJob(jobId))!.tasks;
      expect(tasks.map((t) => t.cancelled)).toEqual([true, undefined, undefined, true]);
      expect(tasks[0]!.done).toBe(16_384);
      expect(tasks[3]).toEqual({ ...planned[3]!, cancelled: true });
      expect(await store.claimInvocation(jobId, 3, 0, 2)).toBe(false);
    });

    it('lets exactly one caller claim each invocation of a task', async () => {
      const claims = await Promise.all([1, 2, 3, 4].map(() => store.claimInvocation(jobId, 0, 0, 1)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.claimInvocation(jobId, 0, 1, 2)).toBe(true);
      const task = (await store.loadTask(jobId, 0))!;
      expect([task.invocations, task.lastInvokedAt]).toEqual([2, 2]);
    });

    it('writes a task\'s item at its first claim, once, and never over an existing item', async () => {
      const [planned] = taskItems(jobId, 4).slice(3);
      const claims = await Promise.all([1, 2, 3].map(() => store.claimInvocation(jobId, 3, 0, 7, { ...planned!, failure: 'x' })));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.loadTask(jobId, 3)).toEqual({ ...planned!, invocations: 1, lastInvokedAt: 7 });
      // An existing item (with progress) is claimed by its count, never rewritten from `created`.
      await store.applyReport({ jobId, taskId: 0, done: 16_384, inside: 12_000 }, 8);
      expect(await store.claimInvocation(jobId, 0, 0, 9, taskItems(jobId, 3)[0])).toBe(true);
      expect((await store.loadTask(jobId, 0))!).toMatchObject({ done: 16_384, invocations: 1, lastInvokedAt: 9 });
      // A task stopped before it was ever started stays unstarted.
      await store.stopTasks(taskItems(jobId, 5).slice(4));
      expect(await store.claimInvocation(jobId, 4, 0, 10, taskItems(jobId, 5)[4])).toBe(false);
      expect((await store.loadTask(jobId, 4))!.invocations).toBe(0);
    });

    it('claims no invocation of a stopped task', async () => {
      await store.stopTasks(taskItems(jobId, 3).slice(1, 2));
      expect(await store.claimInvocation(jobId, 1, 0, 1)).toBe(false);
      expect((await store.loadTask(jobId, 1))!.invocations).toBe(0);
    });

    it('records a failure only for an unfinished task, and only for its current invocation', async () => {
      for (const taskId of [1, 2]) expect(await store.claimInvocation(jobId, taskId, 0, 1)).toBe(true);
      await store.applyReport({ jobId, taskId: 1, done: 65_536, inside: 50_000 }, 1);
      await store.recordTaskFailure(jobId, 1, 1, 'late failure', 2);
      await store.recordTaskFailure(jobId, 2, 1, 'boom', 2);
      let tasks = (await store.loadJob(jobId))!.tasks;
      expect(tasks[1]!.failure).toBeUndefined();
      expect(tasks[2]!.failure).toBe('boom');
      expect(tasks[2]!.updatedAt).toBe(2);
      // The restart clears the failure; a late record of the first invocation does not bring it back.
      expect(await store.claimInvocation(jobId, 2, 1, 3)).toBe(true);
      await store.recordTaskFailure(jobId, 2, 1, 'stale record', 4);
      tasks = (await store.loadJob(jobId))!.tasks;
      expect(tasks[2]!.failure).toBeUndefined();
      await store.recordTaskFailure(jobId, 2, 2, 'second invocation failed', 5);
      expect((await store.loadTask(jobId, 2))!.failure).toBe('second invocation failed');
    });

    it('creates only the task items that are missing, never overwriting progress', async () => {
      await store.applyReport({ jobId, taskId: 0, done: 16_384, inside: 12_000 }, 1);
      const job = (await store.loadJob(jobId))!;
      const fresh = job.tasks.map((t) => ({ ...t, done: 0, inside: 0 }));
      await store.createMissingTasks([...fresh, { ...fresh[0]!, taskId: 3 }]);
      const after = (await store.loadJob(jobId))!.tasks;
      expect(after.map((t) => t.taskId)).toEqual([0, 1, 2, 3]);
      expect(after[0]!.done).toBe(16_384);
    });

    it('lets exactly one reader revive a silent run', async () => {
      const first = await Promise.all([1, 2, 3].map(() => store.claimRunRevival(jobId, undefined, 10)));
      expect(first.filter(Boolean)).toHaveLength(1);
      await store.beatRun(jobId, 20);
      expect(await store.claimRunRevival(jobId, undefined, 30)).toBe(false);
      expect(await store.claimRunRevival(jobId, 10, 30)).toBe(false);
      expect(await store.claimRunRevival(jobId, 20, 30)).toBe(true);
      // A job that is gone (expired) is never recreated as a stub header.
      expect(await store.claimRunRevival('00000000-0000-4000-8000-00000000dead', undefined, 40)).toBe(false);
      expect(await store.loadJob('00000000-0000-4000-8000-00000000dead')).toBeUndefined();
      expect((await store.loadJob(jobId))!.header.runHeartbeatAt).toBe(30);
    });

    it('records a cancel request once, only while the job runs', async () => {
      expect(await store.requestCancel(jobId, 5)).toBe(true);
      expect(await store.requestCancel(jobId, 6)).toBe(true);
      expect((await store.loadJob(jobId))!.header.cancelRequestedAt).toBe(5);
      expect(await store.finishJob(jobId, { status: 'CANCELLED', done: 0, inside: 0, reason: 'cancelled by request' }, 7)).toBe(true);
      expect(await store.requestCancel(jobId, 8)).toBe(false);
    });

    it('finishes a job once and keeps the first outcome', async () => {
      expect(await store.finishJob(jobId, { status: 'SUCCEEDED', done: 5, inside: 4 }, 1)).toBe(true);
      expect(await store.finishJob(jobId, { status: 'FAILED', done: 0, inside: 0, reason: 'x' }, 2)).toBe(false);
      expect(await store.requestCancel(jobId, 3)).toBe(false);
      const { header } = (await store.loadJob(jobId))!;
      expect([header.status, header.done, header.inside, header.finishedAt]).toEqual(['SUCCEEDED', 5, 4, 1]);
      expect(header).not.toHaveProperty('reason');
      expect(header).not.toHaveProperty('failedTasks');
    });

    it('marks an ended job\'s places given back once, keeping the first time, and creates no header for a job that is gone', async () => {
      expect(await store.finishJob(jobId, { status: 'SUCCEEDED', done: 5, inside: 4 }, 1)).toBe(true);
      await store.markPlacesReleased(jobId, 2);
      await store.markPlacesReleased(jobId, 3);
      expect((await store.loadHeader(jobId))!.placesReleasedAt).toBe(2);
      const gone = '00000000-0000-4000-8000-ffffffffffff';
      await store.markPlacesReleased(gone, 4);
      expect(await store.loadJob(gone)).toBeUndefined();
    });

    it('writes a failed outcome\'s reason and failed tasks', async () => {
      expect(await store.finishJob(jobId, { status: 'FAILED', done: 3, inside: 2, reason: 'task 1: boom', failedTasks: [1] }, 9)).toBe(true);
      const { header } = (await store.loadJob(jobId))!;
      expect(header).toMatchObject({ status: 'FAILED', done: 3, inside: 2, reason: 'task 1: boom', failedTasks: [1], finishedAt: 9 });
    });

    it('reads a job of 1000 tasks in one paginated consistent query, in task order', async () => {
      const big = await createJob(1000);
      const job = await store.loadJob(big);
      expect(job?.tasks).toHaveLength(1000);
      expect(job!.tasks.map((t) => t.taskId)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    });
  });

  describe('job usage', () => {
    let jobId: string;
    beforeEach(async () => {
      jobId = await createJob();
    });
    const taskUsage = async (taskId: number) => (await store.loadTask(jobId, taskId))!.usage;

    it('adds the usage of a creation, heartbeats and header additions, and loadJob hands it back', async () => {
      const created = `${jobId.slice(0, -4)}ffff`;
      const header: JobHeader = {
        jobId: created, seed: 1, samples: 16_384, tasks: 1, status: 'RUNNING', createdAt: 0, deadlineAt: 1e15, expiresAt: 2e9, maxInvocations: 1, owner: OWNER,
      };
      expect(await store.createJob({ ...header, usage: usageOf(1) })).toBe(true);
      await store.beatRun(created, 5, usageOf(2));
      expect(await store.addJobUsage(created, usageOf(4))).toBe(true);
      expect((await store.loadJob(created))!.header).toEqual({ ...header, runHeartbeatAt: 5, usage: usageOf(7) });
      expect(await store.loadHeader(created)).toEqual({ ...header, runHeartbeatAt: 5, usage: usageOf(7) });
    });

    it('adds nothing to a job that does not exist, and creates no item for it', async () => {
      const before = await subject.snapshot();
      expect(await store.addJobUsage('no-such-job', usageOf(1))).toBe(false);
      const source = countingSource(usageOf(1));
      await expect(store.applyReport({ jobId: 'no-such-job', taskId: 0, done: 1, inside: 1 }, 1, source)).rejects.toThrow(UnknownJobError);
      await expect(store.recordTaskFailure('no-such-job', 0, 1, 'x', 1, source)).rejects.toThrow(UnknownJobError);
      expect(source.recorded()).toBe(0);
      expect(await subject.snapshot()).toEqual(before);
    });

    it('records an accepted report\'s usage once, with the report', async () => {
      const source = countingSource(usageOf(1));
      expect(await store.applyReport({ jobId, taskId: 0, done: 16_384, inside: 12_000 }, 1, source)).toEqual({ cancelled: false, done: 16_384, inside: 12_000 });
      expect(source.recorded()).toBe(1);
      expect(await taskUsage(0)).toEqual(usageOf(1));
      expect((await store.loadTask(jobId, 0))!.done).toBe(16_384);
    });

    it('records the usage of refused reports (duplicate, stale, after a stop) and of a report of nothing, each once', async () => {
      await store.applyReport({ jobId, taskId: 1, done: 32_768, inside: 25_000 }, 1, countingSource(usageOf(1)));
      const duplicate = countingSource(usageOf(2));
      expect(await store.applyReport({ jobId, taskId: 1, done: 32_768, inside: 25_000 }, 2, duplicate)).toEqual({ cancelled: false, done: 32_768, inside: 25_000 });
      const stale = countingSource(usageOf(4));
      expect(await store.applyReport({ jobId, taskId: 1, done: 16_384, inside: 1 }, 3, stale)).toEqual({ cancelled: false, done: 32_768, inside: 25_000 });
      const nothing = countingSource(usageOf(8));
      expect(await store.applyReport({ jobId, taskId: 1, done: 0, inside: 0 }, 4, nothing)).toEqual({ cancelled: false, done: 32_768, inside: 25_000 });
      await store.stopTasks(taskItems(jobId, 3));
      const stopped = countingSource(usageOf(16));
      expect(await store.applyReport({ jobId, taskId: 1, done: 49_152, inside: 1 }, 5, stopped)).toEqual({ cancelled: true, done: 32_768, inside: 25_000 });
      expect([duplicate, stale, nothing, stopped].map((s) => s.recorded())).toEqual([1, 1, 1, 1]);
      const task = (await store.loadTask(jobId, 1))!;
      expect(task.usage).toEqual(usageOf(31));
      expect([task.done, task.inside, task.updatedAt]).toEqual([32_768, 25_000, 1]);
    });

    it('records a report\'s usage even when it counts more samples than the task has', async () => {
      const source = countingSource(usageOf(1));
      await expect(store.applyReport({ jobId, taskId: 0, done: 10 * 16_384, inside: 1 }, 1, source)).rejects.toThrow(RangeError);
      expect(source.recorded()).toBe(1);
      expect(await taskUsage(0)).toEqual(usageOf(1));
    });

    it('records a failure record\'s usage whether the failure is recorded or stale', async () => {
      await store.claimInvocation(jobId, 2, 0, 1);
      const current = countingSource(usageOf(1));
      await store.recordTaskFailure(jobId, 2, 1, 'boom', 2, current);
      const stale = countingSource(usageOf(2));
      await store.recordTaskFailure(jobId, 2, 0, 'old', 3, stale);
      expect([current.recorded(), stale.recorded()]).toEqual([1, 1]);
      const task = (await store.loadTask(jobId, 2))!;
      expect([task.failure, task.usage]).toEqual(['boom', usageOf(3)]);
    });

    it('sums every report\'s usage, accepted or not, whatever their order', async () => {
      const reports = [3, 1, 2, 2, 4, 0, 4, 1].map((blocks, i) => ({ blocks, usage: usageOf(i + 1) }));
      await Promise.all(
        reports.map(({ blocks, usage }) =>
          store.applyReport({ jobId, taskId: 0, done: blocks * 16_384, inside: blocks }, 1, countingSource(usage)),
        ),
      );
      expect(await taskUsage(0)).toEqual(usageOf(36));
      expect((await store.loadTask(jobId, 0))!.done).toBe(4 * 16_384);
    });

    it('keeps a task\'s usage when the task is stopped, and its claims and progress do not touch it', async () => {
      await store.applyReport({ jobId, taskId: 0, done: 16_384, inside: 1 }, 1, countingSource(usageOf(1)));
      await store.claimInvocation(jobId, 0, 0, 2);
      await store.stopTasks(taskItems(jobId, 1));
      expect(await taskUsage(0)).toEqual(usageOf(1));
      expect((await store.loadJob(jobId))!.tasks.map((t) => t.usage)).toEqual([usageOf(1), undefined, undefined]);
    });
  });

  describe('admission', () => {
    const entry = (admittedAt: number) => ({ admittedAt, deadlineAt: admittedAt + 600_000 });
    const scope = (caller: string) => ({ caller: `${caller}-${++jobCounter}` });

    it('admits up to the limit, exactly, under concurrent callers', async () => {
      const caller = scope('alice');
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.admit(caller, `job-${i}`, entry(i), 3)));
      expect(results.filter((r) => r === 'added')).toHaveLength(3);
      expect(results.filter((r) => r === 'refused')).toHaveLength(5);
      expect(Object.keys(await store.admitted(caller))).toHaveLength(3);
    });

    it('renews the place of a job it already holds, even when full, and frees a place on release', async () => {
      const caller = scope('bob');
      expect(await store.admit(caller, 'a', entry(1), 1)).toBe('added');
      expect(await store.admit(caller, 'a', { ...entry(2), created: true }, 1)).toBe('renewed');
      expect(await store.admit(caller, 'b', entry(3), 1)).toBe('refused');
      expect(await store.admitted(caller)).toEqual({ a: { ...entry(2), created: true } });
      await store.release(caller, 'a');
      await store.release(caller, 'a');
      expect(await store.admit(caller, 'b', entry(4), 1)).toBe('added');
      expect(await store.admitted(caller)).toEqual({ b: entry(4) });
    });

    it('releases a place only if it still holds the entry read, when asked so', async () => {
      const caller = scope('frank');
      const [first, renewed] = [{ ...entry(1), token: 'first' }, { ...entry(1), token: 'second' }];
      expect(await store.admit(caller, 'a', first, 2)).toBe('added');
      expect(await store.admit(caller, 'a', renewed, 2)).toBe('renewed');
      await store.release(caller, 'a', first);
      expect(await store.admitted(caller)).toEqual({ a: renewed });
      await store.release(caller, 'a', renewed);
      expect(await store.admitted(caller)).toEqual({});
    });

    it('keeps scopes apart, renews but never adds at a limit of 0', async () => {
      const [one, two] = [scope('carol'), scope('dave')];
      expect(await store.admit(one, 'x', entry(1), 1)).toBe('added');
      expect(await store.admit(two, 'x', entry(1), 1)).toBe('added');
      expect(await store.admit(one, 'x', entry(2), 0)).toBe('renewed');
      expect(await store.admit(scope('erin'), 'y', entry(1), 0)).toBe('refused');
      expect(await store.admitted(scope('nobody'))).toEqual({});
      await store.release(scope('nobody'), 'x');
    });
  });

  describe('job list', () => {
    let ownerCounter = 0;
    /** A principal of its own, so each test sees only the jobs it created. */
    const newOwner = () => `arn:aws:iam::123456789012:user/lister-${++ownerCounter}`;

    /** Creates a job of `owner` created at `createdAt` (with its task items, which must stay out of the list). */
    async function createOwnedJob(owner: string, createdAt: number): Promise<JobHeader> {
      const jobId = `00000000-0000-4000-9000-${String(++jobCounter).padStart(12, '0')}`;
      const header: JobHeader = {
        jobId, seed: 7, samples: 2 * 4 * 16_384, tasks: 2, status: 'RUNNING', createdAt, deadlineAt: createdAt + 600_000,
        expiresAt: 2e9, maxInvocations: 3, owner,
      };
      expect(await store.createJob(header)).toBe(true);
      await store.createMissingTasks(taskItems(jobId, 2));
      return header;
    }

    /** Every job of `owner`, page after page of `limit`, and how many pages it took. */
    async function listAll(owner: string, limit: number): Promise<{ jobIds: string[]; createdAts: number[]; pages: number }> {
      const jobIds: string[] = [];
      const createdAts: number[] = [];
      let after: JobListPosition | undefined;
      let pages = 0;
      do {
        const page = await store.listJobs(owner, limit, after);
        expect(page.jobs.length).toBeLessThanOrEqual(limit);
        jobIds.push(...page.jobs.map((j) => j.jobId));
        createdAts.push(...page.jobs.map((j) => j.createdAt));
        after = page.next;
        pages++;
      } while (after && pages < 100);
      return { jobIds, createdAts, pages };
    }

    it("lists only the owner's jobs, newest first, as their summary fields", async () => {
      const [alice, bob] = [newOwner(), newOwner()];
      const a1 = await createOwnedJob(alice, 1_000);
      const a3 = await createOwnedJob(alice, 3_000);
      const a2 = await createOwnedJob(alice, 2_000);
      const b1 = await createOwnedJob(bob, 2_500);
      const page = await store.listJobs(alice, 10);
      expect(page.jobs.map((j) => j.jobId)).toEqual([a3.jobId, a2.jobId, a1.jobId]);
      expect(page.next).toBeUndefined();
      // The summary fields only: not the owner, the TTL, the run's bookkeeping or the index's key.
      expect(page.jobs[0]).toEqual({
        jobId: a3.jobId, status: 'RUNNING', seed: 7, samples: a3.samples, tasks: 2, createdAt: 3_000, deadlineAt: 603_000,
      });
      expect((await store.listJobs(bob, 10)).jobs.map((j) => j.jobId)).toEqual([b1.jobId]);
      expect(await store.listJobs(newOwner(), 10)).toEqual({ jobs: [] });
      // The header read by its key is the header as written: the index's key is layout, not a field.
      expect(await store.loadHeader(a1.jobId)).toEqual(a1);
    });

    it("carries a finished job's frozen counts and end", async () => {
      const owner = newOwner();
      const job = await createOwnedJob(owner, 5_000);
      expect(await store.finishJob(job.jobId, { status: 'SUCCEEDED', done: job.samples, inside: 100_000 }, 9_000)).toBe(true);
      const [listed] = (await store.listJobs(owner, 1)).jobs;
      expect(listed).toMatchObject({ status: 'SUCCEEDED', finishedAt: 9_000, done: job.samples, inside: 100_000 });
    });

    it('pages through every job once, newest first, ties included; `next` only while more remain', async () => {
      const owner = newOwner();
      // Seven jobs, three of them created in the same millisecond.
      const created = [];
      for (const at of [10, 20, 20, 20, 30, 40, 50]) created.push(await createOwnedJob(owner, at));
      for (const limit of [1, 2, 3, 7, 100]) {
        const { jobIds, createdAts, pages } = await listAll(owner, limit);
        expect(new Set(jobIds).size).toBe(jobIds.length);
        expect([...jobIds].sort()).toEqual(created.map((h) => h.jobId).sort());
        expect(createdAts).toEqual([...createdAts].sort((a, b) => b - a));
        // A full last page has no `next`: no empty page is ever needed.
        expect(pages).toBe(Math.ceil(7 / limit));
      }
      // The order is stable: two listings agree, ties too.
      expect((await listAll(owner, 2)).jobIds).toEqual((await listAll(owner, 3)).jobIds);
    });

    it("never lists another owner's job, whatever position it is asked to go on from", async () => {
      const [alice, bob] = [newOwner(), newOwner()];
      for (const at of [100, 200, 300]) await createOwnedJob(alice, at);
      const bobs = [await createOwnedJob(bob, 150), await createOwnedJob(bob, 250)];
      const aliceFirst = await store.listJobs(alice, 1);
      expect(aliceFirst.next).toBeDefined();
      // Bob's list, resumed from a position in Alice's: only Bob's jobs older than it.
      const resumed = await store.listJobs(bob, 10, aliceFirst.next);
      expect(resumed.jobs.map((j) => j.jobId)).toEqual([bobs[1]!.jobId, bobs[0]!.jobId]);
    });
  });

  describe('report ordering (property)', () => {
    it('any permutation of a task\'s reports, with duplicates, leaves exactly its furthest report', async () => {
      const BLOCK = 16_384;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 12 }),
          async (blocksDone) => {
            const jobId = await createJob(1);
            // Report k always carries the same inside count for the same progress, as a real sampler's would.
            const reports = blocksDone.map((b) => ({ jobId, taskId: 0, done: b * BLOCK, inside: b * 12_345 }));
            await Promise.all(reports.map((r, i) => store.applyReport(r, i)));
            const furthest = Math.max(...blocksDone);
            const task = (await store.loadTask(jobId, 0))!;
            expect([task.done, task.inside]).toEqual([furthest * BLOCK, furthest * 12_345]);
          },
        ),
        { numRuns: 60 },
      );
    });
  });
});

describe('DynamoDbJobStore: consumed capacity', () => {
  it('reports every call\'s units as DynamoDB counts them, a write refused by its condition included', async () => {
    const table = await startTestTable();
    const consumed: ConsumedUnits[] = [];
    const store = new DynamoDbJobStore(table.db, table.tableName, { onConsumed: (units) => consumed.push(units) });
    const sum = () => consumed.splice(0).reduce((a, u) => ({ readUnits: a.readUnits + u.readUnits, writeUnits: a.writeUnits + u.writeUnits }), { readUnits: 0, writeUnits: 0 });
    try {
      const header: JobHeader = {
        jobId: 'j', seed: 1, samples: 16_384, tasks: 1, status: 'RUNNING', createdAt: 0, deadlineAt: 1e15, expiresAt: 2e9, maxInvocations: 1, owner: OWNER,
      };
      expect(await store.createJob(header)).toBe(true);
      expect(sum()).toEqual({ readUnits: 0, writeUnits: 1 });
      expect(await store.createJob(header)).toBe(false);
      expect(sum()).toEqual({ readUnits: 0, writeUnits: 1 });
      await store.loadHeader('j');
      expect(sum()).toEqual({ readUnits: 1, writeUnits: 0 });
      // A header of about 5 KB: a write costs 5 units (one per KB), a consistent read 2 (one per 4 KB).
      await store.finishJob('j', { status: 'FAILED', done: 0, inside: 0, reason: 'x'.repeat(4500) }, 1);
      expect(sum()).toEqual({ readUnits: 0, writeUnits: 5 });
      await store.loadJob('j');
      expect(sum()).toEqual({ readUnits: 2, writeUnits: 0 });
    } finally {
      await table.stop();
    }
  });
});
