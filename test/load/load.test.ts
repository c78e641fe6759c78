// Load: 50 jobs submitted at once through the API, with the stage throttling the template declares
// (the client backs off on 429, as a real one must). Every job must come out exact; throughput and
// latency are reported, not asserted.
import { describe, expect, it } from 'vitest';
import type { JobView } from '../../cli/api-client.js';
import { persist, printTable, randomJobs } from '../helpers/chaos.js';
import { countProblems, faultFreeInside } from '../helpers/job-oracle.js';
import { usePiCloud } from '../helpers/pi-cloud.js';
import { quantile, sleep } from '../helpers/pool.js';
import { suiteSeed } from '../helpers/seed.js';

const JOBS = 50;
/** Seeds the jobs' parameters (test/helpers/seed.ts: LOAD_SEED=<seed> replays a run). */
const { seed: SEED } = suiteSeed('LOAD_SEED', 20_240_601, 'test/load/load.test.ts');
/** Each job's client polls this often. */
const POLL_MS = 500;

const env = usePiCloud({
  // The deployed stall limit and deadline: 50 jobs queue behind a few sampler workers, which the
  // chaos suite's seconds-long settings would count as silence.
  env: { orchestrator: { stallSeconds: 60, jobTimeoutSeconds: 600 } },
  // A job's run holds an orchestrator worker while the job lasts (it sleeps between polls); runs
  // beyond the cap wait for a worker, as they would for concurrency. More workers only add cold starts.
  maxWorkersPerFunction: { orchestrator: 24, '*': 4 },
  keepLogs: 1_000_000,
});

describe('load', () => {
  it(`${JOBS} jobs submitted at once all come out exact`, async () => {
    const requests = randomJobs(JOBS, SEED);
    const started = Date.now();
    const submitted = await Promise.all(
      requests.map((request, i) => persist(() => env.client.submitJob(request, { idempotencyKey: `load-${SEED}-${i}` }), Date.now() + 120_000)),
    );
    const allSubmittedAt = Date.now();

    // Every job followed at once, as 50 users would: far more requests than the stage's 10 per second,
    // so the client is throttled (429) and backs off with jitter until the job ends.
    const ended = new Map<string, { view: JobView; seenAt: number }>();
    await Promise.all(
      submitted.map(async (job) => {
        for (;;) {
          const view = await persist(() => env.client.getJob(job.jobId), Date.now() + 120_000);
          if (view.status !== 'RUNNING') return void ended.set(job.jobId, { view, seenAt: Date.now() });
          await sleep(POLL_MS);
        }
      }),
    );
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
    // Server side: created to finished, as the table records them; client side: from the burst of submissions to the GET that saw the end.
    const seen = [...ended.values()].map((e) => e.seenAt - started);
    const lastFinished = Math.max(...submitted.map((j) => stored.get(j.jobId)!.header!.finishedAt!));
    const seconds = (lastFinished - started) / 1000;
    const samples = requests.reduce((a, r) => a + r.samples, 0);
    // The client backs off and retries a throttled request; the gateway's log shows each 429.
    const throttled = env.logs.filter((l) => /^\[api\] \S+ \S+ 429 /.test(l)).length;
    printTable(
      `Load: ${JOBS} jobs at once (${requests.reduce((a, r) => a + r.tasks, 0)} tasks, ${(samples / 1e6).toFixed(1)} M samples), stage throttling 10 req/s, burst 20`,
      ['jobs/s', 'p50 job latency ms', 'p95 job latency ms', 'max ms', 'p95 seen by clients ms', 'all submitted after ms', 'first created to last finished ms', '429s backed off'],
      [[(JOBS / seconds).toFixed(2), quantile(latencies, 0.5), quantile(latencies, 0.95), Math.max(...latencies), quantile(seen, 0.95), allSubmittedAt - started, lastFinished - firstCreated, throttled]],
    );
  }, 300_000);
});
