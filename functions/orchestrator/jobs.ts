import { randomInt, randomUUID, createHash } from 'node:crypto';
import { ApiError, UnknownJobError } from '../shared/errors.js';
import {
  deriveOutcome,
  isFinal,
  planTasks,
  samplerEvent,
  tasksToStart,
  viewJob,
  type JobHeader,
  type JobRequest,
  type JobView,
  type SamplerEvent,
  type TaskItem,
} from '../shared/job.js';
import type { JobStore, StoredJob } from '../shared/store/port.js';

/** What the job operations need from the outside world; the handler wires AWS, tests wire fakes or dynalite. */
export interface JobDeps {
  store: JobStore;
  /** Starts one sampler run (Lambda async invoke). */
  startSampler(event: SamplerEvent): Promise<void>;
  /** Starts the job's polling run (the orchestrator's own async invoke). */
  startRun(jobId: string): Promise<void>;
  now(): number;
  sleep(ms: number): Promise<void>;
  jobTimeoutMs: number;
  ttlSeconds: number;
  pollIntervalMs: number;
  /** How often a task may be started again after it failed or went silent. */
  taskRestarts: number;
  stallMs: number;
  /** The sampler's reserved concurrency: at most this many of a job's tasks run (or wait to) at once. */
  samplerConcurrency: number;
}

export interface SubmitResult {
  view: JobView;
  created: boolean;
}

