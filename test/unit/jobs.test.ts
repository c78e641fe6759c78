import { describe, expect, it } from 'vitest';
import { cancelJob, runJob, settleJob, submitJob, waitForJob, type JobDeps } from '../../functions/orchestrator/jobs.js';
import { applyProgressEvent } from '../../functions/progress/apply.js';
import { ApiError, UnknownJobError } from '../../functions/shared/errors.js';
import { MAX_FAILURE_CHARS, planTasks, pollFloorMs, type JobHeader, type JobRequest, type JobView, type SamplerEvent, type TaskItem } from '../../functions/shared/job.js';
import { BLOCK_SIZE, samplesInBlocks } from '../../functions/shared/kernel/stream-rule.js';
import { InMemoryJobStore } from '../../functions/shared/store/memory.js';
import type { JobStore } from '../../functions/shared/store/port.js';

/**
 * The job logic on virtual time: the in-memory store, a clock that only moves when the code sleeps, and
 * samplers that act on the store when the clock moves. No timers, no real sleeps.
 */

/**
 * What a sampler does once it runs: report its whole task, report one block every N ms, report its
 * first block and then nothing (it ran, then died without Lambda retrying it), or fail for good
 * (Lambda gives up on it).
 */
type Run = 'finish' | number | 'silent' | 'fail';
/**
 * What a started sampler does: run at once, wait in Lambda's queue for `queuedMs` before it runs, be
 * lost (its event never runs: not even a start report), or fail to start (the invoke is refused).
 */
type Behaviour = Run | { queuedMs: number; then: Run } | 'lost' | 'reject';

interface Sampler {
  event: SamplerEvent;
  /** When it runs: its start report, and where its progress counts from. */
  runsAt: number;
  run: Run | 'lost';
  reportedStart: boolean;
  ended: boolean;
}

const START = 1_700_000_000_000;
const MS_PER_DAY = 86_400_000;
const ALICE = 'arn:aws:iam::123456789012:user/alice';
const BOB = 'arn:aws:iam::123456789012:user/bob';
const CAROL = 'arn:aws:iam::123456789012:user/carol';

/** The inside count a task reports for `done` samples: any function of `done` alone, as the real streams are. */
const insideFor = (done: number) => Math.floor((done * 3) / 4);

const taskSamples = (event: SamplerEvent) => samplesInBlocks(event.startBlock, event.endBlock, event.samples);

/** The job's task items as its run writes them: every task, nothing done. */
const plannedTasks = (header: JobHeader): TaskItem[] =>
  planTasks(header.samples, header.tasks).map((plan) => ({ ...plan, jobId: header.jobId, done: 0, inside: 0, invocations: 0, expiresAt: header.expiresAt }));

class World {
  t = START;
  readonly memory = new InMemoryJobStore();
  /** Every store call, by method name, in order. */
  readonly calls: { method: string; args: unknown[]; at: number }[] = [];
  readonly store: JobStore;
  readonly samplers: Sampler[] = [];
  readonly runs: string[] = [];
  /** For each sampler start: how many of its job's tasks were started and unfinished just before. */
  readonly occupiedAtStart: number[] = [];
  /** Off for jobs of many tasks: counting reads the whole job at every start. */
  trackOccupancy = true;
  behave: (event: SamplerEvent) => Behaviour = () => 'finish';
  /** The error message of a sampler that fails. */
  failureMessage = 'boom';
  /** Runs after every tick (each sleep), for tests that act on the world as time passes. */
  onSleep: () => Promise<void> | void = () => {};
  /** Runs before a store call is handed on, for tests that slip something in between two calls. */
  beforeCall?: (method: string, args: unknown[]) => Promise<void>;
  readonly deps: JobDeps;

  constructor(overrides: Partial<JobDeps> = {}) {
    const world = this;
    // Records every call and hands it on to the in-memory store.
    this.store = new Proxy(this.memory, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== 'function' || typeof name !== 'string') return value;
        return (...args: unknown[]) => {
          world.calls.push({ method: name, args, at: world.t });
          if (world.beforeCall) return world.beforeCall(name, args).then(() => value.apply(target, args));
          return value.apply(target, args);
        };
      },
    });
    this.deps = {
      store: this.store,
      startSampler: async (event) => {
        if (this.trackOccupancy) {
          const job = (await this.memory.loadJob(event.jobId))!;
          this.occupiedAtStart.push(job.tasks.filter((t) => t.taskId !== event.taskId && t.invocations > 0 && t.done < t.samples).length);
        }
        const behaviour = this.behave(event);
        if (behaviour === 'reject') throw new Error('Rate exceeded');
        const queued = typeof behaviour === 'object';
        const sampler: Sampler = {
          event,
          runsAt: this.t + (queued ? behaviour.queuedMs : 0),
          run: queued ? behaviour.then : behaviour,
          reportedStart: false,
          ended: behaviour === 'lost',
        };
        this.samplers.push(sampler);
        if (!queued && behaviour !== 'lost') await this.reportStart(sampler);
      },
      startRun: async (jobId) => {
        this.runs.push(jobId);
      },
      now: () => this.t,
      sleep: async (ms) => {
        expect(ms).toBeGreaterThanOrEqual(0);
        this.t += ms;
        await this.tick();
        await this.onSleep();
      },
      jobTimeoutMs: 600_000,
      ttlSeconds: 7 * 86_400,
      pollIntervalMs: 1000,
      taskRestarts: 2,
      stallMs: 60_000,
      unheardMs: 120_000,
      samplerConcurrency: 100,
      reportIntervalMs: 1000,
      maxRunningJobs: 100,
      maxRunningJobsPerCaller: 100,
      partitionWriteUnitsPerSecond: 1000,
      ...overrides,
    };
  }

  /** A sampler's first report: "where does my task stand?" (the sampler's runTask sends it first). */
  private async reportStart(sampler: Sampler): Promise<void> {
    const { event } = sampler;
    sampler.reportedStart = true;
    const answer = await this.memory.applyReport({ jobId: event.jobId, taskId: event.taskId, done: 0, inside: 0 }, this.t);
    if (answer.cancelled) sampler.ended = true;
    else if (sampler.run === 'silent' && taskSamples(event) > BLOCK_SIZE) {
      // Heard from once (its first block), then silent.
      await this.memory.applyReport({ jobId: event.jobId, taskId: event.taskId, done: BLOCK_SIZE, inside: insideFor(BLOCK_SIZE) }, this.t);
    }
  }

  /** Every live sampler acts on the store as its behaviour says, as of now. */
  async tick(): Promise<void> {
    for (const sampler of this.samplers) {
      if (sampler.ended || this.t < sampler.runsAt) continue;
      if (!sampler.reportedStart) {
        await this.reportStart(sampler);
        if (sampler.ended) continue;
      }
      const { event, run } = sampler;
      if (run === 'silent' || run === 'lost') continue;
      if (run === 'fail') {
        // What Lambda sends the progress function when it gives up on the sampler.
        await applyProgressEvent(
          {
            version: '1.0',
            timestamp: new Date(this.t).toISOString(),
            requestContext: { requestId: 'r', functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:sampler', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
            requestPayload: event,
            responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
            responsePayload: { errorType: 'Error', errorMessage: this.failureMessage },
          },
          this.memory,
          this.t,
        );
        sampler.ended = true;
        continue;
      }
      const samples = taskSamples(event);
      const msPerBlock = run === 'finish' ? 0 : run;
      const blocks = msPerBlock === 0 ? Infinity : Math.floor((this.t - sampler.runsAt) / msPerBlock);
      const done = Math.min(samples, blocks * BLOCK_SIZE);
      if (done === 0) continue;
      const answer = await this.memory.applyReport({ jobId: event.jobId, taskId: event.taskId, done, inside: insideFor(done) }, this.t);
      if (answer.cancelled || answer.done >= samples) sampler.ended = true;
    }
  }

  submit(request: JobRequest, idempotencyKey?: string, owner = ALICE) {
    return submitJob(request, { owner, ...(idempotencyKey !== undefined && { idempotencyKey }) }, this.deps);
  }

  /** Writes every task item, unstarted, for tests that act on the store without a run (a report needs its item). */
  async writeTasks(jobId: string): Promise<void> {
    await this.memory.createMissingTasks(plannedTasks((await this.memory.loadHeader(jobId))!));
  }

  /** A run of the job with `budgetMs` of Lambda time from now. */
  run(jobId: string, budgetMs = 900_000): Promise<JobView> {
    const startedAt = this.t;
    return runJob(jobId, this.deps, () => budgetMs - (this.t - startedAt));
  }

  started(taskId?: number): SamplerEvent[] {
    return this.samplers.map((s) => s.event).filter((e) => taskId === undefined || e.taskId === taskId);
  }

  callsTo(method: string) {
    return this.calls.filter((c) => c.method === method);
  }

  /** The jobs an admission scope holds, by id. */
  async admittedIds(scope: 'stack' | { caller: string }): Promise<string[]> {
    return Object.keys(await this.memory.admitted(scope)).sort();
  }
}

