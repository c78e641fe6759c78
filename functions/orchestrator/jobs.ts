import { randomInt, randomUUID, createHash } from 'node:crypto';
import { emptyUsage, type JobUsage } from '../shared/cost.js';
import { ApiError, UnknownJobError } from '../shared/errors.js';
import {
  boundFailure,
  deriveOutcome,
  isFinal,
  jobBudget,
  planTasks,
  pollFloorMs,
  reportIntervalFor,
  samplerEvent,
  tasksToStart,
  viewJob,
  withUsage,
  type JobHeader,
  type JobRequest,
  type JobView,
  type SamplerEvent,
  type TaskItem,
} from '../shared/job.js';
import type { AdmissionEntry, AdmissionScope, JobStore, StoredJob } from '../shared/store/port.js';
import type { JobEvent } from '../shared/observability.js';
import { writeWithUsage, type InvocationMeter } from '../shared/usage-meter.js';

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
  /** A running task (one that has reported) silent this long is started again. */
  stallMs: number;
  /** A task invocation never heard from this long (its event lost) is started again. */
  unheardMs: number;
  /** Sampler invocations all running jobs together may have at once; each job runs its share. */
  samplerConcurrency: number;
  /** The samplers' least report interval; a job with many tasks at once gets a longer one. */
  reportIntervalMs: number;
  /** RUNNING jobs at most, in the stack and per caller. */
  maxRunningJobs: number;
  maxRunningJobsPerCaller: number;
  /** The partition throughput a job's budget is cut from (AWS: 1,000 write units a second). */
  partitionWriteUnitsPerSecond: number;
  /** Told of each job created, outcome written and sampler run started (metrics), and of failed requests. */
  observe?(event: JobEvent): void;
  /**
   * This invocation's meter: what it uses is recorded on the job's header (by the header's creation,
   * the run's heartbeats, and a last write of each invocation). Without one nothing is recorded.
   */
  meter?: InvocationMeter;
}

/** Who asks: the IAM principal (its ARN), and the request's idempotency key if it has one. */
export interface Caller {
  owner: string;
  idempotencyKey?: string;
}

export interface SubmitResult {
  view: JobView;
  created: boolean;
}

const FAN_OUT_CONCURRENCY = 16;
/**
 * An admitted job whose header never appeared (the request that admitted it died) gives its place
 * back after this long.
 */
const CREATION_GRACE_MS = 60_000;
/** How long a refused submit spends clearing a full scope, so it answers well before API Gateway's 29 s. */
const CLEAR_BUDGET_MS = 10_000;
/** How often a job's run reads how many jobs share the samplers. */
const SHARE_REFRESH_MS = 5_000;
/** Longest Retry-After we suggest: jobs usually end long before their deadline. */
const MAX_RETRY_AFTER_SECONDS = 30;

/** Runs `fn` over `items` with at most `limit` in flight. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Writes `items` in chunks of a tenth of the job's bulk budget every 100 ms: a job's bulk writes
 * (stopping its tasks) all go to its one partition.
 */
async function writePaced<T>(items: readonly T[], deps: JobDeps, write: (chunk: readonly T[]) => Promise<void>): Promise<void> {
  const chunkSize = Math.max(1, Math.floor(jobBudget(deps.partitionWriteUnitsPerSecond).bulkWritesPerSecond / 10));
  for (let i = 0; i < items.length; i += chunkSize) {
    const started = deps.now();
    await write(items.slice(i, i + chunkSize));
    if (i + chunkSize < items.length) await deps.sleep(Math.max(0, 100 - (deps.now() - started)));
  }
}

/**
 * A job id derived from the caller and the idempotency key, so a repeated request finds the job it
 * created, and the same key used by two callers names two jobs.
 */
