import { describe, expect, it } from 'vitest';
import { cancelJob, runJob, settleJob, submitJob, waitForJob, type JobDeps } from '../../functions/orchestrator/jobs.js';
import { ApiError, UnknownJobError } from '../../functions/shared/errors.js';
import { planTasks, type JobRequest, type JobView, type SamplerEvent } from '../../functions/shared/job.js';
import { BLOCK_SIZE, samplesInBlocks } from '../../functions/shared/kernel/stream-rule.js';
import { InMemoryJobStore } from '../../functions/shared/store/memory.js';
import type { JobStore } from '../../functions/shared/store/port.js';

/**
 * The job logic on virtual time: the in-memory store, a clock that only moves when the code sleeps, and
 * samplers that act on the store when the clock moves. No timers, no real sleeps.
 */

/** What a started sampler does: report its whole task, report one block every N ms, nothing, fail for good, or fail to start. */
type Behaviour = 'finish' | number | 'silent' | 'fail' | 'reject';

interface Sampler {
  event: SamplerEvent;
  startedAt: number;
  behaviour: Behaviour;
  ended: boolean;
}

const START = 1_700_000_000_000;
const MS_PER_DAY = 86_400_000;

/** The inside count a task reports for `done` samples: any function of `done` alone, as the real streams are. */
const insideFor = (done: number) => Math.floor((done * 3) / 4);

const taskSamples = (event: SamplerEvent) => samplesInBlocks(event.startBlock, event.endBlock, event.samples);

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
  behave: (event: SamplerEvent) => Behaviour = () => 'finish';
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
        const job = this.memory.snapshot().find((j) => j.jobId === event.jobId)!;
        this.occupiedAtStart.push(job.tasks.filter((t) => t.taskId !== event.taskId && t.invocations > 0 && t.done < t.samples).length);
        const behaviour = this.behave(event);
        if (behaviour === 'reject') throw new Error('Rate exceeded');
        this.samplers.push({ event, startedAt: this.t, behaviour, ended: false });
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
      samplerConcurrency: 100,
      ...overrides,
    };
  }

  /** Every live sampler acts on the store as its behaviour says, as of now. */
  async tick(): Promise<void> {
    for (const sampler of this.samplers) {
      if (sampler.ended || sampler.behaviour === 'silent') continue;
      const { event } = sampler;
      if (sampler.behaviour === 'fail') {
        await this.memory.recordTaskFailure(event.jobId, event.taskId, event.invocation, 'sampler gave up: Error: boom', this.t);
        sampler.ended = true;
        continue;
      }
      const samples = taskSamples(event);
      const msPerBlock = sampler.behaviour === 'finish' ? 0 : (sampler.behaviour as number);
      const blocks = msPerBlock === 0 ? Infinity : Math.floor((this.t - sampler.startedAt) / msPerBlock);
      const done = Math.min(samples, blocks * BLOCK_SIZE);
      if (done === 0) continue;
      const answer = await this.memory.applyReport({ jobId: event.jobId, taskId: event.taskId, done, inside: insideFor(done) }, this.t);
      if (answer.cancelled || answer.done >= samples) sampler.ended = true;
    }
  }

  submit(request: JobRequest, idempotencyKey?: string) {
    return submitJob(request, idempotencyKey, this.deps);
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
}

/** A request of `tasks` tasks of `blocksPerTask` whole blocks each. */
const request = (tasks: number, blocksPerTask = 2, seed = 7): JobRequest => ({ samples: tasks * blocksPerTask * BLOCK_SIZE, tasks, seed });

async function expectApiError(promise: Promise<unknown>, statusCode: number, code: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  expect(error).toMatchObject({ statusCode, code });
}

