import { addUsage, emptyUsage, FUNCTION_NAMES, priceUsage, type FunctionUsage, type JobCost, type JobUsage } from './cost.js';
import { estimatePi, type Estimate } from './estimate.js';
import { blockCount, samplesInBlocks } from './kernel/stream-rule.js';

/**
 * The job model: one header item plus one small item per task under the job's partition key,
 * so every progress write touches one ~200-byte item (one write unit) and one consistent Query
 * reads the whole job (see README, Architecture; the keys are in store/items.ts).
 */
export type JobStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const FINAL_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export interface JobRequest {
  samples: number;
  tasks: number;
  seed?: number;
}

export interface JobHeader {
  jobId: string;
  seed: number;
  samples: number;
  tasks: number;
  status: JobStatus;
  createdAt: number; // epoch ms
  deadlineAt: number; // epoch ms
  expiresAt: number; // epoch s (TTL)
  /** Invocations a task may have (the first plus restarts) before its failure fails the job. */
  maxInvocations: number;
  /** The IAM principal that created the job (its user ARN): only it may read or cancel the job. */
  owner: string;
  idempotencyKey?: string;
  cancelRequestedAt?: number;
  /** When a run last polled the job; a GET starts a new run when this goes stale. */
  runHeartbeatAt?: number;
  finishedAt?: number;
  // Frozen when the job ends, so a finished job reads the same forever.
  done?: number;
  inside?: number;
  reason?: string;
  failedTasks?: number[];
  /**
   * When the ended job's admission places were given back. The writer of the outcome may die before it
   * gives them back: a reader of an ended job without this mark gives them back then.
   */
  placesReleasedAt?: number;
  /** What the orchestrator's invocations and the API requests for this job used (added to by each). */
  usage?: JobUsage;
}

export interface TaskItem {
  jobId: string;
  taskId: number;
  startBlock: number;
  endBlock: number;
  samples: number;
  done: number;
  inside: number;
  invocations: number;
  expiresAt: number;
  updatedAt?: number;
  lastInvokedAt?: number;
  cancelled?: boolean;
  failure?: string;
  /** What this task's samplers and progress reports used (added to by each report). */
  usage?: JobUsage;
}

/** What a sampler is invoked with: everything it needs, so it never reads the table. */
export interface SamplerEvent {
  jobId: string;
  taskId: number;
  seed: number;
  samples: number; // the job's samples: the last block of the job may be partial
  startBlock: number;
  endBlock: number;
  /** Which invocation of the task this is (1, 2, ...): a failure record of an older one is ignored. */
  invocation: number;
  /**
   * Least time between two progress reports, chosen by the orchestrator so that the job's reports stay
   * within its write budget however many of its tasks run at once. Absent: the sampler's default.
   */
  reportIntervalMs?: number;
}

/** A report: "task t has now done n samples, k of them inside". It replaces, never adds. */
export interface ProgressReport {
  jobId: string;
  taskId: number;
  done: number;
  inside: number;
  /**
   * What the reporting sampler invocation used since its last answered report (its request on its
   * first report): it is added to the task's usage, unlike the counts. Absent from older samplers.
   */
  usage?: FunctionUsage;
}

/** The store's answer to a report: the task's accepted state and whether the job is cancelled. */
export interface ReportAnswer {
  cancelled: boolean;
  done: number;
  inside: number;
}

/** Task t owns blocks [floor(t·B/T), floor((t+1)·B/T)): contiguous, as even as blocks allow. */
export function planTasks(samples: number, tasks: number): Pick<TaskItem, 'taskId' | 'startBlock' | 'endBlock' | 'samples'>[] {
  const blocks = blockCount(samples);
  return Array.from({ length: tasks }, (_, taskId) => {
    const startBlock = Math.floor((taskId * blocks) / tasks);
    const endBlock = Math.floor(((taskId + 1) * blocks) / tasks);
    return { taskId, startBlock, endBlock, samples: samplesInBlocks(startBlock, endBlock, samples) };
  });
}

export function samplerEvent(
  header: JobHeader,
  task: Pick<TaskItem, 'taskId' | 'startBlock' | 'endBlock'>,
  invocation: number,
  reportIntervalMs: number,
): SamplerEvent {
  return {
    jobId: header.jobId,
    taskId: task.taskId,
    seed: header.seed,
    samples: header.samples,
    startBlock: task.startBlock,
    endBlock: task.endBlock,
    invocation,
    reportIntervalMs,
  };
}

