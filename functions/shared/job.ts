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
}

/** A report: "task t has now done n samples, k of them inside". It replaces, never adds. */
export interface ProgressReport {
  jobId: string;
  taskId: number;
  done: number;
  inside: number;
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

export function samplerEvent(header: JobHeader, task: Pick<TaskItem, 'taskId' | 'startBlock' | 'endBlock'>, invocation: number): SamplerEvent {
  return {
    jobId: header.jobId,
    taskId: task.taskId,
    seed: header.seed,
    samples: header.samples,
    startBlock: task.startBlock,
    endBlock: task.endBlock,
    invocation,
  };
}

export interface TaskView {
  taskId: number;
  samples: number;
  done: number;
  progress: number;
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
      reason: failed.map((t) => `task ${t.taskId}: ${t.failure}`).join('; '),
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

/**
 * Tasks the run should start again: unfinished, not stopped, with invocations to spare, and either
 * recorded as failed or silent for longer than `stallMs` (a sampler reports every second or so while
 * it runs, so silence means its event was lost or its run died without Lambda retrying it).
 */
export function tasksToRestart(header: JobHeader, tasks: readonly TaskItem[], now: number, stallMs: number): TaskItem[] {
  return tasks.filter((t) => {
    if (t.done >= t.samples || t.cancelled === true || t.invocations === 0 || t.invocations >= header.maxInvocations) return false;
    const lastSign = Math.max(t.lastInvokedAt ?? 0, t.updatedAt ?? 0);
    return t.failure !== undefined || now - lastSign > stallMs;
  });
}

/**
 * Tasks to invoke now: failed or silent ones to start again (each in the slot it holds), then
 * never-started ones, as many as leave at most `concurrency` of the job's tasks occupying a slot.
 * Pacing each job's fan-out to the sampler's reserved concurrency keeps its tasks out of Lambda's
 * throttle queue, where a task would wait without reporting and its wait would read as silence.
 * (Jobs running at once share the concurrency, so their tasks can still queue.) A task that is
 * silent with no invocations left keeps its slot: it may yet run, and the job ends at its deadline.
 */
export function tasksToStart(header: JobHeader, tasks: readonly TaskItem[], now: number, stallMs: number, concurrency: number): TaskItem[] {
  const live = tasks.filter((t) => t.cancelled !== true);
  const occupied = live.filter((t) => t.invocations > 0 && t.done < t.samples).length;
  const unstarted = live.filter((t) => t.invocations === 0).slice(0, Math.max(0, concurrency - occupied));
  return [...tasksToRestart(header, tasks, now, stallMs), ...unstarted];
}

export function isFinal(status: JobStatus): boolean {
  return FINAL_STATUSES.includes(status);
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
    taskProgress: tasks.map((t) => ({
      taskId: t.taskId,
      samples: t.samples,
      done: t.done,
      progress: t.samples === 0 ? 1 : t.done / t.samples,
      ...(t.failure !== undefined && { failure: t.failure }),
    })),
  };
}
