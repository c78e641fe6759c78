// Chaos: the synthesized stack on the local cloud, with Lambda's and DynamoDB's failure modes
// injected, driven through the signed API. Every job must end SUCCEEDED with exactly the fault-free
// count, or FAILED with a reason when faults made success impossible; nothing is lost or counted
// twice, nothing outlives its deadline. The same code is the smoke in `npm test` (a few jobs per
// fault kind) and the campaign in `npm run test:chaos` (CHAOS_JOBS_PER_KIND, set in vitest.config.ts).
// Seeded by test/helpers/seed.ts: CHAOS_SEED=<seed> replays a run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../functions/shared/kernel/stream-rule.js';
import type { FaultConfig, FaultKind } from '../../local/index.js';
import { judge, persist, printTable, randomJobs, runJob } from '../helpers/chaos.js';
import { countProblems } from '../helpers/job-oracle.js';
import { QUICK, startPiCloud, type PiCloud } from '../helpers/pi-cloud.js';
import { mapLimited, waitFor } from '../helpers/pool.js';
import { suiteSeed } from '../helpers/seed.js';

const { seed: SEED, replay } = suiteSeed('CHAOS_SEED', 20_240_611, 'test/chaos/chaos.test.ts');
const JOBS_PER_KIND = Number(process.env.CHAOS_JOBS_PER_KIND ?? 20);
if (!Number.isSafeInteger(JOBS_PER_KIND) || JOBS_PER_KIND < 1) throw new Error(`CHAOS_JOBS_PER_KIND=${process.env.CHAOS_JOBS_PER_KIND}: a positive integer`);
/** Jobs in flight at once: a 2-core machine runs every worker process of the stack. */
const CONCURRENT_JOBS = 8;
const K = QUICK.taskRestarts;

interface Scenario {
  kind: string;
  faults: FaultConfig;
  /** Fault kinds this scenario must actually inject. */
  injects: FaultKind[];
  /**
   * Faults that lose nothing (late, twice, out of order), or that the functions absorb by retrying
   * (throttling, DynamoDB errors; README "Failure semantics": same count): every job must succeed.
   */
  mustSucceed?: boolean;
  /** Too few jobs draw too few events for every listed fault to be injected: run only with this many per kind. */
  minJobs?: number;
}

const SCENARIOS: Scenario[] = [
  {
    kind: 'drop',
    faults: { functions: { sampler: { drop: 0.2 }, progress: { drop: 0.2 }, orchestrator: { drop: 0.1 } } },
    injects: ['drop'],
  },
  { kind: 'duplicate', faults: { functions: { '*': { duplicate: 0.5 } } }, injects: ['duplicate'], mustSucceed: true },
  // Up to 4 s late: longer than the stall limit, so tasks are restarted while their first event is on its way.
  { kind: 'delay', faults: { functions: { '*': { delay: 0.5, delayMs: [0, 4_000] } } }, injects: ['delay'], mustSucceed: true },
  { kind: 'reorder', faults: { functions: { '*': { reorder: 0.5, reorderMs: 500 } } }, injects: ['reorder'], mustSucceed: true },
  {
    kind: 'crash',
    faults: {
      functions: {
        sampler: { crash: 0.15, crashWindowMs: [0, 40] },
        progress: { crash: 0.03, crashWindowMs: [0, 20] },
        orchestrator: { crash: 0.05, crashWindowMs: [0, 300] },
      },
    },
    injects: ['crash'],
  },
  // Each crash costs a cold start (a third of a CPU second here): a worker lives a few invocations, not a few hundred.
  {
    kind: 'crashAfter',
    faults: {
      functions: {
        sampler: { crashAfter: 8, crashWindowMs: [0, 40] },
        progress: { crashAfter: 20, crashWindowMs: [0, 20] },
        orchestrator: { crashAfter: 12, crashWindowMs: [0, 300] },
      },
    },
    injects: ['crashAfter'],
  },
  {
    kind: 'throw',
    faults: { functions: { sampler: { throw: 0.2 }, progress: { throw: 0.05 }, orchestrator: { throw: 0.05 } } },
    injects: ['throw'],
  },
  {
    kind: 'timeout',
    faults: {
      functions: {
        sampler: { timeout: 0.1, crashWindowMs: [0, 40] },
        progress: { timeout: 0.02 },
        orchestrator: { timeout: 0.01, crashWindowMs: [0, 300] },
      },
    },
    injects: ['timeout'],
  },
  {
    kind: 'throttle',
    faults: { functions: { '*': { throttle: 0.2, throttleEvents: 0.3 } } },
    injects: ['throttle', 'throttleEvents'],
    mustSucceed: true,
  },
  {
    kind: 'dynamodb',
    faults: { dynamodb: { throughputExceeded: 0.05, throttling: 0.05, internalError: 0.05 } },
    injects: ['ProvisionedThroughputExceededException', 'ThrottlingException', 'InternalServerError'],
    mustSucceed: true,
  },
  {
    kind: 'mix',
    faults: {
      functions: {
        sampler: { drop: 0.05, duplicate: 0.2, delay: 0.2, delayMs: [0, 3_000], reorder: 0.2, reorderMs: 300, throttle: 0.1, throttleEvents: 0.1, throw: 0.05, crash: 0.05, crashWindowMs: [0, 40], timeout: 0.03 },
        progress: { duplicate: 0.2, delay: 0.2, reorder: 0.2, throttle: 0.05, throw: 0.02, crash: 0.02, crashWindowMs: [0, 20], crashAfter: 25 },
        orchestrator: { drop: 0.03, duplicate: 0.2, delay: 0.2, delayMs: [0, 1_000], throttle: 0.05, throw: 0.02, crash: 0.02, crashWindowMs: [0, 300] },
      },
      dynamodb: { throughputExceeded: 0.02, throttling: 0.02, internalError: 0.02 },
    },
    injects: ['drop', 'duplicate', 'delay', 'reorder', 'throttle', 'throw', 'crash', 'ProvisionedThroughputExceededException'],
    // Every kind at a low rate: the smoke's few jobs may draw none of some; each kind has its own scenario above.
    minJobs: 10,
  },
];

