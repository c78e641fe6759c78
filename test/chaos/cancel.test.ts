// Cancellation stops every sampler within one report interval and freezes the counts; TTL removes
// every job, whatever its end.
import { describe, expect, it } from 'vitest';
import { persist, printTable, runJob } from '../helpers/chaos.js';
import { countProblems } from '../helpers/job-oracle.js';
import { jobIdOfKey, jobKey } from '../../functions/shared/store/items.js';
import type { TaskItem } from '../../functions/shared/job.js';
import { usePiCloud } from '../helpers/pi-cloud.js';
import { waitFor } from '../helpers/pool.js';

const REPORT_INTERVAL_MS = 250;
const JOBS = 2;
const TASKS = 2;

const env = usePiCloud({
  apiThrottling: false,
  faults: {},
  env: {
    sampler: { reportIntervalMs: REPORT_INTERVAL_MS },
    // Items expire as soon as they are written; the TTL sweep runs only when the test asks.
    // No task is restarted for silence while a slow machine starts its samplers: one sampler per task.
    orchestrator: { jobTtlDays: 0, stallSeconds: 60 },
  },
  ttlSweepIntervalMs: 3_600_000,
  // Every sampler of the cancelled jobs runs at once.
  maxWorkersPerFunction: { orchestrator: 12, sampler: JOBS * TASKS, '*': 4 },
});

const ownedBy = (jobId: string) => (r: { payload: string }) => r.payload.includes(jobId);

describe('cancellation', () => {
  it(`stops every sampler within one report interval (${REPORT_INTERVAL_MS} ms), and no later report changes the counts`, async () => {
    // Long jobs: they would sample for minutes.
    const jobs = await Promise.all(
      Array.from({ length: JOBS }, (_, i) =>
        persist(() => env.client.submitJob({ samples: 16_000_000_000, tasks: TASKS, seed: 1000 + i }, { idempotencyKey: `cancel-${i}` }), Date.now() + 30_000),
      ),
    );
    // Let every task report at least once.
    await waitFor(
      async () => {
        const views = await Promise.all(jobs.map((j) => env.client.getJob(j.jobId)));
        return views.every((v) => v.taskProgress.every((t) => t.done > 0));
      },
      30_000,
      'every task to report',
      100,
    );
    expect(env.cloud.invocationsInFlight('sampler')).toBe(JOBS * TASKS);

    // Before the cancel: the tasks are moving.
    const tableBefore = await env.scanJobs();
    const cancelledAt: Record<string, number> = {};
    const views = await Promise.all(
      jobs.map(async (j) => {
        const view = await env.client.cancelJob(j.jobId);
        cancelledAt[j.jobId] = Date.now();
        return view;
      }),
    );
    for (const view of views) expect(view.status).toBe('CANCELLED');
    // Right after the cancel: every task item is flagged stopped, and the header froze their counts.
    const tableAtCancel = await env.scanJobs();
    for (const [i, j] of jobs.entries()) {
      const { tasks } = tableAtCancel.get(j.jobId)!;
      expect(tasks.filter((t) => t.cancelled !== true)).toEqual([]);
      expect(tasks.reduce((sum, t) => sum + t.done, 0)).toBe(views[i]!.done);
      expect(tasks.reduce((sum, t) => sum + t.inside, 0)).toBe(views[i]!.inside);
      // Counts only move forward.
      tableBefore.get(j.jobId)!.tasks.forEach((t, k) => expect(tasks[k]!.done).toBeGreaterThanOrEqual(t.done));
    }
    const lastCancel = Math.max(...Object.values(cancelledAt));
    await waitFor(() => env.cloud.invocationsInFlight('sampler') === 0, 30_000, 'every sampler to stop', 10);
    const stoppedAfterMs = Date.now() - lastCancel;

    const samplers = env.cloud.invocations('sampler');
    const lag: number[] = [];
    for (const j of jobs) {
      const mine = samplers.filter(ownedBy(j.jobId));
      expect(mine.length).toBe(TASKS);
      for (const r of mine) {
        expect(r.endedAt).toBeDefined();
        lag.push(r.endedAt! - cancelledAt[j.jobId]!);
        // A stopped sampler ends normally, saying so.
        expect(r.ok).toBe(true);
        expect(JSON.parse(r.result!)).toMatchObject({ cancelled: true });
      }
      // Within one report interval: each task's sampler stopped at its first report sent after the cancel,
      // which was refused; it sampled no further. (A run's opening report, done 0, and a resent copy of
      // the same report, are not further sampling.)
      const after = env.cloud
        .invocations('progress')
        .filter(ownedBy(j.jobId))
        .filter((r) => r.startedAt > cancelledAt[j.jobId]!)
        .map((r) => {
          const { taskId, done } = JSON.parse(r.payload) as { taskId: number; done: number };
          return { taskId, done, ok: r.ok, answer: r.result && (JSON.parse(r.result) as { cancelled?: boolean }) };
        });
      for (const report of after) expect(report).toMatchObject({ ok: true, answer: { cancelled: true } });
      for (let task = 0; task < TASKS; task++) {
        const sampled = new Set(after.filter((r) => r.taskId === task && r.done > 0).map((r) => r.done));
        expect(sampled.size, `reports of task ${task} after the cancel: ${JSON.stringify(after)}`).toBeLessThanOrEqual(1);
      }
    }

    // Frozen: once every sampler has stopped, the API and the table say what they said at the cancel.
    await env.quiet(['sampler', 'progress']);
    const tableLater = await env.scanJobs();
    for (const [i, j] of jobs.entries()) {
      const again = await env.client.getJob(j.jobId);
      expect(again.status).toBe('CANCELLED');
      expect([again.done, again.inside]).toEqual([views[i]!.done, views[i]!.inside]);
      const stored = tableLater.get(j.jobId)!;
      // The counts are frozen; what later (refused) reports used is still added to the tasks' usage.
      const counts = (tasks: TaskItem[]) => tasks.map(({ usage: _usage, ...task }) => task);
      expect(counts(stored.tasks)).toEqual(counts(tableAtCancel.get(j.jobId)!.tasks));
      expect(stored.header!.status).toBe('CANCELLED');
      expect(countProblems(stored.header!, stored.tasks)).toEqual([]);
    }
    expect(env.cloud.invocationsInFlight('sampler')).toBe(0);
    expect(env.cloud.pendingEvents()).toBe(0);
    printTable('Cancellation', ['jobs', 'samplers', 'report interval ms', 'all stopped after ms', 'slowest sampler stop ms'], [
      [JOBS, JOBS * TASKS, REPORT_INTERVAL_MS, stoppedAfterMs, Math.max(...lag)],
    ]);
  }, 120_000);
});

