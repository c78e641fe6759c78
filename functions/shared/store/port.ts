import type { JobUsage } from '../cost.js';
import type { JobHeader, Outcome, ProgressReport, ReportAnswer, TaskItem } from '../job.js';
import type { UsageSource } from '../usage-meter.js';

import type { SummarizedHeader } from '../job.js';
import type { JobListPosition } from './items.js';

/** A whole job as stored: its header and its task items, in task order. */
export interface StoredJob {
  header: JobHeader;
  tasks: TaskItem[];
}

/** Who a limit on running jobs counts for: the whole stack, or one caller (an IAM principal). */
export type AdmissionScope = 'stack' | { caller: string };

/** A running job as an admission scope holds it. */
export interface AdmissionEntry {
  /** When the place was taken (or last renewed by a repeated request). */
  admittedAt: number;
  /** Names the request that wrote the entry, so a release can be conditional on it. */
  token?: string;
  deadlineAt: number;
  /** Set once the job's header exists: a place without it past its grace was left by a request that died. */
  created?: boolean;
}

/** What admitting did: added the job, renewed the place it already held, or refused it (the scope is full). */
export type Admission = 'added' | 'renewed' | 'refused';

/**
 * The job store: what the orchestrator and the progress function need from the job table. Every write
 * that can lose a race is conditional, and answers `false` (never throws) when its condition does not
 * hold; the conditions are the contract, and `test/store/store.test.ts` holds every adapter to them.
 * Times are epoch milliseconds. Nothing returned is shared with the store: callers may change it.
 *
 * What a job used rides on these writes: a usage given to a write is added (never set) to the item it
 * writes, exactly once whatever the write's outcome says, and `loadJob` hands it back as the items'
 * `usage` (see `../usage-meter.ts`). A usage source is taken from right before the write that carries
 * it and given back when that write was not applied, so a usage is never lost to a refused write nor
 * counted twice.
 *
 * Adapters: `DynamoDbJobStore` (the table, `./dynamodb.ts`) and `InMemoryJobStore` (`./memory.ts`).
 */
export interface JobStore {
  /** Creates the header (its `usage` too), only if no header with its id exists. False if the job already existed. */
  createJob(header: JobHeader): Promise<boolean>;

  /**
   * Writes each task item that does not exist yet. An item that exists, and may hold progress or be
   * stopped, is left as it is.
   */
  createMissingTasks(tasks: readonly TaskItem[]): Promise<void>;

  /** The header and every task item, read consistently; undefined if the job has no header. */
  loadJob(jobId: string): Promise<StoredJob | undefined>;

  /** The header alone, read consistently; undefined if there is none. */
  loadHeader(jobId: string): Promise<JobHeader | undefined>;

  /** One task item, read consistently; undefined if it does not exist. */
  loadTask(jobId: string, taskId: number): Promise<TaskItem | undefined>;

  /**
   * Applies a report (sets done, inside and updatedAt = now) only if the task exists, is not stopped
   * (`cancelled` unset), and the report moves it forward within its samples: `done < report.done <=
   * samples`. A report of nothing (`done` 0) is a plain read. Answers the task's accepted state after
   * the call and whether it is stopped; a duplicate, stale or late report is answered the same way and
   * changes nothing. Throws UnknownJobError if the task does not exist, and RangeError if the report
   * counts more samples than the task has.
   *
   * `usage` is added to the task item whether the report is applied or refused (a refused report
   * records it with a write of its own, conditional only on the item's existence).
   */
  applyReport(report: ProgressReport, now: number, usage?: UsageSource): Promise<ReportAnswer>;

  /**
   * Records `failure` (and updatedAt = now) on a task whose invocation number `invocation` failed for
   * good, only if the task is unfinished (`done < samples`) and `invocation` is still its current one
   * (`invocations = invocation`): a late record of an older invocation changes nothing. Throws
   * UnknownJobError if the task does not exist. `usage` is added to the task item either way.
   */
  recordTaskFailure(jobId: string, taskId: number, invocation: number, failure: string, now: number, usage?: UsageSource): Promise<void>;