/** A request of `tasks` tasks of `blocksPerTask` whole blocks each. */
const request = (tasks: number, blocksPerTask = 2, seed = 7): JobRequest => ({ samples: tasks * blocksPerTask * BLOCK_SIZE, tasks, seed });

async function apiErrorOf(promise: Promise<unknown>, statusCode: number, code: string): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  expect(error).toMatchObject({ statusCode, code });
  return error as ApiError;
}

const expectApiError = async (promise: Promise<unknown>, statusCode: number, code: string) => {
  await apiErrorOf(promise, statusCode, code);
};

describe('submitJob', () => {
  it('admits the job and writes its header alone, owned by the caller, and starts one run', async () => {
    const world = new World();
    const { view, created } = await world.submit(request(5, 3, 42));
    expect(created).toBe(true);
    expect(view).toMatchObject({ status: 'RUNNING', seed: 42, samples: 5 * 3 * BLOCK_SIZE, tasks: 5, done: 0, progress: 0, estimate: null });
    // The view shows every planned task, though no task item is written yet.
    expect(view.taskProgress.map((t) => [t.taskId, t.done])).toEqual([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0]]);
    expect(world.memory.snapshot()).toEqual([
      {
        jobId: view.jobId,
        header: {
          jobId: view.jobId,
          seed: 42,
          samples: 5 * 3 * BLOCK_SIZE,
          tasks: 5,
          status: 'RUNNING',
          createdAt: START,
          deadlineAt: START + 600_000,
          expiresAt: START / 1000 + 7 * 86_400,
          maxInvocations: 3,
          owner: ALICE,
        },
        tasks: [],
      },
    ]);
    const entry = { admittedAt: START, deadlineAt: START + 600_000, created: true, token: expect.any(String) };
    expect(await world.memory.admitted('stack')).toEqual({ [view.jobId]: entry });
    expect(await world.memory.admitted({ caller: ALICE })).toEqual({ [view.jobId]: entry });
    expect(world.runs).toEqual([view.jobId]);
    expect(world.started()).toEqual([]);
    expect(world.callsTo('createMissingTasks')).toEqual([]);
  });

  it('chooses a seed when the request has none, and a fresh job id each time', async () => {
    const world = new World();
    const a = await world.submit({ samples: BLOCK_SIZE, tasks: 1 });
    const b = await world.submit({ samples: BLOCK_SIZE, tasks: 1 });
    expect(a.view.jobId).not.toBe(b.view.jobId);
    for (const { view } of [a, b]) {
      expect(Number.isSafeInteger(view.seed)).toBe(true);
      expect(view.seed).toBeGreaterThanOrEqual(0);
      expect(view.seed).toBeLessThan(2 ** 48);
    }
  });

  it('returns the same job for a repeated idempotency key, reading only', async () => {
    const world = new World();
    const first = await world.submit({ samples: 4 * BLOCK_SIZE, tasks: 2 }, 'key-1');
    await world.run(first.view.jobId);
    const before = world.memory.snapshot();
    const calls = world.calls.length;
    const again = await world.submit({ samples: 4 * BLOCK_SIZE, tasks: 2 }, 'key-1');
    const withSeed = await world.submit({ samples: 4 * BLOCK_SIZE, tasks: 2, seed: first.view.seed }, 'key-1');
    for (const repeat of [again, withSeed]) {
      expect(repeat.created).toBe(false);
      expect(repeat.view.jobId).toBe(first.view.jobId);
      expect(repeat.view.seed).toBe(first.view.seed);
      expect(repeat.view.status).toBe('SUCCEEDED');
    }
    expect(world.memory.snapshot()).toEqual(before);
    expect(world.runs).toEqual([first.view.jobId]);
    expect(new Set(world.calls.slice(calls).map((c) => c.method))).toEqual(new Set(['loadJob']));
  });

  it('derives the job id from the caller and the idempotency key', async () => {
    const a = await new World().submit(request(1), 'same key');
    const b = await new World().submit(request(1), 'same key');
    const c = await new World().submit(request(1), 'other key');
    const d = await new World().submit(request(1), 'same key', BOB);
    expect(a.view.jobId).toBe(b.view.jobId);
    expect(c.view.jobId).not.toBe(a.view.jobId);
    expect(d.view.jobId).not.toBe(a.view.jobId);
    expect(a.view.jobId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('answers 422 when the key was used for a different request, and writes nothing', async () => {
    const world = new World();
    await world.submit(request(2, 2, 1), 'key-2');
    const before = world.memory.snapshot();
    await expectApiError(world.submit(request(2, 3, 1), 'key-2'), 422, 'IdempotencyKeyReused');
    await expectApiError(world.submit(request(4, 1, 1), 'key-2'), 422, 'IdempotencyKeyReused');
    await expectApiError(world.submit(request(2, 2, 2), 'key-2'), 422, 'IdempotencyKeyReused');
    expect(world.memory.snapshot()).toEqual(before);
    expect(world.runs).toHaveLength(1);
  });

  it('resumes a request that died after writing the header: a retry a stall limit later starts the run once', async () => {
    const world = new World();
    const startRun = world.deps.startRun;
    world.deps.startRun = async () => {
      throw new Error('the function timed out');
    };
    await expect(world.submit(request(5), 'key-3')).rejects.toThrow('timed out');
    world.deps.startRun = startRun;
    const [written] = world.memory.snapshot();
    expect(written).toMatchObject({ header: { status: 'RUNNING', owner: ALICE }, tasks: [] });
    const jobId = written!.jobId;

    // Read as a GET reads it: a run may yet be on its way.
    const early = await world.submit(request(5), 'key-3');
    expect(early.created).toBe(false);
    expect(early.view.jobId).toBe(jobId);
    expect(early.view.taskProgress.map((t) => t.taskId)).toEqual([0, 1, 2, 3, 4]);
    expect(world.runs).toEqual([]);

    world.t = START + 60_001;
    expect((await world.submit(request(5), 'key-3')).view.jobId).toBe(jobId);
    expect(world.runs).toEqual([jobId]);
    // The retry did the run's first round: it started the tasks, writing their items.
    expect(world.started().map((e) => [e.taskId, e.invocation])).toEqual([0, 1, 2, 3, 4].map((taskId) => [taskId, 1]));
    // A second retry finds the run revived: it starts no other.
    await world.submit(request(5), 'key-3');
    expect(world.runs).toEqual([jobId]);
    expect((await world.run(jobId)).status).toBe('SUCCEEDED');
  });
});

describe('admission', () => {
  it('answers 429 TooManyJobs with a retry-after past the stack limit, and writes no job', async () => {
    const world = new World({ maxRunningJobs: 2 });
    const a = await world.submit(request(2), undefined, ALICE);
    const b = await world.submit(request(2), undefined, BOB);
    const before = world.memory.snapshot();
    const refused = await apiErrorOf(world.submit(request(2), 'key', CAROL), 429, 'TooManyJobs');
    // The running jobs' deadlines are ten minutes away: the longest suggestion.
    expect(refused.headers).toEqual({ 'retry-after': '30' });
    expect(refused.message).toMatch(/service is running its limit of 2 job/);
    expect(world.memory.snapshot()).toEqual(before);
    expect(world.runs).toEqual([a.view.jobId, b.view.jobId]);
    expect(await world.admittedIds('stack')).toEqual([a.view.jobId, b.view.jobId].sort());
    expect(await world.admittedIds({ caller: CAROL })).toEqual([]);
  });

  it('answers 429 past the caller\'s limit, giving back the place it took in the stack; another caller is admitted', async () => {
    const world = new World({ maxRunningJobsPerCaller: 1 });
    const a = await world.submit(request(2), undefined, ALICE);
    const before = world.memory.snapshot();
    const refused = await apiErrorOf(world.submit(request(2), undefined, ALICE), 429, 'TooManyJobs');
    expect(refused.headers['retry-after']).toBe('30');
    expect(refused.message).toMatch(/you are running your limit of 1 job/);
    expect(world.memory.snapshot()).toEqual(before);
    expect(await world.admittedIds('stack')).toEqual([a.view.jobId]);

    const b = await world.submit(request(2), undefined, BOB);
    expect(b.created).toBe(true);
    expect(await world.admittedIds('stack')).toEqual([a.view.jobId, b.view.jobId].sort());
    expect(await world.admittedIds({ caller: ALICE })).toEqual([a.view.jobId]);
    expect(await world.admittedIds({ caller: BOB })).toEqual([b.view.jobId]);
  });

  it.each(['SUCCEEDED', 'FAILED', 'CANCELLED'] as const)('frees the place of a job that ends %s at once', async (status) => {
    const world = new World({ maxRunningJobs: 1, maxRunningJobsPerCaller: 1, taskRestarts: 0 });
    const { view } = await world.submit(request(2));
    await expectApiError(world.submit(request(2), undefined, BOB), 429, 'TooManyJobs');
    await expectApiError(world.submit(request(2)), 429, 'TooManyJobs');
    if (status === 'CANCELLED') await cancelJob(view.jobId, ALICE, world.deps);
    else {
      world.behave = () => (status === 'FAILED' ? 'fail' : 'finish');
      await world.run(view.jobId);
    }
    expect((await world.memory.loadHeader(view.jobId))!.status).toBe(status);
    expect(await world.admittedIds('stack')).toEqual([]);
    expect(await world.admittedIds({ caller: ALICE })).toEqual([]);
    const next = await world.submit(request(2));
    expect(next.created).toBe(true);
    expect(await world.admittedIds('stack')).toEqual([next.view.jobId]);
  });

  it('frees the place of a job whose run died once its deadline passed: the next submit settles it', async () => {
    const world = new World({ maxRunningJobs: 1 });
    const { view } = await world.submit(request(2));
    await world.writeTasks(view.jobId);
    await world.memory.applyReport({ jobId: view.jobId, taskId: 0, done: 2 * BLOCK_SIZE, inside: 7 }, world.t);
    // Nothing runs the job. Before its deadline it holds its place; the retry-after says when it ends.
    world.t = START + 100_000;
    expect((await apiErrorOf(world.submit(request(2), undefined, BOB), 429, 'TooManyJobs')).headers['retry-after']).toBe('30');
    world.t = START + 600_000 - 1_500;
    expect((await apiErrorOf(world.submit(request(2), undefined, BOB), 429, 'TooManyJobs')).headers['retry-after']).toBe('2');
    world.t = START + 600_000;
    const next = await world.submit(request(2), undefined, BOB);
    expect(next.created).toBe(true);
    expect((await world.memory.loadHeader(view.jobId))!).toMatchObject({
      status: 'FAILED',
      reason: 'deadline passed with 1 unfinished task(s)',
      done: 2 * BLOCK_SIZE,
      inside: 7,
    });
    expect(await world.admittedIds('stack')).toEqual([next.view.jobId]);
    expect(await world.admittedIds({ caller: ALICE })).toEqual([]);
  });

  it('frees the place of an admitted job whose header never appeared, 60 s after its admission', async () => {
    const world = new World({ maxRunningJobs: 1, maxRunningJobsPerCaller: 1 });
    const createJob = world.memory.createJob.bind(world.memory);
    world.memory.createJob = async () => {
      throw new Error('the function timed out');
    };
    await expect(world.submit(request(2))).rejects.toThrow('timed out');
    world.memory.createJob = createJob;
    expect(world.memory.snapshot()).toEqual([]);
    expect(await world.admittedIds('stack')).toHaveLength(1);

    world.t = START + 59_000;
    expect((await apiErrorOf(world.submit(request(2), undefined, BOB), 429, 'TooManyJobs')).headers['retry-after']).toBe('1');
    world.t = START + 60_000;
    await expectApiError(world.submit(request(2), undefined, BOB), 429, 'TooManyJobs');
    world.t = START + 60_001;
    const bob = await world.submit(request(2), undefined, BOB);
    expect(await world.admittedIds('stack')).toEqual([bob.view.jobId]);
    // Alice's own scope still held the lost job; it is cleared the same way when she submits.
    await cancelJob(bob.view.jobId, BOB, world.deps);
    const alice = await world.submit(request(2));
    expect(await world.admittedIds({ caller: ALICE })).toEqual([alice.view.jobId]);
    expect(world.memory.snapshot().map((j) => j.jobId).sort()).toEqual([alice.view.jobId, bob.view.jobId].sort());
  });

  it('counts a place\'s grace from when it was taken, not from before a slow clearing of its scope', async () => {
    const world = new World({ maxRunningJobs: 1 });
    const alice = await world.submit(request(2));
    world.t = START + 600_000;
    // Bob's submit finds the stack full; clearing it (settling Alice's job, past its deadline) is slow.
    let slowClear = true;
    let carol: Promise<unknown> | undefined;
    world.beforeCall = async (method) => {
      if (method === 'loadHeader' && slowClear) {
        slowClear = false;
        world.t += 61_000;
      }
      // Carol submits while Bob's header is on its way, just after Bob took his place.
      if (method === 'createJob' && carol === undefined) {
        carol = world.submit(request(2), undefined, CAROL).then(
          () => 'admitted',
          (e: unknown) => (e instanceof ApiError ? e.code : e),
        );
        expect(await carol).toBe('TooManyJobs');
      }
    };
    const bob = await world.submit(request(2), undefined, BOB);
    expect(bob.created).toBe(true);
    expect((await world.memory.loadHeader(alice.view.jobId))!.status).toBe('FAILED');
    expect(world.memory.snapshot().filter((j) => j.header!.status === 'RUNNING').map((j) => j.header!.owner)).toEqual([BOB]);
  });

  it('gives a small job the configured report interval, however large its share', async () => {
    const world = new World({ samplerConcurrency: 1000 });
    world.behave = () => 'silent';
    const { view } = await world.submit(request(3));
    await world.run(view.jobId, 10_000);
    expect(new Set(world.started().map((e) => e.reportIntervalMs))).toEqual(new Set([1000]));
  });

  it('shares the samplers\' concurrency between the running jobs, and lengthens their report interval with their share', async () => {
    // Alone, a job may run all 1,000 invocations at once, reporting every 10 s (100 reports a second).
    const alone = new World({ samplerConcurrency: 1000 });
    alone.trackOccupancy = false;
    alone.behave = () => 'silent';
    const solo = await alone.submit(request(1200));
    await alone.run(solo.view.jobId, 10_000);
    expect(alone.started()).toHaveLength(1000);
    expect(new Set(alone.started().map((e) => e.reportIntervalMs))).toEqual(new Set([10_000]));

    // Two jobs at once: 500 each, every 5 s.
    const world = new World({ samplerConcurrency: 1000 });
    world.trackOccupancy = false;
    world.behave = () => 'silent';
    const a = await world.submit(request(1200));
    const b = await world.submit(request(1200), undefined, BOB);
    await Promise.all([world.run(a.view.jobId, 10_000), world.run(b.view.jobId, 10_000)]);
    for (const { view } of [a, b]) {
      const events = world.started().filter((e) => e.jobId === view.jobId);
      expect(events).toHaveLength(500);
      expect(new Set(events.map((e) => e.reportIntervalMs))).toEqual(new Set([5_000]));
    }
  });
  it('renews the places of a submit retried under its key after it died: the retry\'s grace counts from the retry', async () => {
    const world = new World({ maxRunningJobs: 1 });
    const createJob = world.memory.createJob.bind(world.memory);
    world.memory.createJob = async () => {
      throw new Error('the function timed out');
    };
    await expect(world.submit(request(2), 'key-9')).rejects.toThrow('timed out');
    world.memory.createJob = createJob;
    // The client retries a minute later; Bob submits while the retry's header is on its way.
    world.t = START + 61_000;
    let bob: unknown;
    world.beforeCall = async (method) => {
      if (method === 'createJob' && bob === undefined) {
        bob = await world.submit(request(2), undefined, BOB).then(
          () => 'admitted',
          (e: unknown) => (e instanceof ApiError ? e.code : e),
        );
      }
    };
    const retry = await world.submit(request(2), 'key-9');
    expect(retry.created).toBe(true);
    expect(bob).toBe('TooManyJobs');
    expect(world.memory.snapshot().map((j) => j.header!.owner)).toEqual([ALICE]);
  });

  it('keeps the places of a job whose concurrent twin request was refused', async () => {
    const world = new World({ maxRunningJobsPerCaller: 1 });
    const running = await world.submit(request(2));
    let twin: { view: JobView } | undefined;
    world.beforeCall = async (method, args) => {
      // The first request took the stack's place, found Alice's own full, and gives the stack's back:
      // meanwhile her running job ends and the twin request goes through.
      if (method === 'release' && args[0] === 'stack' && twin === undefined) {
        world.beforeCall = undefined;
        await cancelJob(running.view.jobId, ALICE, world.deps);
        twin = await world.submit(request(2), 'key-7');
      }
    };
    await expectApiError(world.submit(request(2), 'key-7'), 429, 'TooManyJobs');
    expect((await world.memory.loadHeader(twin!.view.jobId))!.status).toBe('RUNNING');
    expect(await world.admittedIds('stack')).toEqual([twin!.view.jobId]);
  });

  it('keeps the place a retry renewed while another submit was clearing the scope', async () => {
    const world = new World({ maxRunningJobsPerCaller: 2 });
    const createJob = world.memory.createJob.bind(world.memory);
    world.memory.createJob = async () => {
      throw new Error('the function timed out');
    };
    await expect(world.submit(request(2), 'key-8')).rejects.toThrow('timed out');
    world.memory.createJob = createJob;
    await world.submit(request(2));
    world.t = START + 61_000;
    world.beforeCall = async (method, args) => {
      // Alice's next submit clears her full scope: just before it releases the lost place, her
      // client's retry under the key renews that place and writes the header.
      if (method === 'release' && typeof args[0] === 'object') {
        world.beforeCall = undefined;
        expect((await world.submit(request(2), 'key-8')).created).toBe(true);
      }
    };
    await world.submit(request(2)).catch(() => undefined);
    expect(world.memory.snapshot().filter((j) => j.header?.status === 'RUNNING').length).toBeLessThanOrEqual(2);
  });

  it('never lets a submit stalled past the grace between its admission and its header exceed the limit', async () => {
    const world = new World({ maxRunningJobs: 1 });
    let stalled = false;
    world.beforeCall = async (method, args) => {
      // Bob's submit stalls after taking the stack's place, past the grace; Carol finds his place lost.
      if (method === 'admit' && typeof args[0] === 'object' && !stalled) {
        stalled = true;
        world.t += 61_000;
        await world.submit(request(2), undefined, CAROL);
      }
    };
    await expectApiError(world.submit(request(2), undefined, BOB), 503, 'ServiceUnavailable');
    expect(world.memory.snapshot().filter((j) => j.header?.status === 'RUNNING').map((j) => j.header!.owner)).toEqual([CAROL]);
    expect(await world.admittedIds('stack')).toHaveLength(1);
  });

  it('gives a lone job all the samplers\' concurrency, even with a place held by a submit that died', async () => {
    const world = new World({ samplerConcurrency: 10 });
    const createJob = world.memory.createJob.bind(world.memory);
    world.memory.createJob = async () => {
      throw new Error('the function timed out');
    };
    await expect(world.submit(request(2))).rejects.toThrow('timed out');
    world.memory.createJob = createJob;
    world.behave = () => 'silent';
    // Within its grace the place may yet get its job; past it, it is no job to share with.
    world.t += 61_000;
    const { view } = await world.submit(request(20), undefined, BOB);
    await world.run(view.jobId, 7_500);
    expect(world.started()).toHaveLength(10);
  });
});

describe('writes whose answer was lost', () => {
  it('starts the run of a job whose header was written though its put answered "already there" (the SDK retried it)', async () => {
    const world = new World();
    const createJob = world.memory.createJob.bind(world.memory);
    world.memory.createJob = async (header) => {
      await createJob(header);
      return false;
    };
    const { view, created } = await world.submit(request(2));
    expect(created).toBe(true);
    expect(world.runs).toEqual([view.jobId]);
    expect((await world.memory.admitted('stack'))[view.jobId]).toMatchObject({ created: true });
  });

  it('gives the places back when the outcome was written but its answer was lost', async () => {
    const world = new World();
    const finishJob = world.memory.finishJob.bind(world.memory);
    world.memory.finishJob = async (...args) => {
      await finishJob(...args);
      return false;
    };
    const { view } = await world.submit(request(2));
    expect((await world.run(view.jobId)).status).toBe('SUCCEEDED');
    expect(await world.admittedIds('stack')).toEqual([]);
    expect(await world.admittedIds({ caller: ALICE })).toEqual([]);
  });

  it('gives the places back when the outcome\'s writer died before it could: the next reader does, once', async () => {
    const world = new World({ maxRunningJobsPerCaller: 1 });
    const { view } = await world.submit(request(2));
    await world.writeTasks(view.jobId);
    for (const task of view.taskProgress) {
      await world.memory.applyReport({ jobId: view.jobId, taskId: task.taskId, done: task.samples, inside: insideFor(task.samples) }, world.t);
    }
    // The reader that writes the outcome dies at its first release.
    world.beforeCall = async (method) => {
      if (method !== 'release') return;
      world.beforeCall = undefined;
      throw new Error('the function timed out');
    };
    await expect(settleJob(view.jobId, world.deps)).rejects.toThrow('timed out');
    expect((await world.memory.loadHeader(view.jobId))!.status).toBe('SUCCEEDED');
    expect(await world.admittedIds({ caller: ALICE })).toEqual([view.jobId]);

    // The client's next read gives them back and marks it so; later readers write nothing.
    world.t += 10;
    expect((await settleJob(view.jobId, world.deps)).status).toBe('SUCCEEDED');
    expect(await world.admittedIds('stack')).toEqual([]);
    expect(await world.admittedIds({ caller: ALICE })).toEqual([]);
    expect((await world.memory.loadHeader(view.jobId))!.placesReleasedAt).toBe(world.t);
    const before = world.memory.snapshot();
    const calls = world.calls.length;
    world.t += 10;
    await settleJob(view.jobId, world.deps);
    expect(world.memory.snapshot()).toEqual(before);
    expect(world.calls.slice(calls).map((c) => c.method)).toEqual(['loadJob']);
    // Alice may run her next job.
    expect((await world.submit(request(2))).created).toBe(true);
  });

  it('stops a task a run started while its job was being stopped', async () => {
    // Three of its eight tasks run; the others have no item yet.
    const world = new World({ samplerConcurrency: 3 });
    world.behave = () => 'silent';
    const { view } = await world.submit(request(8));
    await world.run(view.jobId, 10_000);
    await world.memory.requestCancel(view.jobId, world.t);
    // Just before the outcome is written, a run claims a task the stop did not see (it had no item).
    world.beforeCall = async (method) => {
      if (method !== 'finishJob') return;
      world.beforeCall = undefined;
      const plan = planTasks(view.samples, view.tasks)[5]!;
      const late = { ...plan, jobId: view.jobId, done: 0, inside: 0, invocations: 0, expiresAt: 0 };
      expect(await world.memory.claimInvocation(view.jobId, 5, 0, world.t, late)).toBe(true);
    };
    expect((await settleJob(view.jobId, world.deps)).status).toBe('CANCELLED');
    const stored = (await world.memory.loadJob(view.jobId))!.tasks;
    expect(stored.filter((t) => t.cancelled !== true && t.done < t.samples)).toEqual([]);
  });
});

describe('ownership', () => {
  it('answers another caller\'s GET, DELETE and wait 404 JobNotFound, changing nothing', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await world.writeTasks(view.jobId);
    // Past its deadline: a read by its owner would settle it.
    world.t = START + 600_000;
    const before = world.memory.snapshot();
    const calls = world.calls.length;
    await expectApiError(settleJob(view.jobId, world.deps, BOB), 404, 'JobNotFound');
    await expectApiError(cancelJob(view.jobId, BOB, world.deps), 404, 'JobNotFound');
    await expectApiError(waitForJob(view.jobId, BOB, world.t + 5_000, world.deps), 404, 'JobNotFound');
    expect(world.memory.snapshot()).toEqual(before);
    expect(new Set(world.calls.slice(calls).map((c) => c.method))).toEqual(new Set(['loadJob', 'loadHeader']));
    expect(world.runs).toEqual([view.jobId]);
    // Its owner still sees it.
    expect((await settleJob(view.jobId, world.deps, ALICE)).status).toBe('FAILED');
  });

  it('the same idempotency key used by two callers creates two jobs', async () => {
    const world = new World();
    const alice = await world.submit(request(2, 2, 1), 'shared key', ALICE);
    const bob = await world.submit(request(2, 3, 2), 'shared key', BOB);
    expect(alice.created).toBe(true);
    expect(bob.created).toBe(true);
    expect(bob.view.jobId).not.toBe(alice.view.jobId);
    expect(world.memory.snapshot().map((j) => [j.jobId, j.header!.owner, j.header!.idempotencyKey]).sort()).toEqual(
      [[alice.view.jobId, ALICE, 'shared key'], [bob.view.jobId, BOB, 'shared key']].sort(),
    );
    // Each finds its own job again under the key.
    expect((await world.submit(request(2, 2, 1), 'shared key', ALICE)).view.jobId).toBe(alice.view.jobId);
    expect((await world.submit(request(2, 3, 2), 'shared key', BOB)).view.jobId).toBe(bob.view.jobId);
  });
});

describe('settleJob', () => {
  it('ends SUCCEEDED when every task is done, freezing the counts without stopping the tasks', async () => {
    const world = new World();
    const { view } = await world.submit(request(3));
    await world.writeTasks(view.jobId);
    for (const task of view.taskProgress) {
      await world.memory.applyReport({ jobId: view.jobId, taskId: task.taskId, done: task.samples, inside: insideFor(task.samples) }, world.t);
    }
    world.t += 10;
    const settled = await settleJob(view.jobId, world.deps);
    expect(settled).toMatchObject({ status: 'SUCCEEDED', done: view.samples, inside: 3 * insideFor(2 * BLOCK_SIZE), progress: 1 });
    expect(settled.finishedAt).toBe(new Date(START + 10).toISOString());
    const { header, tasks } = (await world.memory.loadJob(view.jobId))!;
    expect(header).toMatchObject({ status: 'SUCCEEDED', done: view.samples, inside: settled.inside, finishedAt: START + 10 });
    expect(header).not.toHaveProperty('reason');
    expect(tasks.every((t) => t.cancelled === undefined)).toBe(true);
    expect(world.callsTo('stopTasks')).toEqual([]);
    expect(await world.admittedIds('stack')).toEqual([]);
    // Settled once: a later reader writes nothing.
    world.t += 10;
    expect(await settleJob(view.jobId, world.deps)).toEqual(settled);
    expect(world.callsTo('finishJob')).toHaveLength(1);
  });

  it('stays RUNNING while work is missing, and writes nothing', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await world.writeTasks(view.jobId);
    await world.memory.applyReport({ jobId: view.jobId, taskId: 0, done: 2 * BLOCK_SIZE, inside: 5 }, world.t);
    const before = world.memory.snapshot();
    expect((await settleJob(view.jobId, world.deps)).status).toBe('RUNNING');
    expect(world.memory.snapshot()).toEqual(before);
  });

  it('ends FAILED naming a task that failed its last invocation, stops every task and freezes the counts', async () => {
    const world = new World();
    const { view } = await world.submit(request(3));
    const jobId = view.jobId;
    await world.writeTasks(jobId);
    await world.memory.applyReport({ jobId, taskId: 0, done: BLOCK_SIZE, inside: 100 }, world.t);
    for (let invocation = 0; invocation < 3; invocation++) await world.memory.claimInvocation(jobId, 1, invocation, world.t);
    // A failure with invocations to spare does not fail the job.
    await world.memory.claimInvocation(jobId, 2, 0, world.t);
    await world.memory.recordTaskFailure(jobId, 2, 1, 'first try failed', world.t);
    expect((await settleJob(jobId, world.deps)).status).toBe('RUNNING');

    await world.memory.recordTaskFailure(jobId, 1, 3, 'Error: boom', world.t);
    const settled = await settleJob(jobId, world.deps);
    expect(settled).toMatchObject({ status: 'FAILED', reason: 'task 1: Error: boom', failedTasks: [1], done: BLOCK_SIZE, inside: 100 });
    const { header, tasks } = (await world.memory.loadJob(jobId))!;
    expect(header).toMatchObject({ status: 'FAILED', reason: 'task 1: Error: boom', failedTasks: [1], done: BLOCK_SIZE, inside: 100 });
    expect(tasks.map((t) => t.cancelled)).toEqual([true, true, true]);
    const stop = world.calls.findIndex((c) => c.method === 'stopTasks');
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(stop).toBeLessThan(world.calls.findIndex((c) => c.method === 'finishJob'));

    // A late report changes nothing: the task is stopped, the header frozen.
    const late = await world.memory.applyReport({ jobId, taskId: 0, done: 2 * BLOCK_SIZE, inside: 200 }, world.t);
    expect(late).toEqual({ cancelled: true, done: BLOCK_SIZE, inside: 100 });
    expect(await settleJob(jobId, world.deps)).toMatchObject({ status: 'FAILED', done: BLOCK_SIZE, inside: 100 });
  });

  it('ends FAILED at the deadline, naming the unfinished tasks', async () => {
    const world = new World();
    const { view } = await world.submit(request(4));
    const jobId = view.jobId;
    await world.writeTasks(jobId);
    await world.memory.applyReport({ jobId, taskId: 1, done: 2 * BLOCK_SIZE, inside: 10 }, world.t);
    await world.memory.applyReport({ jobId, taskId: 2, done: BLOCK_SIZE, inside: 5 }, world.t);
    // Keep the run's heartbeat fresh, so this test sees only the deadline.
    world.t = START + 600_000 - 1;
    await world.memory.beatRun(jobId, world.t);
    expect((await settleJob(jobId, world.deps)).status).toBe('RUNNING');
    world.t += 1;
    const settled = await settleJob(jobId, world.deps);
    expect(settled).toMatchObject({
      status: 'FAILED',
      reason: 'deadline passed with 3 unfinished task(s)',
      failedTasks: [0, 2, 3],
      done: 3 * BLOCK_SIZE,
      inside: 15,
    });
    const { tasks } = (await world.memory.loadJob(jobId))!;
    // The finished task needs no stop; the others are stopped.
    expect(tasks.map((t) => t.cancelled)).toEqual([true, undefined, true, true]);
    await world.memory.applyReport({ jobId, taskId: 2, done: 2 * BLOCK_SIZE, inside: 10 }, world.t);
    world.t += 1000;
    expect(await settleJob(jobId, world.deps)).toEqual(settled);
    expect(world.runs).toEqual([jobId]);
  });

  it('ends a job whose tasks never started without writing an item for them; a late run starts none', async () => {
    const world = new World();
    const { view } = await world.submit(request(3));
    const jobId = view.jobId;
    world.t = START + 600_000;
    await world.memory.beatRun(jobId, world.t);
    expect(await settleJob(jobId, world.deps)).toMatchObject({ status: 'FAILED', failedTasks: [0, 1, 2], done: 0 });
    expect((await world.memory.loadJob(jobId))!.tasks).toEqual([]);
    expect(world.callsTo('stopTasks')).toEqual([]);
    expect((await world.run(jobId)).status).toBe('FAILED');
    expect(world.started()).toEqual([]);
    expect((await world.memory.loadJob(jobId))!.tasks).toEqual([]);
  });

  it('freezes the counts as of the stop, with a report that landed between the outcome\'s read and the stop', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    const jobId = view.jobId;
    await world.writeTasks(jobId);
    await world.memory.applyReport({ jobId, taskId: 0, done: BLOCK_SIZE, inside: 10 }, world.t);
    world.beforeCall = async (method) => {
      if (method === 'stopTasks') await world.memory.applyReport({ jobId, taskId: 1, done: BLOCK_SIZE, inside: 20 }, world.t);
    };
    world.t = START + 600_000;
    await world.memory.beatRun(jobId, world.t);
    const settled = await settleJob(jobId, world.deps);
    expect(settled).toMatchObject({ status: 'FAILED', done: 2 * BLOCK_SIZE, inside: 30, failedTasks: [0, 1] });
    expect((await world.memory.loadJob(jobId))!.header).toMatchObject({ done: 2 * BLOCK_SIZE, inside: 30 });
  });

  it('answers 404 for an unknown job', async () => {
    await expectApiError(settleJob('no-such-job', new World().deps), 404, 'JobNotFound');
  });
});