describe('submitJob', () => {
  it('creates the header and every task item, and starts one run', async () => {
    const world = new World();
    const { view, created } = await world.submit(request(5, 3, 42));
    expect(created).toBe(true);
    expect(view).toMatchObject({ status: 'RUNNING', seed: 42, samples: 5 * 3 * BLOCK_SIZE, tasks: 5, done: 0, progress: 0, estimate: null });
    const job = (await world.memory.loadJob(view.jobId))!;
    expect(job.header).toEqual({
      jobId: view.jobId,
      seed: 42,
      samples: 5 * 3 * BLOCK_SIZE,
      tasks: 5,
      status: 'RUNNING',
      createdAt: START,
      deadlineAt: START + 600_000,
      expiresAt: START / 1000 + 7 * 86_400,
      maxInvocations: 3,
    });
    expect(job.tasks).toEqual(
      planTasks(5 * 3 * BLOCK_SIZE, 5).map((plan) => ({ ...plan, jobId: view.jobId, done: 0, inside: 0, invocations: 0, expiresAt: START / 1000 + 7 * 86_400 })),
    );
    expect(world.runs).toEqual([view.jobId]);
    expect(world.started()).toEqual([]);
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

  it('returns the same job for a repeated idempotency key, without creating or starting anything', async () => {
    const world = new World();
    const first = await world.submit({ samples: 4 * BLOCK_SIZE, tasks: 2 }, 'key-1');
    await world.run(first.view.jobId);
    const before = world.memory.snapshot();
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
    expect(world.callsTo('createMissingTasks')).toEqual([]);
  });

  it('derives the job id from the idempotency key alone', async () => {
    const a = await new World().submit(request(1), 'same key');
    const b = await new World().submit(request(1), 'same key');
    const c = await new World().submit(request(1), 'other key');
    expect(a.view.jobId).toBe(b.view.jobId);
    expect(c.view.jobId).not.toBe(a.view.jobId);
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

  it('repairs a creation cut short: the retry writes the missing tasks and starts the run', async () => {
    const world = new World();
    // The first request dies after the header and the first two task items.
    const createJob = world.memory.createJob.bind(world.memory);
    world.memory.createJob = async (header, tasks) => {
      await createJob(header, tasks.slice(0, 2));
      throw new Error('the function timed out');
    };
    await expect(world.submit(request(5), 'key-3')).rejects.toThrow('timed out');
    world.memory.createJob = createJob;
    const jobId = world.memory.snapshot()[0]!.jobId;
    await world.memory.applyReport({ jobId, taskId: 0, done: BLOCK_SIZE, inside: 1000 }, world.t);
    expect(world.runs).toEqual([]);

    const retry = await world.submit(request(5), 'key-3');
    expect(retry.created).toBe(false);
    expect(retry.view.jobId).toBe(jobId);
    expect(retry.view.taskProgress.map((t) => t.taskId)).toEqual([0, 1, 2, 3, 4]);
    expect(world.callsTo('createMissingTasks')[0]!.args[0]).toMatchObject([{ taskId: 2 }, { taskId: 3 }, { taskId: 4 }]);
    // The progress already accepted is kept.
    expect((await world.memory.loadTask(jobId, 0))!.done).toBe(BLOCK_SIZE);
    expect(world.runs).toEqual([jobId]);

    // A second retry finds nothing to repair and the run claimed: it starts no other run.
    await world.submit(request(5), 'key-3');
    expect(world.runs).toEqual([jobId]);
    expect(world.callsTo('createMissingTasks')).toHaveLength(1);
    expect((await world.run(jobId)).status).toBe('SUCCEEDED');
  });
});

describe('settleJob', () => {
  it('ends SUCCEEDED when every task is done, freezing the counts without stopping the tasks', async () => {
    const world = new World();
    const { view } = await world.submit(request(3));
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
    // Settled once: a later reader writes nothing.
    world.t += 10;
    expect(await settleJob(view.jobId, world.deps)).toEqual(settled);
    expect(world.callsTo('finishJob')).toHaveLength(1);
  });

  it('stays RUNNING while work is missing, and writes nothing', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await world.memory.applyReport({ jobId: view.jobId, taskId: 0, done: 2 * BLOCK_SIZE, inside: 5 }, world.t);
    const before = world.memory.snapshot();
    expect((await settleJob(view.jobId, world.deps)).status).toBe('RUNNING');
    expect(world.memory.snapshot()).toEqual(before);
  });

  it('ends FAILED naming a task that failed its last invocation, stops every task and freezes the counts', async () => {
    const world = new World();
    const { view } = await world.submit(request(3));
    const jobId = view.jobId;
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
    expect((await world.memory.loadJob(jobId))!.tasks.every((t) => t.cancelled === true)).toBe(true);
    await world.memory.applyReport({ jobId, taskId: 2, done: 2 * BLOCK_SIZE, inside: 10 }, world.t);
    world.t += 1000;
    expect(await settleJob(jobId, world.deps)).toEqual(settled);
    expect(world.runs).toEqual([jobId]);
  });

  it('freezes the counts as of the stop, with a report that landed between the read and the stop', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    const jobId = view.jobId;
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
    const startTimes = [...new Set(world.samplers.map((s) => s.startedAt))];
    expect(startTimes).toHaveLength(4);
    expect(world.samplers.map((s) => startTimes.indexOf(s.startedAt))).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
    expect(world.started()[0]).toEqual({ jobId: view.jobId, taskId: 0, seed: 7, samples: view.samples, startBlock: 0, endBlock: 2, invocation: 1 });
    expect(world.runs).toEqual([view.jobId]);
  });

  it('ends as soon as small jobs finish: it polls fast while the job is young', async () => {
    const world = new World();
    const { view } = await world.submit(request(4));
    await world.run(view.jobId);
    expect(world.t - START).toBe(100);
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
    expect(result).toMatchObject({ status: 'FAILED', reason: 'deadline passed with 1 unfinished task(s)', failedTasks: [1], done: 2 * view.samples / 3 });
    const starts = world.samplers.filter((s) => s.event.taskId === 1);
    expect(starts.map((s) => s.event.invocation)).toEqual([1, 2, 3]);
    for (let i = 1; i < starts.length; i++) {
      const gap = starts[i]!.startedAt - starts[i - 1]!.startedAt;
      expect(gap).toBeGreaterThan(60_000);
      expect(gap).toBeLessThanOrEqual(61_000);
    }
    expect(world.started(0)).toHaveLength(1);
    expect(world.t).toBeGreaterThanOrEqual(START + 600_000);
    expect(world.t).toBeLessThan(START + 601_000);
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
    expect(starts[1]!.startedAt - starts[0]!.startedAt).toBeLessThan(1_000);
    expect((await world.memory.loadTask(view.jobId, 2))!.failure).toBeUndefined();
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
    await cancelJob(view.jobId, world.deps);
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
      if (cancelled === undefined && world.t - START >= 10_000) cancelled = await cancelJob(jobId, world.deps);
    };
    const result = await world.run(jobId);
    expect(cancelled).toBeDefined();
    expect(cancelled).toMatchObject({ status: 'CANCELLED', reason: 'cancelled by request' });
    expect(cancelled!.done).toBeGreaterThan(0);
    expect(cancelled!.done).toBeLessThan(view.samples);
    expect(result).toMatchObject({ status: 'CANCELLED', done: cancelled!.done, inside: cancelled!.inside });

    const stop = world.calls.findIndex((c) => c.method === 'stopTasks');
    expect(world.calls[stop]!.args[1]).toEqual([0, 1, 2]);
    expect(stop).toBeLessThan(world.calls.findIndex((c) => c.method === 'finishJob'));
    const { header, tasks } = (await world.memory.loadJob(jobId))!;
    expect(header).toMatchObject({ status: 'CANCELLED', done: cancelled!.done, inside: cancelled!.inside });
    expect(header.cancelRequestedAt).toBeDefined();
    expect(tasks.map((t) => t.done).reduce((a, b) => a + b)).toBe(cancelled!.done);
    // Every sampler learns of it at its next report and stops.
    world.t += 1_000;
    await world.tick();
    expect(world.samplers.every((s) => s.ended)).toBe(true);
    const late = await world.memory.applyReport({ jobId, taskId: 0, done: 100 * BLOCK_SIZE, inside: 1 }, world.t);
    expect(late.cancelled).toBe(true);
    expect(await settleJob(jobId, world.deps)).toMatchObject({ status: 'CANCELLED', done: cancelled!.done });
  });

  it('answers a second cancel with the cancelled job', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    const first = await cancelJob(view.jobId, world.deps);
    world.t += 5;
    expect(await cancelJob(view.jobId, world.deps)).toEqual(first);
    expect(world.callsTo('finishJob')).toHaveLength(1);
  });

  it('answers 409 for a job that already ended, and 404 for an unknown one', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await world.run(view.jobId);
    await expectApiError(cancelJob(view.jobId, world.deps), 409, 'JobFinished');
    expect((await world.memory.loadJob(view.jobId))!.header).not.toHaveProperty('cancelRequestedAt');
    await expectApiError(cancelJob('no-such-job', world.deps), 404, 'JobNotFound');
  });
});