function jobIdFor(caller: Caller): string {
  if (caller.idempotencyKey === undefined) return randomUUID();
  const hex = createHash('sha256').update(`idempotency-key:${caller.owner}\n${caller.idempotencyKey}`).digest('hex');
  // Shape it as a version-8 (custom) UUID so every job id looks alike.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const notFound = (jobId: string) => new ApiError(404, 'JobNotFound', `job ${jobId} does not exist`);

/**
 * Admits the job, then creates its header and starts its run; a task's item is written when the task
 * is first started. Past the limits on running jobs it answers 429 and writes no job. Idempotent
 * under an idempotency key.
 */
export async function submitJob(request: JobRequest, caller: Caller, deps: JobDeps): Promise<SubmitResult> {
  const jobId = jobIdFor(caller);
  if (caller.idempotencyKey !== undefined) {
    const existing = await deps.store.loadJob(jobId);
    if (existing) return resume(existing, request, deps);
  }
  const now = deps.now();
  const header: JobHeader = {
    jobId,
    seed: request.seed ?? randomInt(0, 2 ** 48 - 1),
    samples: request.samples,
    tasks: request.tasks,
    status: 'RUNNING',
    createdAt: now,
    deadlineAt: now + deps.jobTimeoutMs,
    expiresAt: Math.ceil(now / 1000) + deps.ttlSeconds,
    maxInvocations: 1 + deps.taskRestarts,
    owner: caller.owner,
    ...(caller.idempotencyKey !== undefined && { idempotencyKey: caller.idempotencyKey }),
  };
  const places = await admit(header, deps);
  // Past the grace, a full scope may have taken the places for lost and given them away.
  if (places.some(([, entry]) => deps.now() - entry.admittedAt > CREATION_GRACE_MS)) {
    await releasePlaces(places, jobId, deps);
    throw new ApiError(503, 'ServiceUnavailable', 'the job could not be created in time; repeat the request');
  }
  // The header starts with what this request used so far; its own units are recorded by the last write.
  let creation: JobUsage | undefined;
  const created = await writeWithUsage(
    deps.meter?.source({}),
    (usage) => deps.store.createJob(usage ? { ...header, usage: (creation = usage) } : header),
    (applied) => applied,
  );
  if (!created) {
    const existing = await deps.store.loadJob(jobId);
    if (!existing) throw new Error(`job ${jobId} exists but could not be read`);
    // A concurrent request with the same key created it first; unless the header is this one (its
    // put was applied and the SDK's retry of it found it there): then go on as created.
    const ours = existing.header.createdAt === header.createdAt && existing.header.seed === header.seed;
    if (!ours) return resume(existing, request, deps);
  }
  // The places now hold a job that exists: never taken for a request that died.
  for (const [scope, entry] of places) await deps.store.admit(scope, jobId, { ...entry, created: true }, 0);
  await deps.startRun(jobId);
  deps.observe?.({ kind: 'submitted' });
  return { view: viewJob(created && creation ? { ...header, usage: creation } : header, [], now), created: true };
}

/**
 * A repeated request: the same job if the request is the same. Read as a GET reads it, so a run that
 * the first request died before starting is started once it is a stall limit late.
 */
async function resume(existing: StoredJob, request: JobRequest, deps: JobDeps): Promise<SubmitResult> {
  const { header } = existing;
  const same = header.samples === request.samples && header.tasks === request.tasks && (request.seed === undefined || request.seed === header.seed);
  if (!same) throw new ApiError(422, 'IdempotencyKeyReused', 'this Idempotency-Key was already used for a different request');
  return { view: await settleJob(header.jobId, deps, header.owner), created: false };
}

/** The scopes a job counts in, with their limits. */
function scopesOf(owner: string, deps: JobDeps): [AdmissionScope, number][] {
  return [
    ['stack', deps.maxRunningJobs],
    [{ caller: owner }, deps.maxRunningJobsPerCaller],
  ];
}

/** The places a submit took: each scope with the entry it wrote there. */
type Places = [AdmissionScope, AdmissionEntry][];

/**
 * Takes a place for the job in the stack's and the caller's running jobs, or throws 429 TooManyJobs
 * having taken none. A full scope is first cleared of jobs that ended without giving their place
 * back (their writer died, or their deadline passed with no run left to notice). A place the job
 * already holds (a repeated request) is renewed.
 */
async function admit(header: JobHeader, deps: JobDeps): Promise<Places> {
  const places: Places = [];
  const added: Places = [];
  for (const [scope, limit] of scopesOf(header.owner, deps)) {
    // Stamped at each admit: a place's grace counts from when it was taken, not from before a slow clearing.
    let entry: AdmissionEntry = { admittedAt: deps.now(), deadlineAt: header.deadlineAt, token: randomUUID() };
    let result = await deps.store.admit(scope, header.jobId, entry, limit);
    if (result === 'refused') {
      const { freed, retryAfterSeconds } = await clearEnded(scope, deps);
      if (freed > 0) {
        entry = { admittedAt: deps.now(), deadlineAt: header.deadlineAt, token: randomUUID() };
        result = await deps.store.admit(scope, header.jobId, entry, limit);
      }
      if (result === 'refused') {
        // Give back only the places this request added (a twin request may hold the others).
        await releasePlaces(added, header.jobId, deps);
        const message =
          scope === 'stack'
            ? `the service is running its limit of ${limit} job(s) at once; retry after ${retryAfterSeconds} s`
            : `you are running your limit of ${limit} job(s) at once; retry after ${retryAfterSeconds} s, or cancel one`;
        throw new ApiError(429, 'TooManyJobs', message, { 'retry-after': String(retryAfterSeconds) });
      }
    }
    places.push([scope, entry]);
    if (result === 'added') added.push([scope, entry]);
  }
  return places;
}

/** Gives places back, each only if it still holds the entry written (a place renewed since is kept). */
async function releasePlaces(places: Places, jobId: string, deps: JobDeps): Promise<void> {
  for (const [scope, entry] of places) await deps.store.release(scope, jobId, entry);
}

/** Gives the ended job's places back (each release is idempotent), then marks them given back. */
async function releaseJob(header: JobHeader, deps: JobDeps): Promise<void> {
  for (const [scope] of scopesOf(header.owner, deps)) await deps.store.release(scope, header.jobId);
  if (header.placesReleasedAt === undefined) await deps.store.markPlacesReleased(header.jobId, deps.now());
}

/**
 * A RUNNING job that may have ended with no run left to write it: past its deadline, cancelled, or its
 * run silent for a stall limit. (A job whose run is alive is settled by that run.)
 */
function mayHaveEnded(header: JobHeader, deps: JobDeps): boolean {
  return deps.now() >= header.deadlineAt || header.cancelRequestedAt !== undefined || deps.now() - (header.runHeartbeatAt ?? header.createdAt) > deps.stallMs;
}

/** Frees the places of a scope's jobs that have ended; says how many, and when to retry otherwise. */
async function clearEnded(scope: AdmissionScope, deps: JobDeps): Promise<{ freed: number; retryAfterSeconds: number }> {
  let freed = 0;
  let soonest = Infinity;
  const until = deps.now() + CLEAR_BUDGET_MS;
  for (const [jobId, entry] of Object.entries(await deps.store.admitted(scope))) {
    // Within the request's time: the rest waits for the next refused request.
    if (deps.now() > until) break;
    let header = await deps.store.loadHeader(jobId);
    if (!header) {
      if (deps.now() - entry.admittedAt > CREATION_GRACE_MS) {
        await deps.store.release(scope, jobId, entry);
        freed++;
      } else soonest = Math.min(soonest, entry.admittedAt + CREATION_GRACE_MS);
      continue;
    }
    if (header.status === 'RUNNING' && mayHaveEnded(header, deps)) {
      // Read it as a GET does: it ends if its items say so (which releases it), and a dead run is revived.
      await settleJob(jobId, deps);
      header = (await deps.store.loadHeader(jobId)) ?? header;
    }
    if (header.status !== 'RUNNING') {
      await releaseJob(header, deps);
      freed++;
    } else soonest = Math.min(soonest, header.deadlineAt);
  }
  const waitSeconds = Math.ceil((soonest - deps.now()) / 1000);
  return { freed, retryAfterSeconds: Math.max(1, Math.min(MAX_RETRY_AFTER_SECONDS, Number.isFinite(waitSeconds) ? waitSeconds : 1)) };
}

/**
 * Reads the job and, when its items show it has ended, writes the final outcome once. Any reader can
 * do this, so a job finishes even when its polling run died; and when the run has been silent for
 * longer than the stall limit (its event lost, or it died), the reader starts a new one. With an
 * `owner`, another principal's job answers 404 like one that does not exist.
 */
export async function settleJob(jobId: string, deps: JobDeps, owner?: string): Promise<JobView> {
  const { header, tasks } = await settle(jobId, deps, owner);
  const view = viewJob(header, tasks, deps.now());
  if (!isFinal(view.status) && deps.now() - (header.runHeartbeatAt ?? header.createdAt) > deps.stallMs) {
    if (await deps.store.claimRunRevival(jobId, header.runHeartbeatAt, deps.now())) {
      // Do one round of the run's work right here (starting the next wave of tasks), then hand over to a
      // new run. Should the new run's event be lost too, the next wave waits for the next revival.
      await startTasks(header, tasks, await jobShare(deps), deps);
      await deps.startRun(jobId);
    }
  }
  return view;
}

async function settle(jobId: string, deps: JobDeps, owner?: string): Promise<StoredJob> {
  const job = await deps.store.loadJob(jobId);
  if (!job || (owner !== undefined && job.header.owner !== owner)) throw notFound(jobId);
  if (job.header.status !== 'RUNNING') {
    // Its outcome's writer died before giving the places back: the first reader to see it does.
    if (job.header.placesReleasedAt === undefined) await releaseJob(job.header, deps);
    return job;
  }
  const outcome = deriveOutcome(job.header, job.tasks, deps.now());
  if (!isFinal(outcome.status)) return job;

  let final = outcome;
  if (outcome.status !== 'SUCCEEDED') {
    // Stop the started samplers first, so no report lands after the counts are frozen; then freeze
    // the counts read after the stop (a report may have landed in between). A task never started has
    // no item to stop: should a run start it late, its first report finds the job ended.
    const toStop = job.tasks.filter((t) => t.done < t.samples && t.cancelled !== true);
    await writePaced(toStop, deps, (chunk) => deps.store.stopTasks(chunk));
    const stopped = await deps.store.loadJob(jobId);
    if (!stopped) throw new UnknownJobError(jobId);
    const recount = deriveOutcome(stopped.header, stopped.tasks, deps.now());
    final = isFinal(recount.status) ? recount : { ...outcome, done: recount.done, inside: recount.inside };
  }
  // Released whoever wrote the outcome (release is idempotent): a writer whose answer was lost would
  // otherwise leave the places taken. One who died just after leaves no mark, and the next reader releases.
  const written = await deps.store.finishJob(jobId, final, deps.now());
  if (written) deps.observe?.({ kind: 'finished', status: final.status, durationMs: deps.now() - job.header.createdAt });
  await releaseJob(job.header, deps);
  const settled = await deps.store.loadJob(jobId);
  if (!settled) throw new UnknownJobError(jobId);
  if (settled.header.status !== 'SUCCEEDED') {
    // A task a run started while the job was being stopped has an item nobody stopped: stop it now.
    const late = settled.tasks.filter((t) => t.done < t.samples && t.cancelled !== true);
    if (late.length > 0) await writePaced(late, deps, (chunk) => deps.store.stopTasks(chunk));
  }
  return settled;
}

export async function cancelJob(jobId: string, owner: string, deps: JobDeps): Promise<JobView> {
  const header = await deps.store.loadHeader(jobId);
  if (!header || header.owner !== owner) throw notFound(jobId);
  if (!(await deps.store.requestCancel(jobId, deps.now()))) {
    const view = await settleJob(jobId, deps, owner);
    if (view.status === 'CANCELLED') return view;
    throw new ApiError(409, 'JobFinished', `job ${jobId} already ended ${view.status}`);
  }
  return settleJob(jobId, deps, owner);
}

/**
 * Every task of the job: its stored item, or, for a task never started (its item is written when it
 * first is), the item as it would be created.
 */
function allTasks(header: JobHeader, stored: readonly TaskItem[]): TaskItem[] {
  if (stored.length >= header.tasks) return [...stored];
  const byId = new Map(stored.map((t) => [t.taskId, t]));
  return planTasks(header.samples, header.tasks).map(
    (plan) => byId.get(plan.taskId) ?? { ...plan, jobId: header.jobId, done: 0, inside: 0, invocations: 0, expiresAt: header.expiresAt },
  );
}

/**
 * The job's share of the samplers' concurrency: all of it for a job running alone, an equal part when
 * several run. A job that started more before others arrived gives the surplus back as its tasks end.
 */
async function jobShare(deps: JobDeps): Promise<number> {
  // A place left by a request that died (no job behind it, past its grace), or by a job past its
  // deadline whose place was not given back yet, is no job to share with.
  const entries = Object.values(await deps.store.admitted('stack'));
  const now = deps.now();
  const running = entries.filter((e) => e.deadlineAt > now && (e.created === true || now - e.admittedAt <= CREATION_GRACE_MS)).length;
  return Math.max(1, Math.floor(deps.samplerConcurrency / Math.max(1, running)));
}

/**
 * Starts the job's next invocations (restarts, then new tasks up to its share). The claim (a
 * conditional write on the invocation count) makes a duplicated run harmless: each invocation number
 * is started once. Returns how many were started.
 */
async function startTasks(header: JobHeader, stored: readonly TaskItem[], share: number, deps: JobDeps): Promise<number> {
  const tasks = allTasks(header, stored);
  const next = tasksToStart(header, tasks, deps.now(), { stallMs: deps.stallMs, unheardMs: deps.unheardMs }, share);
  // As many tasks report at once as the job runs at once: its share, or all its tasks if fewer.
  const reportIntervalMs = reportIntervalFor(Math.min(share, header.tasks), deps.reportIntervalMs, jobBudget(deps.partitionWriteUnitsPerSecond));
  let started = 0;
  await forEachLimited(next, FAN_OUT_CONCURRENCY, async (task) => {
    if (!(await deps.store.claimInvocation(header.jobId, task.taskId, task.invocations, deps.now(), task))) return;
    const invocation = task.invocations + 1;
    started++;
    try {
      await deps.startSampler(samplerEvent(header, task, invocation, reportIntervalMs));
      deps.observe?.({ kind: 'taskStarted', restart: invocation > 1 });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await deps.store.recordTaskFailure(header.jobId, task.taskId, invocation, boundFailure(`could not start the sampler: ${message}`), deps.now());
    }
  });
  return started;
}

/**
 * The job's run: fan out, then poll until the job ends, restarting tasks that
 * failed or went silent (safe: runs are deterministic and reports idempotent). Before the
 * orchestrator's own timeout it hands over to a fresh run, so a job may outlive one Lambda invocation.
 */
export async function runJob(jobId: string, deps: JobDeps, remainingMs: () => number): Promise<JobView> {
  // Whether it ended the job, found it ended, or handed over: what the run used since its last beat.
  return recordUsage(await pollJob(jobId, deps, remainingMs), deps);
}

/**
 * Adds what this invocation used and has not recorded yet to the job's header, as the invocation's last
 * write (its own latency and units predicted), with `apiRequests` API requests (the request answered
 * with the view). The view with that usage in its cost (unchanged if nothing was recorded: no meter,
 * or no header).
 */
export async function recordUsage(view: JobView, deps: JobDeps, apiRequests = 0): Promise<JobView> {
  if (!deps.meter) return view;
  const api = emptyUsage();
  api.apiRequests = apiRequests;
  let recorded: JobUsage | undefined;
  try {
    const added = await writeWithUsage(
      deps.meter.source({ kind: 'header' }, api),
      (usage) => deps.store.addJobUsage(view.jobId, (recorded = usage!)),
      (applied) => applied,
    );
    return added && recorded ? withUsage(view, recorded) : view;
  } catch (error) {
    // Accounting never fails a request whose work is done (a throttled header write, say): the
    // usage is given back, and the invocation's next write of the job in this sandbox records it.
    deps.observe?.({ kind: 'usageNotRecorded', error });
    return view;
  }
}

async function pollJob(jobId: string, deps: JobDeps, remainingMs: () => number): Promise<JobView> {
  const job = await deps.store.loadJob(jobId);
  if (!job) throw new UnknownJobError(jobId);
  if (job.header.status !== 'RUNNING') return viewJob(job.header, job.tasks, deps.now());
  // The heartbeat tells readers this run is alive, so they start no other. They wait a stall limit
  // before reviving a run, so a beat every third of it is enough (one header write, not one a poll).
  const beatEveryMs = Math.max(deps.pollIntervalMs, deps.stallMs / 3);
  let lastBeat = deps.now();
  // Each beat also records what the run used so far.
  const beat = (now: number) => writeWithUsage(deps.meter?.source({}), (usage) => deps.store.beatRun(jobId, now, usage));
  await beat(lastBeat);
  // Poll quickly while tasks are ending and starting (small tasks end within a fraction of a second),
  // more slowly while they run; never faster than the job's read budget allows.
  const fastMs = Math.max(Math.min(100, deps.pollIntervalMs), pollFloorMs(job.header.tasks, jobBudget(deps.partitionWriteUnitsPerSecond)));
  const slowMs = Math.max(deps.pollIntervalMs, fastMs);
  let pollMs = fastMs;
  let lastEnded = -1;
  // The share changes only as jobs come and go: read it every few seconds, not every poll.
  let share = await jobShare(deps);
  let shareReadAt = deps.now();
  for (;;) {
    if (deps.now() - lastBeat >= beatEveryMs) {
      lastBeat = deps.now();
      await beat(lastBeat);
    }
    const { header, tasks } = await settle(jobId, deps);
    const view = viewJob(header, tasks, deps.now());
    if (isFinal(view.status)) return view;
    if (deps.now() - shareReadAt >= SHARE_REFRESH_MS) {
      share = await jobShare(deps);
      shareReadAt = deps.now();
    }
    const started = await startTasks(header, tasks, share, deps);
    if (remainingMs() < 2 * slowMs + 5_000) {
      await deps.startRun(jobId);
      return view;
    }
    const ended = tasks.filter((t) => t.done >= t.samples).length;
    pollMs = started > 0 || ended !== lastEnded ? fastMs : Math.min(slowMs, Math.ceil(pollMs * 1.5));
    lastEnded = ended;
    await deps.sleep(pollMs);
  }
}

/** Waits for the job to end until `until` (epoch ms); the job goes on regardless. */
export async function waitForJob(jobId: string, owner: string, until: number, deps: JobDeps): Promise<JobView> {
  for (;;) {
    const started = deps.now();
    const view = await settleJob(jobId, deps, owner);
    // Each read is a Query of the whole job: no more often than its read budget allows.
    const pauseMs = Math.max(250, pollFloorMs(view.tasks, jobBudget(deps.partitionWriteUnitsPerSecond)));
    // Stop early enough that one more read would not overrun `until`.
    const readMs = deps.now() - started;
    if (isFinal(view.status) || deps.now() + pauseMs + readMs >= until) return view;
    await deps.sleep(pauseMs);
  }
}