describe('runJob', () => {
  it('fans out paced to the sampler concurrency, starting the next wave as tasks finish', async () => {
    const world = new World({ samplerConcurrency: 3 });
    const { view } = await world.submit(request(10));
    const result = await world.run(view.jobId);
    expect(result).toMatchObject({ status: 'SUCCEEDED', done: view.samples, inside: 10 * insideFor(2 * BLOCK_SIZE) });
    expect(world.started().map((e) => [e.taskId, e.invocation])).toEqual(Array.from({ length: 10 }, (_, i) => [i, 1]));
    expect(Math.max(...world.occupiedAtStart)).toBe(2);
    // Waves of three, one poll apart.
    const startTimes = [...new Set(world.samplers.map((s) => s.runsAt))];
    expect(startTimes).toHaveLength(4);
    expect(world.samplers.map((s) => startTimes.indexOf(s.runsAt))).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
    expect(world.started()[0]).toEqual({
      jobId: view.jobId,
      taskId: 0,
      seed: 7,
      samples: view.samples,
      startBlock: 0,
      endBlock: 2,
      invocation: 1,
      reportIntervalMs: 1000,
    });
    expect(world.runs).toEqual([view.jobId]);
  });

  it('ends as soon as small jobs finish: it polls fast while the job is young', async () => {
    const world = new World();
    const { view } = await world.submit(request(4));
    await world.run(view.jobId);
    expect(world.t - START).toBe(100);
  });

  it('polls fast while tasks end or start, then ever slower up to the poll interval', async () => {
    const world = new World();
    const { view } = await world.submit(request(1, 30));
    world.behave = () => 1_000; // 30 s, one block a second
    await world.run(view.jobId);
    const polls = [...new Set(world.callsTo('loadJob').map((c) => c.at))];
    const gaps = polls.slice(1).map((at, i) => at - polls[i]!);
    expect(gaps.slice(0, 4)).toEqual([100, 150, 225, 338]);
    expect(Math.max(...gaps)).toBe(1000);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(gaps[i - 1]!);
  });

  it('writes a task\'s item when it first starts it, never ahead, and polls a big job within its read budget', async () => {
    const world = new World({ samplerConcurrency: 10 });
    world.trackOccupancy = false;
    world.behave = () => 1_000; // one block a second: 1 s per task
    const { view } = await world.submit(request(1000, 1));
    await world.run(view.jobId, 9_000);
    const { header, tasks } = (await world.memory.loadJob(view.jobId))!;
    expect(tasks.map((t) => t.taskId)).toEqual(world.started().map((e) => e.taskId).sort((a, b) => a - b));
    expect(tasks.length).toBeGreaterThanOrEqual(10);
    expect(tasks.length).toBeLessThan(1000);
    const plan = planTasks(header.samples, header.tasks);
    expect(tasks.map(({ taskId, startBlock, endBlock, samples }) => ({ taskId, startBlock, endBlock, samples }))).toEqual(tasks.map((t) => plan[t.taskId]));
    expect(world.callsTo('createMissingTasks')).toEqual([]);
    // Polls of a 1,000-task job stay within its read budget, even while tasks start.
    const polls = [...new Set(world.callsTo('loadJob').map((c) => c.at))];
    expect(polls.length).toBeGreaterThan(5);
    for (let i = 1; i < polls.length; i++) expect(polls[i]! - polls[i - 1]!).toBeGreaterThanOrEqual(pollFloorMs(1000));
  });

  it('never overwrites a task item that exists: a stale run\'s first start of a task started meanwhile writes nothing', async () => {
    const world = new World();
    const { view } = await world.submit(request(3, 4));
    const jobId = view.jobId;
    world.behave = () => 1_000; // 4 s per task
    // A duplicated run reads the job before any item exists, and its claims stall until the tasks,
    // started by the other run, have progressed.
    let resume!: () => void;
    const stalled = new Promise<void>((resolve) => (resume = resolve));
    const stale: JobStore = new Proxy(world.store, {
      get: (target, name) => {
        const value = Reflect.get(target, name) as (...args: unknown[]) => unknown;
        return name === 'claimInvocation' ? async (...args: unknown[]) => stalled.then(() => value(...args)) : value;
      },
    });
    let progressAtResume: TaskItem[] = [];
    world.onSleep = async () => {
      if (world.t - START >= 2_000 && progressAtResume.length === 0) {
        progressAtResume = (await world.memory.loadJob(jobId))!.tasks;
        resume();
      }
    };
    const late = runJob(jobId, { ...world.deps, store: stale }, () => 900_000);
    const first = world.run(jobId);
    const [a, b] = await Promise.all([first, late]);
    expect([a.status, b.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(progressAtResume.map((t) => t.done)).toEqual([2 * BLOCK_SIZE, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE]);
    // The stale claims (of invocation 1, with the items as created) were refused: each task started once.
    expect(world.callsTo('claimInvocation').filter((c) => c.args[2] === 0)).toHaveLength(6);
    expect(world.started().map((e) => [e.taskId, e.invocation])).toEqual([[0, 1], [1, 1], [2, 1]]);
  });

  it('starts every task once even when two runs poll the same job', async () => {
    const world = new World({ samplerConcurrency: 4 });
    const { view } = await world.submit(request(12));
    world.behave = () => 2; // one block every 2 ms
    const [a, b] = await Promise.all([world.run(view.jobId), world.run(view.jobId)]);
    expect(a.status).toBe('SUCCEEDED');
    expect(b.status).toBe('SUCCEEDED');
    expect(world.started().map((e) => e.taskId).sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(world.started().every((e) => e.invocation === 1)).toBe(true);
    expect(Math.max(...world.occupiedAtStart)).toBeLessThanOrEqual(3);
  });

  it('restarts a silent task after the stall limit, at most taskRestarts times, then fails at the deadline', async () => {
    const world = new World();
    const { view } = await world.submit(request(3));
    world.behave = (e) => (e.taskId === 1 ? 'silent' : 'finish');
    const result = await world.run(view.jobId);
    // Tasks 0 and 2 finished; task 1 reported its first block, then nothing.
    expect(result).toMatchObject({ status: 'FAILED', reason: 'deadline passed with 1 unfinished task(s)', failedTasks: [1], done: (2 * view.samples) / 3 + BLOCK_SIZE });
    const starts = world.samplers.filter((s) => s.event.taskId === 1);
    expect(starts.map((s) => s.event.invocation)).toEqual([1, 2, 3]);
    // The first run was heard from (its first block), so it is restarted a stall limit after that; the
    // restart reports nothing new (its one block is known), so it waits the unheard limit.
    const gaps = starts.slice(1).map((s, i) => s.runsAt - starts[i]!.runsAt);
    expect(gaps[0]).toBeGreaterThan(60_000);
    expect(gaps[0]).toBeLessThanOrEqual(61_000);
    expect(gaps[1]).toBeGreaterThan(120_000);
    expect(gaps[1]).toBeLessThanOrEqual(121_000);
    expect(world.started(0)).toHaveLength(1);
    expect(world.t).toBeGreaterThanOrEqual(START + 600_000);
    expect(world.t).toBeLessThan(START + 601_000);
  });

  it('waits for a task queued longer than the stall limit, restarts a lost one after unheardMs and a started, silent one after stallMs', async () => {
    const world = new World({ stallMs: 60_000, unheardMs: 120_000 });
    const { view } = await world.submit(request(3));
    world.behave = (e) => {
      if (e.invocation > 1) return 'finish';
      if (e.taskId === 0) return { queuedMs: 100_000, then: 'finish' }; // waits for concurrency, then runs
      return e.taskId === 1 ? 'lost' : 'silent';
    };
    expect((await world.run(view.jobId)).status).toBe('SUCCEEDED');
    const gap = (taskId: number) => {
      const [first, second] = world.samplers.filter((s) => s.event.taskId === taskId);
      return second!.runsAt - first!.runsAt;
    };
    expect(world.started(0).map((e) => e.invocation)).toEqual([1]);
    expect(world.started(1).map((e) => e.invocation)).toEqual([1, 2]);
    expect(gap(1)).toBeGreaterThan(120_000);
    expect(gap(1)).toBeLessThanOrEqual(121_000);
    expect(world.started(2).map((e) => e.invocation)).toEqual([1, 2]);
    expect(gap(2)).toBeGreaterThan(60_000);
    expect(gap(2)).toBeLessThanOrEqual(61_000);
    expect(world.t - START).toBeGreaterThanOrEqual(120_000);
  });

  it('does not restart a task that keeps reporting, however long it runs', async () => {
    const world = new World({ stallMs: 5_000 });
    const { view } = await world.submit(request(2, 100));
    world.behave = () => 1_000; // 100 s per task, one report a second
    expect((await world.run(view.jobId)).status).toBe('SUCCEEDED');
    expect(world.started().map((e) => e.invocation)).toEqual([1, 1]);
  });

  it('restarts a task whose sampler failed for good at the next poll, and the job succeeds', async () => {
    const world = new World();
    const { view } = await world.submit(request(3));
    world.behave = (e) => (e.taskId === 2 && e.invocation === 1 ? 'fail' : 'finish');
    expect((await world.run(view.jobId)).status).toBe('SUCCEEDED');
    const starts = world.samplers.filter((s) => s.event.taskId === 2);
    expect(starts.map((s) => s.event.invocation)).toEqual([1, 2]);
    expect(starts[1]!.runsAt - starts[0]!.runsAt).toBeLessThan(1_000);
    expect((await world.memory.loadTask(view.jobId, 2))!.failure).toBeUndefined();
  });

  it('keeps the reason of a job whose 1,000 tasks failed short, and each failure within 300 characters', async () => {
    const world = new World({ samplerConcurrency: 1000, taskRestarts: 0 });
    world.trackOccupancy = false;
    world.behave = () => 'fail';
    world.failureMessage = `out of memory ${'x'.repeat(5_000)}`;
    const { view } = await world.submit(request(1000, 1));
    const result = await world.run(view.jobId);
    expect(result.status).toBe('FAILED');
    expect(result.failedTasks).toHaveLength(1000);
    const { header, tasks } = (await world.memory.loadJob(view.jobId))!;
    expect(Buffer.byteLength(header.reason!)).toBeLessThan(2048);
    expect(header.reason).toMatch(/^task 0: sampler gave up \(RetriesExhausted, 3 attempt\(s\)\): Error: out of memory x+…; task 1: /);
    expect(header.reason).toMatch(/; and 995 more failed task\(s\)$/);
    expect(tasks.every((t) => t.failure!.length > 0 && t.failure!.length <= MAX_FAILURE_CHARS)).toBe(true);
    expect(result.taskProgress.every((t) => t.failure!.length <= MAX_FAILURE_CHARS)).toBe(true);
  });

  it('records a sampler that could not be started, restarts it, and fails the job when every start fails', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    const tries: number[] = [];
    world.behave = (e) => {
      if (e.taskId !== 0) return 'finish';
      tries.push(e.invocation);
      return 'reject';
    };
    const result = await world.run(view.jobId);
    expect(tries).toEqual([1, 2, 3]);
    expect(result).toMatchObject({ status: 'FAILED', failedTasks: [0], reason: 'task 0: could not start the sampler: Rate exceeded' });
    expect(world.callsTo('recordTaskFailure').map((c) => c.args.slice(0, 4))).toEqual([1, 2, 3].map((n) => [view.jobId, 0, n, 'could not start the sampler: Rate exceeded']));
    expect(world.t - START).toBeLessThan(5_000);
  });

  it('hands over to a new run before its remaining time runs out, and the new run finishes the job', async () => {
    const world = new World();
    const { view } = await world.submit(request(3, 40));
    world.behave = () => 1_000; // 40 s per task
    const first = await world.run(view.jobId, 30_000);
    expect(first.status).toBe('RUNNING');
    expect(world.runs).toEqual([view.jobId, view.jobId]);
    // It hands over at the first poll that leaves less than two polls and 5 s, not earlier.
    const handover = world.t - START;
    expect(handover).toBeGreaterThan(30_000 - 7_000);
    expect(handover).toBeLessThanOrEqual(30_000 - 7_000 + 1_000);
    const second = await world.run(view.jobId);
    expect(second.status).toBe('SUCCEEDED');
    expect(world.started().map((e) => e.invocation)).toEqual([1, 1, 1]);
  });

  it('writes a heartbeat when it starts and then every third of the stall limit, not every poll', async () => {
    const world = new World({ stallMs: 60_000 });
    const { view } = await world.submit(request(1, 100));
    world.behave = () => 1_000; // 100 s
    expect((await world.run(view.jobId)).status).toBe('SUCCEEDED');
    const beats = world.callsTo('beatRun').map((c) => c.args[1] as number);
    expect(beats[0]).toBe(START);
    // About 100 s of polling, once a second: a beat at the start and one every 20 s, where the job ends.
    expect(world.callsTo('loadJob').length).toBeGreaterThan(100);
    expect(beats.length).toBe(6);
    for (let i = 1; i < beats.length; i++) {
      expect(beats[i]! - beats[i - 1]!).toBeGreaterThanOrEqual(20_000);
      expect(beats[i]! - beats[i - 1]!).toBeLessThanOrEqual(21_000);
    }
    expect((await world.memory.loadJob(view.jobId))!.header.runHeartbeatAt).toBe(beats.at(-1));
  });

  it('returns an ended job as it is, starting nothing; an unknown job is an error', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await cancelJob(view.jobId, ALICE, world.deps);
    const calls = world.calls.length;
    expect((await world.run(view.jobId)).status).toBe('CANCELLED');
    expect(world.calls.slice(calls).map((c) => c.method)).toEqual(['loadJob']);
    expect(world.started()).toEqual([]);
    await expect(world.run('no-such-job')).rejects.toThrow(UnknownJobError);
  });
});

describe('cancelJob', () => {
  it('stops every task before freezing the counts: later reports are refused, the run ends CANCELLED', async () => {
    const world = new World();
    const { view } = await world.submit(request(3, 100));
    const jobId = view.jobId;
    world.behave = () => 1_000;
    let cancelled: JobView | undefined;
    world.onSleep = async () => {
      if (cancelled === undefined && world.t - START >= 10_000) cancelled = await cancelJob(jobId, ALICE, world.deps);
    };
    const result = await world.run(jobId);
    expect(cancelled).toBeDefined();
    expect(cancelled).toMatchObject({ status: 'CANCELLED', reason: 'cancelled by request' });
    expect(cancelled!.done).toBeGreaterThan(0);
    expect(cancelled!.done).toBeLessThan(view.samples);
    expect(result).toMatchObject({ status: 'CANCELLED', done: cancelled!.done, inside: cancelled!.inside });

    const stop = world.calls.findIndex((c) => c.method === 'stopTasks');
    expect((world.calls[stop]!.args[0] as TaskItem[]).map((t) => t.taskId)).toEqual([0, 1, 2]);
    expect(stop).toBeLessThan(world.calls.findIndex((c) => c.method === 'finishJob'));
    const { header, tasks } = (await world.memory.loadJob(jobId))!;
    expect(header).toMatchObject({ status: 'CANCELLED', done: cancelled!.done, inside: cancelled!.inside });
    expect(header.cancelRequestedAt).toBeDefined();
    expect(tasks.map((t) => t.done).reduce((a, b) => a + b)).toBe(cancelled!.done);
    expect(await world.admittedIds('stack')).toEqual([]);
    // Every sampler learns of it at its next report and stops.
    world.t += 1_000;
    await world.tick();
    expect(world.samplers.every((s) => s.ended)).toBe(true);
    const late = await world.memory.applyReport({ jobId, taskId: 0, done: 100 * BLOCK_SIZE, inside: 1 }, world.t);
    expect(late.cancelled).toBe(true);
    expect(await settleJob(jobId, world.deps)).toMatchObject({ status: 'CANCELLED', done: cancelled!.done });
  });

  it('stops a job of many tasks paced: at most 50 stops every 100 ms', async () => {
    const world = new World();
    const { view } = await world.submit(request(120, 1));
    await world.writeTasks(view.jobId);
    await cancelJob(view.jobId, ALICE, world.deps);
    const stops = world.callsTo('stopTasks').map((c) => ({ at: c.at - START, taskIds: (c.args[0] as TaskItem[]).map((t) => t.taskId) }));
    expect(stops.map((s) => [s.at, s.taskIds.length])).toEqual([[0, 50], [100, 50], [200, 20]]);
    expect(stops.flatMap((s) => s.taskIds)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect((await world.memory.loadJob(view.jobId))!.tasks.every((t) => t.cancelled === true)).toBe(true);
  });

  it('answers a second cancel with the cancelled job', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    const first = await cancelJob(view.jobId, ALICE, world.deps);
    world.t += 5;
    expect(await cancelJob(view.jobId, ALICE, world.deps)).toEqual(first);
    expect(world.callsTo('finishJob')).toHaveLength(1);
  });

  it('answers 409 for a job that already ended, and 404 for an unknown one', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await world.run(view.jobId);
    await expectApiError(cancelJob(view.jobId, ALICE, world.deps), 409, 'JobFinished');
    expect((await world.memory.loadJob(view.jobId))!.header).not.toHaveProperty('cancelRequestedAt');
    await expectApiError(cancelJob('no-such-job', ALICE, world.deps), 404, 'JobNotFound');
  });
});