let env: PiCloud;
/** Every job this file followed to its end through the API. */
const followed = new Set<string>();
const follow = async (...args: Parameters<typeof runJob>) => {
  const outcome = await runJob(...args);
  followed.add(outcome.jobId);
  return outcome;
};
/** At most this many jobs more per fault kind, when the first ones drew none of a listed fault. */
const EXTRA_JOBS = 10;
/** The special cases run this many jobs each (fewer in the smoke). */
const SPECIAL_JOBS = Math.min(5, JOBS_PER_KIND);
const rows: (string | number)[][] = [];
/** Why jobs FAILED, by scenario: the reason with numbers and ids taken out. */
const failures: (string | number)[][] = [];
const timings: [string, number][] = [];

beforeAll(async () => {
  process.stdout.write(`chaos: ${JOBS_PER_KIND} job(s) per fault kind (replay: ${replay})\n`);
  env = await startPiCloud({
    apiThrottling: false,
    faults: {},
    // Short enough that "run past the timeout" plays out within a test; long enough for a small task.
    timeoutOverrides: { sampler: 4, progress: 3, orchestrator: 8 },
  });
}, 240_000);

afterAll(async () => {
  if (rows.length > 0) {
    printTable(`Chaos (seed ${SEED}): ${CONCURRENT_JOBS} jobs at a time, restarts K=${K}, deadline ${QUICK.jobTimeoutSeconds} s`, ['fault kind', 'faults injected', 'jobs', 'SUCCEEDED', 'FAILED', 'other', 'seconds'], rows);
  }
  if (failures.length > 0) printTable('Why chaos jobs FAILED (first reason of each job)', ['fault kind', 'jobs', 'reason'], failures);
  if (timings.length > 0) printTable('Chaos special cases', ['case', 'seconds'], timings.map(([c, ms]) => [c, (ms / 1000).toFixed(1)]));
  await env?.stop();
});

/** Sampler and progress work must be over before the next case; orchestrator runs are not waited for. */
const quiesce = () => env.quiet(['sampler', 'progress']);

function useFaults(config: FaultConfig, seedOffset: number): void {
  env.cloud.faults!.configure({ seed: SEED + seedOffset, ...config });
  env.cloud.faults!.clear();
}

const faultSummary = (counts: Partial<Record<FaultKind, number>>) =>
  Object.entries(counts)
    .map(([k, n]) => `${k.replace('ProvisionedThroughputExceededException', 'PTEE').replace('Exception', '').replace('InternalServerError', '500')} ${n}`)
    .join(', ') || 'none';