/** DynamoDB's throughput limit for one partition key, write units a second (reads: three times it). */
export const PARTITION_WRITE_UNITS_PER_SECOND = 1000;

/**
 * What one job may spend of its partition, per second. All of a job's items share one partition key,
 * so its writes and reads must stay well under that key's limit whatever the job's size: reports a
 * tenth of the writes, bulk writes (stopping its tasks) half, polls a tenth of the reads. The limit
 * is AWS's unless a scaled-down run (the local cloud's LOCAL_CLOUD_QUOTAS) says otherwise.
 */
export interface JobBudget {
  reportWritesPerSecond: number;
  bulkWritesPerSecond: number;
  pollReadUnitsPerSecond: number;
}

export function jobBudget(partitionWriteUnitsPerSecond = PARTITION_WRITE_UNITS_PER_SECOND): JobBudget {
  return {
    reportWritesPerSecond: partitionWriteUnitsPerSecond / 10,
    bulkWritesPerSecond: partitionWriteUnitsPerSecond / 2,
    pollReadUnitsPerSecond: (3 * partitionWriteUnitsPerSecond) / 10,
  };
}

/**
 * The report interval that keeps `tasksAtOnce` reporting tasks within the job's report budget: the
 * configured interval, or longer for a job with many tasks at once (more than 100 at AWS's limit).
 */
export function reportIntervalFor(tasksAtOnce: number, baseIntervalMs: number, budget: JobBudget = jobBudget()): number {
  return Math.max(baseIntervalMs, Math.ceil((tasksAtOnce * 1000) / budget.reportWritesPerSecond));
}

/** A task item's size, about (keys, counts, times, usage): what a whole-job Query reads per task. */
const TASK_ITEM_BYTES = 400;

/**
 * The shortest poll interval that keeps a job's polls within its read budget: a strongly consistent
 * Query costs one read unit per 4 KB, so a 1,000-task job (~98 units a poll) is polled at most about
 * three times a second at AWS's limit.
 */
export function pollFloorMs(tasks: number, budget: JobBudget = jobBudget()): number {
  const unitsPerPoll = Math.ceil((tasks * TASK_ITEM_BYTES) / 4096);
  return Math.ceil((unitsPerPoll * 1000) / budget.pollReadUnitsPerSecond);
}

/** Longest failure text kept per task: a header holding 1,000 of them stays far below 400 KB. */
export const MAX_FAILURE_CHARS = 300;
/** A job's failure reason lists this many tasks' failures, then counts the rest. */
const REASON_TASKS_LISTED = 5;

/** A failure text cut to MAX_FAILURE_CHARS. */
export function boundFailure(text: string): string {
  return text.length <= MAX_FAILURE_CHARS ? text : `${text.slice(0, MAX_FAILURE_CHARS - 1)}…`;
}

export interface TaskView {
  taskId: number;
  samples: number;
  done: number;
  progress: number;
  /** Invocations of the task so far: more than one means it was restarted (absent from older views). */
  invocations?: number;
  failure?: string;
}

export interface JobView {
  jobId: string;
  status: JobStatus;
  seed: number;
  samples: number;
  tasks: number;
  done: number;
  inside: number;
  progress: number;
  estimate: Estimate | null;
  createdAt: string;
  deadlineAt: string;
  finishedAt?: string;
  reason?: string;
  failedTasks?: number[];
  taskProgress: TaskView[];
  /** What the job used so far (everything recorded up to this answer, this request included) and its price. */
  cost: JobCost;
}

/** The outcome a job has reached, derived from its items alone (so a lost orchestrator loses nothing). */
export interface Outcome {
  status: JobStatus;
  done: number;
  inside: number;
  reason?: string;
  failedTasks?: number[];
}