describe('revival of a silent run', () => {
  it('a read that finds the run silent for the stall limit starts the next tasks and one new run, once among concurrent readers', async () => {
    const world = new World({ samplerConcurrency: 3 });
    const { view } = await world.submit(request(10));
    const jobId = view.jobId;
    // The run wrote the task items, then died: nothing polls the job.
    await world.writeTasks(jobId);
    world.t = START + 60_000;
    expect((await settleJob(jobId, world.deps)).status).toBe('RUNNING');
    expect(world.started()).toEqual([]);
    expect(world.runs).toEqual([jobId]);

    world.t += 1;
    const views = await Promise.all([settleJob(jobId, world.deps), settleJob(jobId, world.deps), settleJob(jobId, world.deps)]);
    expect(views.map((v) => v.status)).toEqual(['RUNNING', 'RUNNING', 'RUNNING']);
    expect(world.runs).toEqual([jobId, jobId]);
    expect(world.started().map((e) => [e.taskId, e.invocation])).toEqual([[0, 1], [1, 1], [2, 1]]);
    expect(world.callsTo('claimRunRevival').length).toBe(3);
    expect((await world.memory.loadJob(jobId))!.header.runHeartbeatAt).toBe(world.t);

    // The revived run's heartbeat is fresh: the next reader starts nothing.
    await settleJob(jobId, world.deps);
    expect(world.runs).toHaveLength(2);
    expect((await world.run(jobId)).status).toBe('SUCCEEDED');
  });

  it('revives a run whose event was lost before it started a task: the reader starts the first wave', async () => {
    const world = new World({ samplerConcurrency: 2 });
    const { view } = await world.submit(request(3));
    world.t = START + 60_001;
    expect((await settleJob(view.jobId, world.deps)).status).toBe('RUNNING');
    expect(world.runs).toEqual([view.jobId, view.jobId]);
    expect(world.started().map((e) => [e.taskId, e.invocation])).toEqual([[0, 1], [1, 1]]);
    expect((await world.memory.loadJob(view.jobId))!.tasks.map((t) => t.taskId)).toEqual([0, 1]);
    expect((await world.run(view.jobId)).status).toBe('SUCCEEDED');
  });

  it('measures the silence from the last heartbeat of a run that died', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    const jobId = view.jobId;
    world.behave = () => 'silent';
    // A run that dies after its first poll: it beat, wrote the tasks and started both.
    world.onSleep = () => {
      throw new Error('the run died');
    };
    await expect(world.run(jobId)).rejects.toThrow('the run died');
    world.onSleep = () => {};
    const beat = (await world.memory.loadJob(jobId))!.header.runHeartbeatAt!;
    expect(world.started()).toHaveLength(2);
    world.t = beat + 60_000;
    await settleJob(jobId, world.deps);
    expect(world.runs).toEqual([jobId]);
    world.t += 1;
    await settleJob(jobId, world.deps);
    expect(world.runs).toEqual([jobId, jobId]);
    // Both tasks had started and were silent past the stall limit too: the revival restarted them.
    expect(world.started().map((e) => [e.taskId, e.invocation])).toEqual([[0, 1], [1, 1], [0, 2], [1, 2]]);
  });

  it('starts no run for a job that has ended', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await world.run(view.jobId);
    world.t += 10 * MS_PER_DAY;
    await settleJob(view.jobId, world.deps);
    expect(world.runs).toEqual([view.jobId]);
    expect(world.callsTo('claimRunRevival')).toEqual([]);
  });
});