const FAN_OUT_CONCURRENCY = 16;

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A job id derived from the idempotency key, so a repeated request finds the job it created. */
function jobIdFor(idempotencyKey: string | undefined): string {
  if (idempotencyKey === undefined) return randomUUID();
  const hex = createHash('sha256').update(`idempotency-key:${idempotencyKey}`).digest('hex');
  // Shape it as a version-8 (custom) UUID so every job id looks alike.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Creates the job and its task items, then starts its run. Idempotent under an idempotency key. */
export async function submitJob(request: JobRequest, idempotencyKey: string | undefined, deps: JobDeps): Promise<SubmitResult> {
  const now = deps.now();
  const jobId = jobIdFor(idempotencyKey);
  const expiresAt = Math.ceil(now / 1000) + deps.ttlSeconds;
  const header: JobHeader = {
    jobId,
    seed: request.seed ?? randomInt(0, 2 ** 48 - 1),
    samples: request.samples,
    tasks: request.tasks,
    status: 'RUNNING',
    createdAt: now,
    deadlineAt: now + deps.jobTimeoutMs,
    expiresAt,
    maxInvocations: 1 + deps.taskRestarts,
    ...(idempotencyKey !== undefined && { idempotencyKey }),
  };
  const tasks = newTasks(header);
  if (!(await deps.store.createJob(header, tasks))) {
    const existing = await deps.store.loadJob(jobId);
    if (!existing) throw new Error(`job ${jobId} exists but could not be read`);
    const same =
      existing.header.samples === request.samples &&
      existing.header.tasks === request.tasks &&
      (request.seed === undefined || request.seed === existing.header.seed);
    if (!same) {
      throw new ApiError(422, 'IdempotencyKeyReused', 'this Idempotency-Key was already used for a different request');
    }
    // The first request may have died after writing the header: finish what it left undone.
    const written = new Set(existing.tasks.map((t) => t.taskId));
    const missing = newTasks(existing.header).filter((t) => !written.has(t.taskId));
    if (missing.length > 0) await deps.store.createMissingTasks(missing);
    if (existing.header.status === 'RUNNING' && existing.header.runHeartbeatAt === undefined) {
      if (await deps.store.claimRunRevival(jobId, undefined, deps.now())) await deps.startRun(jobId);
    }
    const repaired = missing.length > 0 ? ((await deps.store.loadJob(jobId)) ?? existing) : existing;
    return { view: viewJob(repaired.header, repaired.tasks, deps.now()), created: false };
  }
  await deps.startRun(jobId);
  return { view: viewJob(header, tasks, now), created: true };
}

function newTasks(header: JobHeader): TaskItem[] {
  return planTasks(header.samples, header.tasks).map((plan) => ({
    ...plan,
    jobId: header.jobId,
    done: 0,
    inside: 0,
    invocations: 0,
    expiresAt: header.expiresAt,
  }));
}

/**
 * Reads the job and, when its items show it has ended, writes the final outcome once. Any reader can
 * do this, so a job finishes even when its polling run died; and when the run has been silent for
 * longer than the stall limit (its event lost, or it died), the reader starts a new one.
 */
export async function settleJob(jobId: string, deps: JobDeps): Promise<JobView> {
  const { header, tasks } = await settle(jobId, deps);
  const view = viewJob(header, tasks, deps.now());
  if (!isFinal(view.status) && deps.now() - (header.runHeartbeatAt ?? header.createdAt) > deps.stallMs) {
    if (await deps.store.claimRunRevival(jobId, header.runHeartbeatAt, deps.now())) {
      // Do one round of the run's work right here (starting the next wave of tasks), then hand over to a
      // new run. Should the new run's event be lost too, the next wave waits for the next revival.
      await startTasks(header, nextTasks(header, tasks, deps), deps);
      await deps.startRun(jobId);
    }
  }
  return view;
}

async function settle(jobId: string, deps: JobDeps): Promise<StoredJob> {
  const job = await deps.store.loadJob(jobId);
  if (!job) throw new ApiError(404, 'JobNotFound', `job ${jobId} does not exist`);
  const outcome = deriveOutcome(job.header, job.tasks, deps.now());
  if (job.header.status !== 'RUNNING' || !isFinal(outcome.status)) return job;

  let final = outcome;
  if (outcome.status !== 'SUCCEEDED') {
    // Stop the samplers first, so no report lands after the counts are frozen.
    await deps.store.stopTasks(jobId, job.tasks.map((t) => t.taskId));
    const stopped = await deps.store.loadJob(jobId);
    if (!stopped) throw new UnknownJobError(jobId);
    const recount = deriveOutcome(stopped.header, stopped.tasks, deps.now());
    if (isFinal(recount.status)) final = recount;
  }
  await deps.store.finishJob(jobId, final, deps.now());
  const settled = await deps.store.loadJob(jobId);
  if (!settled) throw new UnknownJobError(jobId);
  return settled;
}

export async function cancelJob(jobId: string, deps: JobDeps): Promise<JobView> {
  if (!(await deps.store.requestCancel(jobId, deps.now()))) {
    const view = await settleJob(jobId, deps); // 404 if unknown
    if (view.status === 'CANCELLED') return view;
    throw new ApiError(409, 'JobFinished', `job ${jobId} already ended ${view.status}`);
  }
  return settleJob(jobId, deps);
}

/**
 * Starts each task's next invocation. The claim (a conditional write on the invocation count) makes a
 * duplicated run harmless: each invocation number is started once.
 */
async function startTasks(header: JobHeader, tasks: readonly TaskItem[], deps: JobDeps): Promise<void> {
  await forEachLimited(tasks, FAN_OUT_CONCURRENCY, async (task) => {
    if (!(await deps.store.claimInvocation(header.jobId, task.taskId, task.invocations, deps.now()))) return;
    const invocation = task.invocations + 1;
    try {
      await deps.startSampler(samplerEvent(header, task, invocation));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await deps.store.recordTaskFailure(header.jobId, task.taskId, invocation, `could not start the sampler: ${message}`, deps.now());
    }
  });
}

/** The run's next invocations, paced to the sampler's concurrency. */
function nextTasks(header: JobHeader, tasks: readonly TaskItem[], deps: JobDeps): TaskItem[] {
  return tasksToStart(header, tasks, deps.now(), deps.stallMs, deps.samplerConcurrency);
}

/**
 * The job's run: fan out, then poll until the job ends, restarting tasks that failed or went silent
 * (safe: runs are deterministic and reports idempotent). Before the orchestrator's own timeout it
 * hands over to a fresh run, so a job may outlive one Lambda invocation.
 */
export async function runJob(jobId: string, deps: JobDeps, remainingMs: () => number): Promise<JobView> {
  const job = await deps.store.loadJob(jobId);
  if (!job) throw new UnknownJobError(jobId);
  if (job.header.status !== 'RUNNING') return viewJob(job.header, job.tasks, deps.now());
  // The heartbeat tells readers this run is alive, so they start no other. They wait a stall limit
  // before reviving a run, so a beat every third of it is enough (one header write, not one a poll).
  const beatEveryMs = Math.max(deps.pollIntervalMs, deps.stallMs / 3);
  let lastBeat = deps.now();
  await deps.store.beatRun(jobId, lastBeat);
  await startTasks(job.header, nextTasks(job.header, job.tasks, deps), deps);
  // Poll quickly while the job is young (small jobs end within a fraction of a second), then settle
  // at the configured interval.
  let pollMs = Math.min(100, deps.pollIntervalMs);
  for (;;) {
    if (deps.now() - lastBeat >= beatEveryMs) {
      lastBeat = deps.now();
      await deps.store.beatRun(jobId, lastBeat);
    }
    const { header, tasks } = await settle(jobId, deps);
    const view = viewJob(header, tasks, deps.now());
    if (isFinal(view.status)) return view;
    await startTasks(header, nextTasks(header, tasks, deps), deps);
    if (remainingMs() < 2 * deps.pollIntervalMs + 5_000) {
      await deps.startRun(jobId);
      return view;
    }
    await deps.sleep(pollMs);
    pollMs = Math.min(deps.pollIntervalMs, Math.ceil(pollMs * 1.5));
  }
}

/** Waits for the job to end within `waitMs`; the job goes on regardless. */
export async function waitForJob(jobId: string, waitMs: number, deps: JobDeps): Promise<JobView> {
  const until = deps.now() + waitMs;
  for (;;) {
    const view = await settleJob(jobId, deps);
    if (isFinal(view.status) || deps.now() >= until) return view;
    await deps.sleep(Math.min(250, Math.max(0, until - deps.now())));
  }
}