describe('chaos: each fault kind, then all of them', () => {
  SCENARIOS.forEach((scenario, index) => {
    const tooFew = JOBS_PER_KIND < (scenario.minJobs ?? 1);
    if (tooFew) process.stdout.write(`chaos: ${scenario.kind} skipped: it needs CHAOS_JOBS_PER_KIND >= ${scenario.minJobs} (npm run test:chaos)\n`);
    it.skipIf(tooFew)(`${scenario.kind}: ${JOBS_PER_KIND} random jobs end correctly`, async () => {
      const started = Date.now();
      await quiesce();
      useFaults(scenario.faults, index);
      const jobs = randomJobs(JOBS_PER_KIND + EXTRA_JOBS, SEED * 97 + index);
      const giveUpAt = Date.now() + 120_000;
      const outcomes = await mapLimited(jobs.slice(0, JOBS_PER_KIND), CONCURRENT_JOBS, (job, i) =>
        follow(env.client, job, `chaos-${SEED}-${scenario.kind}-${i}`, { giveUpAt, pollMs: 1_000 }),
      );
      // A few jobs may draw none of a rare fault: more jobs, one at a time, until each listed kind was injected.
      const missing = () => scenario.injects.filter((kind) => !env.cloud.faults!.counts()[kind]);
      for (let i = JOBS_PER_KIND; i < jobs.length && missing().length > 0; i++) {
        outcomes.push(await follow(env.client, jobs[i]!, `chaos-${SEED}-${scenario.kind}-${i}`, { giveUpAt: Date.now() + 60_000, pollMs: 500 }));
      }
      await quiesce();
      const counts = env.cloud.faults!.counts();
      const verdict = await judge(env, outcomes, env.cloud.faults!.events());
      rows.push([scenario.kind, faultSummary(counts), outcomes.length, verdict.succeeded, verdict.failed, verdict.other, ((Date.now() - started) / 1000).toFixed(1)]);
      const reasons = new Map<string, number>();
      for (const o of outcomes) {
        if (o.view.status !== 'FAILED') continue;
        const why = (o.view.reason ?? '').split('; ')[0]!.replace(/RequestId: \S+ /g, '').replace(/\d+/g, 'N').slice(0, 110);
        reasons.set(why, (reasons.get(why) ?? 0) + 1);
      }
      for (const [why, n] of reasons) failures.push([scenario.kind, n, why]);

      expect(verdict.problems).toEqual([]);
      for (const kind of scenario.injects) expect(counts[kind] ?? 0, `${kind} faults injected`).toBeGreaterThan(0);
      if (scenario.mustSucceed) expect(verdict.succeeded).toBe(outcomes.length);
    }, 240_000);
  });
});

