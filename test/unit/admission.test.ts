import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cancelJob, runJob, settleJob, submitJob, type JobDeps } from '../../functions/orchestrator/jobs.js';
import { ApiError } from '../../functions/shared/errors.js';
import { type JobRequest, type SamplerEvent } from '../../functions/shared/job.js';
import { BLOCK_SIZE, samplesInBlocks } from '../../functions/shared/kernel/stream-rule.js';
import { InMemoryJobStore } from '../../functions/shared/store/memory.js';
import type { JobStore } from '../../functions/shared/store/port.js';

/**
 * Admission under concurrency: random interleavings of submits by several callers, jobs ending, and
 * crashes, against the real job operations on the in-memory store and a virtual clock. Every store
 * call first yields a few microtasks (as many as the property chose), so concurrent operations
 * interleave at each of their awaits.
 */

const START = 1_700_000_000_000;
const OWNERS = ['alice', 'bob', 'carol'].map((name) => `arn:aws:iam::123456789012:user/${name}`);
const MAX_RUNNING_JOBS = 4;
const MAX_RUNNING_JOBS_PER_CALLER = 2;
const JOB_TIMEOUT_MS = 300_000;
/** How long an admitted job whose header never appeared keeps its place (the orchestrator's grace). */
const CREATION_GRACE_MS = 60_000;
const REQUEST: JobRequest = { samples: 3 * BLOCK_SIZE, tasks: 3, seed: 1 };

/** A crash on purpose: the process dies at this point. */
class Crash extends Error {}

type Op =
  | { kind: 'submit'; owner: number; key: number | undefined; dies: boolean }
  | { kind: 'succeed'; pick: number } // a run that lives and whose samplers finish at once
  | { kind: 'runDies'; pick: number } // a run that dies at its first poll; its samplers never run
  | { kind: 'cancel'; pick: number; byOwner: boolean }
  | { kind: 'read'; pick: number };
type Step = { kind: 'batch'; ops: Op[] } | { kind: 'advance'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ owner: fc.nat(OWNERS.length - 1), key: fc.option(fc.nat(2), { nil: undefined }), dies: fc.nat(4).map((n) => n === 0) })
      // Only a submit without a key dies here: a retry under the key of one that died can lose its
      // place to a concurrent clearing (a known defect, see jobs.test.ts, "a retry renewed").
      .map(({ owner, key, dies }) => ({ kind: 'submit' as const, owner, key: dies ? undefined : key, dies })),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('succeed' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('runDies' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat(), byOwner: fc.nat(3).map((n) => n > 0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('read' as const), pick: fc.nat() }) },
);
/**
 * The ops without a second submit of one job (same owner and key) in the same batch: two requests of
 * one job at once can lose its place (a known defect, see jobs.test.ts, "concurrent twin request").
 */
const withoutTwins = (ops: Op[]): Op[] =>
  ops.filter((op, i) => op.kind !== 'submit' || op.key === undefined || ops.findIndex((o) => o.kind === 'submit' && o.owner === op.owner && o.key === op.key) === i);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.array(opArb, { minLength: 1, maxLength: 5 }).map((ops) => ({ kind: 'batch' as const, ops: withoutTwins(ops) })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 120_000 }).map((ms) => ({ kind: 'advance' as const, ms })) },
);

/** The job service on virtual time, with its store's calls interleaved as `yields` says. */
class Service {
  t = START;
  readonly memory = new InMemoryJobStore();
  readonly store: JobStore;
  /** Every job created, with its owner. */
  readonly jobs: { jobId: string; owner: string }[] = [];
  private call = 0;