export function deriveOutcome(header: JobHeader, tasks: readonly TaskItem[], now: number): Outcome {
  if (header.status !== 'RUNNING') {
    return {
      status: header.status,
      done: header.done ?? 0,
      inside: header.inside ?? 0,
      reason: header.reason,
      failedTasks: header.failedTasks,
    };
  }
  const done = tasks.reduce((sum, t) => sum + t.done, 0);
  const inside = tasks.reduce((sum, t) => sum + t.inside, 0);
  if (header.cancelRequestedAt !== undefined) {
    return { status: 'CANCELLED', done, inside, reason: 'cancelled by request' };
  }
  if (tasks.length === header.tasks && done === header.samples) return { status: 'SUCCEEDED', done, inside };
  const failed = tasks.filter((t) => t.failure !== undefined && t.done < t.samples && t.invocations >= header.maxInvocations);
  if (failed.length > 0) {
    return {
      status: 'FAILED',
      done,
      inside,
      failedTasks: failed.map((t) => t.taskId),
      reason: failureReason(failed),
    };
  }
  if (now >= header.deadlineAt) {
    const finished = new Set(tasks.filter((t) => t.done >= t.samples).map((t) => t.taskId));
    const unfinished = Array.from({ length: header.tasks }, (_, taskId) => taskId).filter((taskId) => !finished.has(taskId));
    return {
      status: 'FAILED',
      done,
      inside,
      failedTasks: unfinished,
      reason: `deadline passed with ${unfinished.length} unfinished task(s)`,
    };
  }
  return { status: 'RUNNING', done, inside };
}

/** The failures of a job's failed tasks in a few words: the first ones in full, then a count. */
function failureReason(failed: readonly TaskItem[]): string {
  const listed = failed.slice(0, REASON_TASKS_LISTED).map((t) => `task ${t.taskId}: ${boundFailure(t.failure ?? '')}`);
  const more = failed.length - listed.length;
  return listed.join('; ') + (more > 0 ? `; and ${more} more failed task(s)` : '');
}

/**
 * How long a sampler may take from getting its turn to its first accepted report, or between two
 * reports beyond its interval: a cold start, and a report's round trip through a busy progress function.
 */
export const RUN_START_MARGIN_MS = 10_000;

/** When a task counts as silent. */
export interface Silence {
  /** A running invocation (one that has reported) silent this long is taken for dead. */
  stallMs: number;
  /**
   * A task not heard from since it was last started (no report accepted after its claim) is taken for
   * lost only after this long: by then Lambda has either run its event or discarded it (its maximum
   * event age). Before that it may just be waiting in Lambda's queue for concurrency, and waiting is
   * no reason to start it again.
   */
  unheardMs: number;
}

/**
 * Tasks the run should start again: unfinished, not stopped, with invocations to spare, and either
 * recorded as failed, silent after reporting for longer than `stallMs` (a sampler reports every few
 * seconds while it runs, so silence means its run died without Lambda retrying it), or not heard from
 * since its last start for longer than `unheardMs` (its event was lost).
 */
export function tasksToRestart(header: JobHeader, tasks: readonly TaskItem[], now: number, silence: Silence): TaskItem[] {
  return tasks.filter((t) => {
    if (t.done >= t.samples || t.cancelled === true || t.invocations === 0 || t.invocations >= header.maxInvocations) return false;
    if (t.failure !== undefined) return true;
    const invokedAt = t.lastInvokedAt ?? 0;
    const heardAt = t.updatedAt ?? 0;
    // Heard from since its last start: a run of it is alive (or was); silence counts from its last sign.
    if (heardAt < invokedAt) return now - invokedAt > silence.unheardMs;
    return now - heardAt > silence.stallMs;
  });
}

/**
 * Tasks to invoke now: failed or silent ones to start again (each in the slot it holds), then
 * never-started ones, as many as leave at most `concurrency` of the job's tasks occupying a slot.
 * `concurrency` is the job's share of the samplers' concurrency (see jobShare in the orchestrator):
 * pacing to it keeps the job's tasks out of Lambda's throttle queue, and its reports within its
 * write budget. A task that is silent with no invocations left keeps its slot: it may yet run, and
 * the job ends at its deadline.
 */
export function tasksToStart(header: JobHeader, tasks: readonly TaskItem[], now: number, silence: Silence, concurrency: number): TaskItem[] {
  const live = tasks.filter((t) => t.cancelled !== true);
  const occupied = live.filter((t) => t.invocations > 0 && t.done < t.samples).length;
  const unstarted = live.filter((t) => t.invocations === 0).slice(0, Math.max(0, concurrency - occupied));
  return [...tasksToRestart(header, tasks, now, silence), ...unstarted];
}