describe('TTL', () => {
  it('removes every item of every job, whether it succeeded, failed or was cancelled', async () => {
    const done = await runJob(env.client, { samples: 300_000, tasks: 2, seed: 5 }, 'ttl-succeeds', { giveUpAt: Date.now() + 60_000, pollMs: 200 });
    expect(done.view.status).toBe('SUCCEEDED');
    env.cloud.faults!.configure({ functions: { sampler: [{ match: { taskId: 0 }, throw: 1 }] } });
    const failed = await runJob(env.client, { samples: 300_000, tasks: 2, seed: 6 }, 'ttl-fails', { giveUpAt: Date.now() + 60_000, pollMs: 200 });
    env.cloud.faults!.configure({});
    expect(failed.view.status).toBe('FAILED');
    await env.quiet();

    // The job items; the admission items (one per scope, no TTL) stay, holding no job.
    const isJobItem = (i: Record<string, unknown>) => jobIdOfKey(i.pk) !== undefined;
    const items = (await env.scanItems()).filter(isJobItem);
    const jobIds = new Set(items.map((i) => String(i.pk)));
    // These two, and the cancelled jobs of the test above.
    expect(jobIds).toContain(jobKey(done.jobId));
    expect(jobIds).toContain(jobKey(failed.jobId));
    const newest = Math.max(...items.map((i) => Number(i.expiresAt)));
    // DynamoDB deletes an item once its TTL (epoch seconds) has passed.
    await waitFor(() => Date.now() / 1000 > newest, 5_000, 'the items to expire');
    const removed = await env.cloud.sweepExpiredItems();
    expect(removed).toBe(items.length);
    const left = await env.scanItems();
    expect(left.filter(isJobItem)).toEqual([]);
    for (const admission of left) expect(admission).toMatchObject({ pk: 'ADMISSION', running: {} });
    const gone = await env.client.request('GET', `jobs/${done.jobId}`);
    expect(gone.status).toBe(404);
  }, 120_000);
});