  constructor(private readonly yields: readonly number[]) {
    const service = this;
    this.store = new Proxy(this.memory, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const n = service.yields[service.call++ % service.yields.length]!;
          for (let i = 0; i < n; i++) await Promise.resolve();
          const result = await value.apply(target, args);
          // A RUNNING header appears only here: the limits must hold right after it.
          if (name === 'createJob' && result === true) service.expectWithinLimits();
          return result;
        };
      },
    });
  }

  deps(overrides: Partial<JobDeps> = {}): JobDeps {
    return {
      store: this.store,
      startSampler: async () => {},
      startRun: async () => {},
      now: () => this.t,
      sleep: async (ms) => {
        this.t += ms;
        await Promise.resolve();
      },
      jobTimeoutMs: JOB_TIMEOUT_MS,
      ttlSeconds: 86_400,
      pollIntervalMs: 1_000,
      taskRestarts: 1,
      stallMs: 60_000,
      unheardMs: 120_000,
      samplerConcurrency: 6,
      reportIntervalMs: 1_000,
      maxRunningJobs: MAX_RUNNING_JOBS,
      maxRunningJobsPerCaller: MAX_RUNNING_JOBS_PER_CALLER,
      partitionWriteUnitsPerSecond: 1000,
      ...overrides,
    };
  }

  /** RUNNING jobs in the stack and per owner never exceed the limits. */
  expectWithinLimits(): void {
    const running = this.memory.snapshot().filter((j) => j.header?.status === 'RUNNING');
    expect(running.length).toBeLessThanOrEqual(MAX_RUNNING_JOBS);
    for (const owner of OWNERS) expect(running.filter((j) => j.header!.owner === owner).length).toBeLessThanOrEqual(MAX_RUNNING_JOBS_PER_CALLER);
  }

  /** Submits; answers the job id if admitted, undefined if refused with 429 (checked), or crashes. */
  async submit(owner: string, key: number | undefined, dies: boolean): Promise<string | undefined> {
    // A submit that dies after its admission, before it writes the header.
    const store = dies ? new Proxy(this.store, { get: (target, name) => (name === 'createJob' ? () => Promise.reject(new Crash('died before createJob')) : Reflect.get(target, name)) }) : this.store;
    try {
      const { view, created } = await submitJob(REQUEST, { owner, ...(key !== undefined && { idempotencyKey: `key-${key}` }) }, this.deps({ store }));
      if (created) this.jobs.push({ jobId: view.jobId, owner });
      return view.jobId;
    } catch (error) {
      if (error instanceof Crash) return undefined;
      if (!(error instanceof ApiError)) throw error;
      expect(error).toMatchObject({ statusCode: 429, code: 'TooManyJobs' });
      const retryAfter = Number((error as ApiError).headers['retry-after']);
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 30).toBe(true);
      return undefined;
    }
  }

  async apply(op: Op): Promise<void> {
    if (op.kind === 'submit') {
      await this.submit(OWNERS[op.owner]!, op.key, op.dies);
      return;
    }
    if (this.jobs.length === 0) return;
    const { jobId, owner } = this.jobs[op.pick % this.jobs.length]!;
    switch (op.kind) {
      case 'succeed': {
        const finishNow = async (event: SamplerEvent) => {
          const done = samplesInBlocks(event.startBlock, event.endBlock, event.samples);
          await this.memory.applyReport({ jobId: event.jobId, taskId: event.taskId, done, inside: done - 1 }, this.t);
        };
        const startedAt = this.t;
        await runJob(jobId, this.deps({ startSampler: finishNow }), () => 30_000 - (this.t - startedAt));
        return;
      }
      case 'runDies': {
        const dies = async () => {
          throw new Crash('the run died');
        };
        await runJob(jobId, this.deps({ sleep: dies }), () => 900_000).catch((error: unknown) => {
          if (!(error instanceof Crash)) throw error;
        });
        return;
      }
      case 'cancel': {
        const by = op.byOwner ? owner : OWNERS.find((o) => o !== owner)!;
        await cancelJob(jobId, by, this.deps()).catch((error: unknown) => {
          // Another caller's job does not exist for them; an ended one cannot be cancelled.
          expect(error).toMatchObject(op.byOwner ? { statusCode: 409, code: 'JobFinished' } : { statusCode: 404, code: 'JobNotFound' });
        });
        return;
      }
      case 'read':
        await settleJob(jobId, this.deps(), owner);
    }
  }

  /** Runs the ops at once; a refused or crashed submit leaves no job behind. */
  async batch(ops: readonly Op[]): Promise<void> {
    const before = new Set(this.memory.snapshot().map((j) => j.jobId));
    const known = this.jobs.length;
    await Promise.all(ops.map((op) => this.apply(op)));
    const written = this.memory.snapshot().map((j) => j.jobId).filter((jobId) => !before.has(jobId));
    expect(written.sort()).toEqual(this.jobs.slice(known).map((j) => j.jobId).sort());
  }
}

describe('admission', () => {
  it('holds the limits under any interleaving of submits, ends and crashes, and leaks no place', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 20 }), fc.array(fc.nat(3), { minLength: 1, maxLength: 16 }), async (steps, yields) => {
        const service = new Service(yields);
        for (const step of steps) {
          if (step.kind === 'advance') service.t += step.ms;
          else await service.batch(step.ops);
          service.expectWithinLimits();
        }

        // Every job has ended or passed its deadline, and every lost admission its grace.
        service.t += JOB_TIMEOUT_MS + CREATION_GRACE_MS + 1;
        // Each caller can run its limit of jobs...
        for (const owner of OWNERS) {
          const admitted: string[] = [];
          for (let i = 0; i < MAX_RUNNING_JOBS_PER_CALLER; i++) {
            const jobId = await service.submit(owner, undefined, false);
            expect(jobId, `${owner}'s job ${i + 1} of ${MAX_RUNNING_JOBS_PER_CALLER} was refused`).toBeDefined();
            admitted.push(jobId!);
          }
          for (const jobId of admitted) await cancelJob(jobId, owner, service.deps());
        }
        // ...and the stack its limit.
        for (let i = 0; i < MAX_RUNNING_JOBS; i++) {
          expect(await service.submit(OWNERS[i % OWNERS.length]!, undefined, false), `stack job ${i + 1} was refused`).toBeDefined();
        }
        service.expectWithinLimits();
      }),
      { numRuns: 100 },
    );
  });
});