describe('chaos: special cases', () => {
  it('a lost orchestrator loses nothing: every run invocation dies, GET finishes the job', async () => {
    const started = Date.now();
    await quiesce();
    // Each run dies 200-300 ms in (after fanning out), all three attempts; samplers start later.
    useFaults(
      {
        functions: {
          orchestrator: [{ match: { kind: 'run' }, crash: 1, crashWindowMs: [200, 300] }],
          sampler: { delay: 1, delayMs: [2_000, 2_800] },
        },
      },
      100,
    );
    const jobs = randomJobs(SPECIAL_JOBS, SEED * 97 + 100);
    const submitted = await Promise.all(
      jobs.map((job, i) => persist(() => env.client.submitJob(job, { idempotencyKey: `chaos-${SEED}-lost-${i}` }), Date.now() + 30_000)),
    );
    const runCrashes = () => env.cloud.faults!.events().filter((f) => f.kind === 'crash' && f.subject.includes('"kind":"run"')).length;
    await waitFor(() => runCrashes() === 3 * jobs.length, 30_000, 'every run attempt to crash');
    await quiesce();
    // Lambda gave up on every run: nothing polls the jobs, nothing has settled them.
    const before = await env.scanJobs();
    for (const { jobId } of submitted) expect(before.get(jobId)!.header!.status).toBe('RUNNING');
    // A client reading the job settles it from the table (and starts again what the runs left undone).
    const outcomes = await Promise.all(
      jobs.map((job, i) => follow(env.client, job, `chaos-${SEED}-lost-${i}`, { giveUpAt: Date.now() + 60_000, pollMs: 250 })),
    );
    const after = await env.scanJobs();
    for (const o of outcomes) {
      expect(o.view.status).toBe('SUCCEEDED');
      expect(o.view.inside).toBe(o.oracle);
      const stored = after.get(o.jobId)!;
      expect(stored.header!.status).toBe('SUCCEEDED');
      expect(countProblems(stored.header!, stored.tasks)).toEqual([]);
    }
    timings.push(['lost orchestrator (3 run attempts crash, GET settles)', Date.now() - started]);
  }, 120_000);

  it(`a task that always fails ends its job FAILED, naming it, before the deadline, after ${K} restarts`, async () => {
    const started = Date.now();
    await quiesce();
    useFaults({ functions: { sampler: [{ match: { taskId: 1 }, throw: 1 }] } }, 101);
    const jobs = randomJobs(SPECIAL_JOBS, SEED * 97 + 101).map((j) => ({ ...j, tasks: Math.max(2, j.tasks) }));
    const outcomes = await mapLimited(jobs, SPECIAL_JOBS, (job, i) => follow(env.client, job, `chaos-${SEED}-failing-${i}`, { giveUpAt: Date.now() + 60_000, pollMs: 250 }));
    await quiesce();
    const stored = await env.scanJobs();
    for (const o of outcomes) {
      const job = stored.get(o.jobId)!;
      expect(o.view.status).toBe('FAILED');
      expect(o.view.failedTasks).toEqual([1]);
      expect(o.view.reason).toMatch(/^task 1: sampler gave up \(RetriesExhausted, 3 attempt\(s\)\): InjectedFault/);
      expect(job.header!.finishedAt!).toBeLessThan(job.header!.deadlineAt);
      // Started once, restarted K times, never more: 3 attempts each (Lambda's 2 retries).
      expect(job.tasks[1]!.invocations).toBe(1 + K);
      const throws = env.cloud.faults!.events().filter((f) => f.kind === 'throw' && f.subject.includes(o.jobId));
      expect(throws).toHaveLength(3 * (1 + K));
      expect(countProblems(job.header!, job.tasks)).toEqual([]);
    }
    timings.push(['a task that always fails', Date.now() - started]);
  }, 120_000);

  it(`a task whose events are always lost is restarted ${K} times, then its job FAILS by the deadline naming it`, async () => {
    const started = Date.now();
    await quiesce();
    useFaults({ functions: { sampler: [{ match: { taskId: 1 }, drop: 1 }] } }, 102);
    const jobs = randomJobs(SPECIAL_JOBS, SEED * 97 + 102).map((j) => ({ ...j, tasks: Math.max(2, j.tasks) }));
    const outcomes = await mapLimited(jobs, SPECIAL_JOBS, (job, i) => follow(env.client, job, `chaos-${SEED}-lost-task-${i}`, { giveUpAt: Date.now() + 90_000, pollMs: 250 }));
    await quiesce();
    const stored = await env.scanJobs();
    for (const o of outcomes) {
      const job = stored.get(o.jobId)!;
      expect(o.view.status).toBe('FAILED');
      expect(o.view.failedTasks).toEqual([1]);
      expect(o.view.reason).toBe('deadline passed with 1 unfinished task(s)');
      expect(job.header!.finishedAt!).toBeGreaterThanOrEqual(job.header!.deadlineAt);
      // Not a read after the deadline said RUNNING.
      expect(o.runningPastDeadlineMs).toBeUndefined();
      expect(job.tasks[1]!.invocations).toBe(1 + K);
      const drops = env.cloud.faults!.events().filter((f) => f.kind === 'drop' && f.subject.includes(o.jobId));
      expect(drops).toHaveLength(1 + K);
      expect(countProblems(job.header!, job.tasks)).toEqual([]);
    }
    timings.push(['a task whose events are always lost', Date.now() - started]);
  }, 120_000);

});