  /**
   * Claims the task's next invocation: only if its invocation count is still `invocations` and it is not
   * stopped, sets it to `invocations + 1`, lastInvokedAt = now, and clears `failure`. A task's item is
   * written by its first claim: when no item exists and `created` (the item as created) is given, writes
   * it with the claim applied. Exactly one of several callers with the same count wins; false for the
   * others, for a stopped task and for a task that does not exist (without `created`).
   */
  claimInvocation(jobId: string, taskId: number, invocations: number, now: number, created?: TaskItem): Promise<boolean>;

  /**
   * Marks a RUNNING job as cancelled by request (cancelRequestedAt = now, kept if already set). False
   * if the job does not exist or has ended.
   */
  requestCancel(jobId: string, now: number): Promise<boolean>;

  /**
   * Sets the header's runHeartbeatAt = now (a run is polling the job) and adds `usage` to the header's.
   * Rejects with UnknownJobError if the job has no header.
   */
  beatRun(jobId: string, now: number, usage?: JobUsage): Promise<void>;

  /** Adds `usage` to the header's, only if the header exists; false if it does not. */
  addJobUsage(jobId: string, usage: JobUsage): Promise<boolean>;

  /**
   * Claims the right to start a new run of a job whose run went silent: sets runHeartbeatAt = now only
   * if it still is `lastBeat` (or is still unset, for `lastBeat` undefined). Exactly one of several
   * callers that read the same heartbeat wins; false for the others, and false for a job with no
   * header (one that expired is never recreated).
   */
  claimRunRevival(jobId: string, lastBeat: number | undefined, now: number): Promise<boolean>;

  /**
   * Stops the tasks (sets `cancelled`): every later report is refused and answered "cancelled", and no
   * invocation can be claimed. A task whose item does not exist yet is written as given, stopped, so
   * it can never be created running later.
   */
  stopTasks(tasks: readonly TaskItem[]): Promise<void>;

  /**
   * Writes the job's outcome once: only while the job is RUNNING, sets status, finishedAt = now, done,
   * inside, and reason and failedTasks when the outcome has them. False if the job had already ended
   * (another writer finished it first) or does not exist.
   */
  finishJob(jobId: string, outcome: Outcome, now: number): Promise<boolean>;

  /** Sets the header's placesReleasedAt = now (kept if already set); nothing for a job with no header. */
  markPlacesReleased(jobId: string, now: number): Promise<void>;

  /**
   * Admits a job to a scope: adds `jobId` with `entry` only if the scope holds fewer than `limit` jobs
   * ('added'); if it already holds this job, replaces its entry ('renewed'); else 'refused'. Exact
   * under concurrent callers: a conditional write of one item per scope.
   */
  admit(scope: AdmissionScope, jobId: string, entry: AdmissionEntry, limit: number): Promise<Admission>;

  /** The jobs a scope holds, by job id (read consistently). */
  admitted(scope: AdmissionScope): Promise<Record<string, AdmissionEntry>>;

  /**
   * Takes a job out of a scope (nothing if it is not there). With `entry`, only if the scope still holds
   * that entry (the same `token`): a place renewed since it was read is kept.
   */
  release(scope: AdmissionScope, jobId: string, entry?: AdmissionEntry): Promise<void>;

  /**
   * A page of `owner`'s jobs, newest first (by createdAt; jobs created in the same millisecond in a
   * stable order): at most `limit` headers (their summary fields only), starting after `after`, and
   * where the page ended when more may follow. Paging on from each `next` lists every job once. Read
   * from an eventually consistent index: a job created a moment ago may be missing for a moment.
   */
  listJobs(owner: string, limit: number, after?: JobListPosition): Promise<JobListPage>;
}

/** A page of a caller's job list. */
export interface JobListPage {
  jobs: SummarizedHeader[];
  /** Where to go on from; absent when the list has no more jobs. */
  next?: JobListPosition;
}