/** The job's tasks, those whose items are not written yet (a job being created) as planned, at 0. */
function withPlannedTasks(
  header: JobHeader,
  tasks: readonly TaskItem[],
): readonly Pick<TaskItem, 'taskId' | 'samples' | 'done' | 'invocations' | 'failure'>[] {
  if (tasks.length >= header.tasks) return tasks;
  const stored = new Map(tasks.map((t) => [t.taskId, t]));
  return planTasks(header.samples, header.tasks).map((plan) => stored.get(plan.taskId) ?? { ...plan, done: 0, invocations: 0 });
}

export function isFinal(status: JobStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** What a job used: its header's usage and its tasks'. */
export function jobUsage(header: JobHeader, tasks: readonly TaskItem[]): JobUsage {
  return addUsage(header.usage ?? emptyUsage(), ...tasks.map((t) => t.usage ?? emptyUsage()));
}

/** The usage a cost was priced from (a cost carries every quantity it priced). */
export function usageOfCost(cost: JobCost): JobUsage {
  const usage = emptyUsage();
  for (const name of FUNCTION_NAMES) {
    const { requests, billedMs, mbMs } = cost.lambda.byFunction[name];
    usage.functions[name] = { requests, billedMs, mbMs };
  }
  usage.dynamodb = { ...cost.dynamodb };
  usage.apiRequests = cost.apiRequests;
  return usage;
}

/** The view with `usage` added to its cost: a request's own usage, recorded as it answers. */
export function withUsage(view: JobView, usage: JobUsage): JobView {
  return { ...view, cost: priceUsage(addUsage(usageOfCost(view.cost), usage)) };
}

export function viewJob(header: JobHeader, tasks: readonly TaskItem[], now: number): JobView {
  const outcome = deriveOutcome(header, tasks, now);
  const finishedAt = header.finishedAt ?? (isFinal(outcome.status) ? now : undefined);
  return {
    jobId: header.jobId,
    status: outcome.status,
    seed: header.seed,
    samples: header.samples,
    tasks: header.tasks,
    done: outcome.done,
    inside: outcome.inside,
    progress: outcome.done / header.samples,
    estimate: estimatePi(outcome.inside, outcome.done),
    createdAt: new Date(header.createdAt).toISOString(),
    deadlineAt: new Date(header.deadlineAt).toISOString(),
    ...(finishedAt !== undefined && { finishedAt: new Date(finishedAt).toISOString() }),
    ...(outcome.reason !== undefined && { reason: outcome.reason }),
    ...(outcome.failedTasks !== undefined && { failedTasks: outcome.failedTasks }),
    taskProgress: withPlannedTasks(header, tasks).map((t) => ({
      taskId: t.taskId,
      samples: t.samples,
      done: t.done,
      progress: t.samples === 0 ? 1 : t.done / t.samples,
      invocations: t.invocations,
      ...(t.failure !== undefined && { failure: t.failure }),
    })),
    cost: priceUsage(jobUsage(header, tasks)),
  };
}

/** The header fields a job's summary is made of: what the job list reads (and the owner index projects). */
export const JOB_SUMMARY_FIELDS = ['jobId', 'status', 'seed', 'samples', 'tasks', 'createdAt', 'deadlineAt', 'finishedAt', 'done', 'inside'] as const;

/** A header as the job list reads it: the summary's fields only. */
export type SummarizedHeader = Pick<JobHeader, (typeof JOB_SUMMARY_FIELDS)[number]>;

/**
 * One job in the caller's job list (`GET /jobs`): what its header holds. Counts and the estimate are
 * there for finished jobs only (frozen on the header when the job ended); a running job's live
 * progress and cost are read with `GET /jobs/{id}`.
 */
export interface JobSummary {
  jobId: string;
  status: JobStatus;
  seed: number;
  samples: number;
  tasks: number;
  createdAt: string;
  deadlineAt: string;
  finishedAt?: string;
  done?: number;
  inside?: number;
  estimate?: Estimate | null;
}

export function summarizeJob(header: SummarizedHeader): JobSummary {
  const finished = isFinal(header.status);
  const done = header.done ?? 0;
  const inside = header.inside ?? 0;
  return {
    jobId: header.jobId,
    status: header.status,
    seed: header.seed,
    samples: header.samples,
    tasks: header.tasks,
    createdAt: new Date(header.createdAt).toISOString(),
    deadlineAt: new Date(header.deadlineAt).toISOString(),
    ...(header.finishedAt !== undefined && { finishedAt: new Date(header.finishedAt).toISOString() }),
    ...(finished && { done, inside, estimate: estimatePi(inside, done) }),
  };
}