describe('waitForJob', () => {
  it('returns as soon as the job ends', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    const jobId = view.jobId;
    await world.writeTasks(jobId);
    await world.memory.applyReport({ jobId, taskId: 0, done: 2 * BLOCK_SIZE, inside: 1 }, world.t);
    world.onSleep = async () => {
      if (world.t - START >= 600) await world.memory.applyReport({ jobId, taskId: 1, done: 2 * BLOCK_SIZE, inside: 1 }, world.t);
    };
    const result = await waitForJob(jobId, ALICE, START + 25_000, world.deps);
    expect(result.status).toBe('SUCCEEDED');
    expect(world.t - START).toBe(750);
  });

  it('gives up before its limit with the job still running, and the job goes on', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await world.memory.beatRun(view.jobId, world.t);
    const result = await waitForJob(view.jobId, ALICE, START + 1_100, world.deps);
    expect(result.status).toBe('RUNNING');
    // Another wait of 250 ms would have ended past the limit.
    expect(world.t - START).toBe(1_000);
    expect((await world.memory.loadJob(view.jobId))!.header.status).toBe('RUNNING');
  });

  it('never returns later than its limit plus one read, however long reads take', async () => {
    for (const [limitMs, readMs] of [[0, 0], [1, 0], [250, 0], [5_000, 0], [5_000, 40], [5_000, 130], [5_000, 900], [800, 2_000]] as const) {
      const world = new World();
      const { view } = await world.submit(request(2));
      await world.memory.beatRun(view.jobId, world.t);
      // Reads take longer and longer, up to readMs.
      let reads = 0;
      world.beforeCall = async (method) => {
        if (method === 'loadJob') world.t += Math.min(readMs, 10 * ++reads);
      };
      const until = world.t + limitMs;
      const result = await waitForJob(view.jobId, ALICE, until, world.deps);
      expect(result.status).toBe('RUNNING');
      expect(world.t).toBeLessThanOrEqual(until + readMs);
    }
  });

  it('answers 404 for an unknown job', async () => {
    await expectApiError(waitForJob('no-such-job', ALICE, START + 1_000, new World().deps), 404, 'JobNotFound');
  });
});
