// A job with more tasks than the sampler may run at once: the orchestrator starts tasks as slots free
// up, so no task waits unreported in Lambda's queue, where a wait longer than the stall limit would be
// taken for a lost event and the task started again (with a 2 s stall limit and no pacing, this job
// had 4 of its 10 tasks started twice).
import { describe, expect, it } from 'vitest';
import type { SamplerEvent } from '../../functions/shared/job.js';
import { runJob } from '../helpers/chaos.js';
import { usePiCloud } from '../helpers/pi-cloud.js';

/** The sampler's concurrency, as the orchestrator is told it and as the local cloud gives it workers. */
const SLOTS = 2;
const TASKS = 10;
/** About half a second of sampling per task, five waves of two. */
const SAMPLES = TASKS * 500_000_000;

const env = usePiCloud({
  apiThrottling: false,
  maxWorkersPerFunction: { orchestrator: 12, sampler: SLOTS, '*': 4 },
  env: {
    // A stall limit well above a wave, so a busy machine's late report restarts nothing: what is
    // measured is how many tasks ran at once.
    orchestrator: { samplerConcurrency: SLOTS, stallSeconds: 10 },
    sampler: { reportIntervalMs: 200 },
  },
});

/** The most intervals open at the same moment. */
function peakOverlap(intervals: readonly (readonly [start: number, end: number])[]): number {
  const edges = intervals.flatMap(([start, end]) => [
    [start, 1],
    [end, -1],
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
    expect(stored.tasks.map((t) => t.invocations)).toEqual(Array(TASKS).fill(1));
    const runs = env.cloud.invocations('sampler').filter((r) => r.payload.includes(outcome.jobId));
    expect(runs).toHaveLength(TASKS);
    // A task holds its slot from its invocation to its final report: the orchestrator sees the slot free
    // once that report is in the table (its run returns a moment later).
    const finalReportAt = new Map(stored.tasks.map((t) => [t.taskId, t.updatedAt!]));
    const slots = runs.map((r) => [r.startedAt, finalReportAt.get((JSON.parse(r.payload) as SamplerEvent).taskId)!] as const);
    expect(peakOverlap(slots)).toBe(SLOTS);
    // The job took waves: it could not have been run all at once.
    const span = Math.max(...runs.map((r) => r.endedAt!)) - Math.min(...runs.map((r) => r.startedAt));
    const longest = Math.max(...runs.map((r) => r.endedAt! - r.startedAt));
    expect(span).toBeGreaterThan(2 * longest);
  }, 180_000);
});
