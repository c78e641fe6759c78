// A job with more tasks than the sampler may run at once: the orchestrator starts tasks as slots free
// up, so no task waits unreported in Lambda's queue long enough to be taken for lost and started again.
import { describe, expect, it } from 'vitest';
import { runJob } from '../helpers/chaos.js';
import { usePiCloud } from '../helpers/pi-cloud.js';

/** The sampler's concurrency, as the orchestrator is told it and as the local cloud gives it workers. */
const SLOTS = 2;
const TASKS = 10;
/** About half a second of sampling per task: five waves of two take several stall limits. */
const SAMPLES = TASKS * 500_000_000;

const env = usePiCloud({
  apiThrottling: false,
  maxWorkersPerFunction: { orchestrator: 12, sampler: SLOTS, '*': 4 },
  env: {
    orchestrator: { SAMPLER_CONCURRENCY: SLOTS, STALL_SECONDS: 2 },
    sampler: { REPORT_INTERVAL_MS: 200 },
  },
});

/** The most invocations admitted and not yet ended at the same moment. */
function peakOverlap(intervals: readonly { startedAt: number; endedAt?: number }[]): number {
  const edges = intervals.flatMap((r) => [
    [r.startedAt, 1],
    [r.endedAt ?? Number.POSITIVE_INFINITY, -1],
  ]);
  // Ends before starts at the same instant: a slot freed and refilled is not an overlap.
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let open = 0;
  let peak = 0;
  for (const [, delta] of edges) peak = Math.max(peak, (open += delta!));
  return peak;
}

describe('fan-out paced to the sampler concurrency', () => {
  it(`runs ${TASKS} tasks ${SLOTS} at a time, each invoked once, every sample counted once`, async () => {
    // Warm the sampler workers first, so a cold start is not taken for silence.
    await runJob(env.client, { samples: 100_000, tasks: SLOTS, seed: 1 }, 'pacing-warm-up', { giveUpAt: Date.now() + 60_000 });

    const request = { samples: SAMPLES, tasks: TASKS, seed: 2 };
    const outcome = await runJob(env.client, request, 'pacing', { giveUpAt: Date.now() + 120_000, pollMs: 250 });
    expect(outcome.view.status, outcome.view.reason).toBe('SUCCEEDED');
    expect(outcome.view.done).toBe(SAMPLES);

    const stored = (await env.scanJobs()).get(outcome.jobId)!;
    // Without pacing the later waves sit in the queue for more than the 2 s stall limit and are started again.
    expect(stored.tasks.map((t) => t.invocations)).toEqual(Array(TASKS).fill(1));
    const runs = env.cloud.invocations('sampler').filter((r) => r.payload.includes(outcome.jobId));
    expect(runs).toHaveLength(TASKS);
    expect(peakOverlap(runs)).toBe(SLOTS);
    // The job took waves: it could not have been run all at once.
    const span = Math.max(...runs.map((r) => r.endedAt!)) - Math.min(...runs.map((r) => r.startedAt));
    const longest = Math.max(...runs.map((r) => r.endedAt! - r.startedAt));
    expect(span).toBeGreaterThan(2 * longest);
  }, 180_000);
});