describe('revival of a silent run', () => {
  it('a read that finds the run silent for the stall limit starts the next tasks and one new run, once among concurrent readers', async () => {
    const world = new World({ samplerConcurrency: 3 });
    const { view } = await world.submit(request(10));
    const jobId = view.jobId;
    // The run's event was lost: nothing polls the job.
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

  it('measures the silence from the last heartbeat of a run that died', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    const jobId = view.jobId;
    world.behave = () => 'silent';
    // A run that dies after its first poll: it beat and started both tasks.
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
    // Both tasks were silent past the stall limit too: the revival restarted them.
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
    await world.memory.applyReport({ jobId, taskId: 0, done: 2 * BLOCK_SIZE, inside: 1 }, world.t);
    world.onSleep = async () => {
      if (world.t - START >= 600) await world.memory.applyReport({ jobId, taskId: 1, done: 2 * BLOCK_SIZE, inside: 1 }, world.t);
    };
    const result = await waitForJob(jobId, 25_000, world.deps);
    expect(result.status).toBe('SUCCEEDED');
    expect(world.t - START).toBe(750);
  });

  it('gives up at its limit with the job still running, and the job goes on', async () => {
    const world = new World();
    const { view } = await world.submit(request(2));
    await world.memory.beatRun(view.jobId, world.t);
    const result = await waitForJob(view.jobId, 1_100, world.deps);
    expect(result.status).toBe('RUNNING');
    expect(world.t - START).toBe(1_100);
    expect((await world.memory.loadJob(view.jobId))!.header.status).toBe('RUNNING');
  });

  it('answers 404 for an unknown job', async () => {
    await expectApiError(waitForJob('no-such-job', 1_000, new World().deps), 404, 'JobNotFound');
  });
});