describe('chaos: resume after crashes', () => {
  // A cloud of its own: a sampler timeout long enough that the attempts left after four crashes have
  // time to sample, whatever the machine's load (the campaigns above need short timeouts).
  let resumeEnv: PiCloud;
  beforeAll(async () => {
    resumeEnv = await startPiCloud({ apiThrottling: false, faults: {}, timeoutOverrides: { sampler: 8, progress: 3, orchestrator: 8 } });
  }, 240_000);
  afterAll(async () => {
    await resumeEnv?.stop();
  });

  it('a crashed sampler resumes from the last accepted report, and the count is bit-identical to a fault-free run', async () => {
    const started = Date.now();
    await resumeEnv.quiet(['sampler', 'progress']);
    // The first four sampler attempts die 300-600 ms in, mid-run (a cold worker reports its first
    // progress a few hundred ms in): the first invocation's three attempts, then a restart's first.
    // Three seconds of sampling on a free core, more than four crashed attempts can sample (each crashes
    // within 600 ms); the attempts left have five seconds each (an 8 s timeout less the 3 s the sampler
    // keeps to report and hand over), so they finish it on a loaded machine too.
    resumeEnv.cloud.faults!.configure({ seed: SEED + 103, functions: { sampler: [{ crash: 1, crashWindowMs: [300, 600], times: 4 }] } });
    const request = { samples: 3_000_000_000, tasks: 1, seed: SEED };
    const outcome = await follow(resumeEnv.client, request, `chaos-${SEED}-resume`, { giveUpAt: Date.now() + 60_000, pollMs: 250 });
    followed.delete(outcome.jobId); // in this cloud, not the one the table check reads
    await resumeEnv.quiet(['sampler', 'progress']);
    expect(resumeEnv.cloud.faults!.counts().crash).toBe(4);
    expect(outcome.view.status).toBe('SUCCEEDED');
    expect(outcome.view.inside).toBe(outcome.oracle);

    interface Report { done: number; answer: number }
    const reports: Report[] = resumeEnv.cloud
      .invocations('progress')
      // Reports only (the on-failure records of the crashed invocation go to the progress function too).
      .filter((r) => r.payload.includes(outcome.jobId) && r.ok && !r.payload.includes('"requestContext"'))
      .map((r) => ({ done: (JSON.parse(r.payload) as { done: number }).done, answer: (JSON.parse(r.result!) as { done: number }).done }));
    const resumes = reports.filter((r) => r.done === 0 && r.answer > 0 && r.answer < request.samples);
    // Retried runs asked where the task stood and got a point part-way through.
    expect(resumes.length).toBeGreaterThanOrEqual(2);
    // Every sampled report was accepted: no run re-sampled blocks the store already had.
    const sampled = reports.filter((r) => r.done > 0);
    expect(sampled.filter((r) => r.answer !== r.done)).toEqual([]);
    // ... and each resumed run's first report continues from the accepted point, at a block boundary.
    reports.forEach((r, i) => {
      if (r.done !== 0 || r.answer === 0) return;
      const next = reports.slice(i + 1).find((n) => n.done > 0);
      if (!next) return;
      expect(next.done).toBeGreaterThan(r.answer);
      expect(next.done === request.samples || (next.done - r.answer) % BLOCK_SIZE === 0).toBe(true);
    });

    await resumeEnv.quiet(['sampler', 'progress']);
    resumeEnv.cloud.faults!.configure({ seed: SEED + 104 });
    const clean = await follow(resumeEnv.client, { ...request, tasks: 3 }, `chaos-${SEED}-resume-clean`, { giveUpAt: Date.now() + 60_000, pollMs: 250 });
    followed.delete(clean.jobId);
    expect(clean.view.status).toBe('SUCCEEDED');
    expect(outcome.view.inside).toBe(clean.view.inside);
    expect(outcome.view.estimate).toEqual(clean.view.estimate);
    timings.push(['resume after 4 mid-run crashes', Date.now() - started]);
  }, 120_000);
});

describe('chaos: the table afterwards', () => {
  it('holds no job still RUNNING, no item without a TTL but the admission items, and no place taken', async () => {
    // Judges what the tests above left behind: run on its own, there is nothing to judge.
    expect(followed.size, 'jobs followed by the tests above (run the whole file)').toBeGreaterThan(0);
    await quiesce();
    const jobs = await env.scanJobs();
    for (const id of followed) expect(jobs.get(id)?.header, `job ${id} in the table`).toBeDefined();
    const running = [...jobs.entries()].filter(([, j]) => j.header?.status === 'RUNNING').map(([id]) => id);
    // Every job was followed to its end through the API; none may be left RUNNING.
    expect(running).toEqual([]);
    const { ADMISSION: admission, ...jobItems } = Object.fromEntries(jobs);
    for (const job of Object.values(jobItems)) {
      expect(job.other).toEqual([]);
      for (const item of [job.header!, ...job.tasks]) expect(typeof item.expiresAt).toBe('number');
    }
    // Every job ended and was read after, so none holds a place: an invocation that wrote an outcome
    // and died (an injected crash) before giving the places back left no mark, and the next read of
    // the job gave them back. The admission items themselves live on, without TTL.
    for (const scope of admission?.other ?? []) expect(scope.running).toEqual({});
  });
});
