// Load: 50 jobs submitted at once through the API, with the stage throttling the template declares
// (the client backs off on 429, as a real one must). Every job must come out exact; throughput and
// latency are reported, not asserted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../cli/api-client.js';
import { persist, printTable, randomJobs } from '../helpers/chaos.js';
import { countProblems, faultFreeInside } from '../helpers/job-oracle.js';
import { startPiCloud, type PiCloud } from '../helpers/pi-cloud.js';
import { quantile, sleep } from '../helpers/pool.js';

const JOBS = 50;
const SEED = 20_240_601;
/** Below the stage's 10 requests/s, so polling leaves room for the submissions' retries. */
const POLLS_PER_SECOND = 6;

let env: PiCloud;

beforeAll(async () => {
  env = await startPiCloud({
    // The deployed stall limit and deadline: 50 jobs queue behind a few sampler workers, which the
    // chaos suite's seconds-long settings would count as silence.
    env: { orchestrator: { STALL_SECONDS: 60, JOB_TIMEOUT_SECONDS: 600 } },
    // A job's run holds an orchestrator worker while the job lasts (it sleeps between polls); runs
    // beyond the cap wait for a worker, as they would for concurrency. More workers only add cold starts.
    maxWorkersPerFunction: { orchestrator: 24, '*': 4 },
    keepLogs: 1_000_000,
  });
}, 240_000);

afterAll(async () => {
  await env?.stop();
});

describe('load', () => {
  it(`${JOBS} jobs submitted at once all come out exact`, async () => {
    const requests = randomJobs(JOBS, SEED);
    const started = Date.now();
    const submitted = await Promise.all(
      requests.map((request, i) => persist(() => env.client.submitJob(request, { idempotencyKey: `load-${SEED}-${i}` }), Date.now() + 120_000)),
    );
    const allSubmittedAt = Date.now();

    // Poll round-robin under a shared budget: one GET per job per round.
    const ended = new Map<string, { view: JobView; seenAt: number }>();
    while (ended.size < JOBS) {
      for (const job of submitted) {
        if (ended.has(job.jobId)) continue;
        const view = await persist(() => env.client.getJob(job.jobId), Date.now() + 120_000);
        if (view.status !== 'RUNNING') ended.set(job.jobId, { view, seenAt: Date.now() });
        await sleep(1000 / POLLS_PER_SECOND);
      }
      expect(Date.now() - started).toBeLessThan(240_000);
    }

    const stored = await env.scanJobs();
    const latencies: number[] = [];
    submitted.forEach((job, i) => {
      const { view } = ended.get(job.jobId)!;
      const request = requests[i]!;
      expect(view.status, `${view.reason} ${JSON.stringify(stored.get(job.jobId)?.tasks)}`).toBe('SUCCEEDED');
      expect(view.done).toBe(request.samples);
      expect(view.inside).toBe(faultFreeInside(request.seed!, request.samples));
      const items = stored.get(job.jobId)!;
      expect(countProblems(items.header!, items.tasks)).toEqual([]);
      latencies.push(items.header!.finishedAt! - items.header!.createdAt);
    });
    const firstCreated = Math.min(...submitted.map((j) => stored.get(j.jobId)!.header!.createdAt));
    const lastFinished = Math.max(...submitted.map((j) => stored.get(j.jobId)!.header!.finishedAt!));
    const seconds = (lastFinished - started) / 1000;
    const samples = requests.reduce((a, r) => a + r.samples, 0);
    // The client backs off and retries a throttled request; the gateway's log shows each 429.
    const throttled = env.logs.filter((l) => /^\[api\] \S+ \S+ 429 /.test(l)).length;
    process.stdout.write(JSON.stringify(env.logs.filter((l) => l.startsWith("[api]")).slice(0, 60).map((l) => l.slice(0, 60))) + "\n");
    printTable(
      `Load: ${JOBS} jobs at once (${requests.reduce((a, r) => a + r.tasks, 0)} tasks, ${(samples / 1e6).toFixed(1)} M samples), stage throttling 10 req/s, burst 20`,
      ['jobs/s', 'p50 job latency ms', 'p95 job latency ms', 'max ms', 'all submitted after ms', 'first created to last finished ms', '429s backed off'],
      [[(JOBS / seconds).toFixed(2), quantile(latencies, 0.5), quantile(latencies, 0.95), Math.max(...latencies), allSubmittedAt - started, lastFinished - firstCreated, throttled]],
    );
  }, 300_000);
});
