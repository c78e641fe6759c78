import { addUsage, emptyUsage, type JobUsage } from '../cost.js';
import { UnknownJobError } from '../errors.js';
import type { JobHeader, Outcome, ProgressReport, ReportAnswer, TaskItem } from '../job.js';
import { writeWithUsage, type UsageSource } from '../usage-meter.js';
import { admissionKey, taskSortKey, usageAddition } from './items.js';
import type { Admission, AdmissionEntry, AdmissionScope, JobStore, StoredJob } from './port.js';
import { JOB_SUMMARY_FIELDS, type SummarizedHeader } from '../job.js';
import type { JobListPosition } from './items.js';
import type { JobListPage } from './port.js';

interface Partition {
  header?: JobHeader;
  tasks: Map<number, TaskItem>;
}

/**
 * A copy of an item as the table would hold it: attributes set to undefined are not stored (the
 * DynamoDB adapter's client removes them), and nothing is shared with the caller.
 */
function stored<T extends object>(item: T): T {
  const copy = structuredClone(item) as Record<string, unknown>;
  for (const key of Object.keys(copy)) if (copy[key] === undefined) delete copy[key];
  return copy as T;
}

/** Adds a usage to an item's, as DynamoDB's ADD would: an item that never had any keeps none. */
function addItemUsage(item: { usage?: JobUsage }, usage: JobUsage | undefined): void {
  if (usageAddition(usage)) item.usage = addUsage(item.usage ?? emptyUsage(), usage!);
}

/**
 * The job store in memory, for tests of the job logic: the same contract as the DynamoDB adapter (see
 * `./port.ts`), the same conditions, each operation atomic. It stores copies and hands out copies.
 */
export class InMemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, Partition>();
  /** Running jobs by admission scope (its item's sort key). */
  private readonly admissions = new Map<string, Map<string, AdmissionEntry>>();

  private partition(jobId: string): Partition {
    let partition = this.jobs.get(jobId);
    if (!partition) {
      partition = { tasks: new Map() };
      this.jobs.set(jobId, partition);
    }
    return partition;
  }

  private task(jobId: string, taskId: number): TaskItem | undefined {
    return this.jobs.get(jobId)?.tasks.get(taskId);
  }

  private header(jobId: string): JobHeader | undefined {
    return this.jobs.get(jobId)?.header;
  }

  /** Tasks in the order the table's sort keys give them. */
  private sortedTasks(partition: Partition): TaskItem[] {
    return [...partition.tasks.values()]
      .map((task) => ({ task, key: taskSortKey(task.taskId) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map(({ task }) => stored(task));
  }

  /** Every job as stored, header or not, in job id order: for "nothing was written" assertions. */
  snapshot(): { jobId: string; header?: JobHeader; tasks: TaskItem[] }[] {
    return [...this.jobs.keys()].sort().map((jobId) => {
      const partition = this.jobs.get(jobId)!;
      return { jobId, ...(partition.header && { header: stored(partition.header) }), tasks: this.sortedTasks(partition) };
    });
  }

  async createJob(header: JobHeader): Promise<boolean> {
    if (this.header(header.jobId)) return false;
    this.partition(header.jobId).header = stored(header);
    return true;
  }

  async createMissingTasks(tasks: readonly TaskItem[]): Promise<void> {
    for (const task of tasks) {
      if (!this.task(task.jobId, task.taskId)) this.partition(task.jobId).tasks.set(task.taskId, stored(task));
    }
  }

  async loadJob(jobId: string): Promise<StoredJob | undefined> {
    const partition = this.jobs.get(jobId);
    if (!partition?.header) return undefined;
    return { header: stored(partition.header), tasks: this.sortedTasks(partition) };
  }

  async loadHeader(jobId: string): Promise<JobHeader | undefined> {
    const header = this.header(jobId);
    return header && stored(header);
  }

  async loadTask(jobId: string, taskId: number): Promise<TaskItem | undefined> {
    const task = this.task(jobId, taskId);
    return task && stored(task);
  }

  async applyReport(report: ProgressReport, now: number, usage?: UsageSource): Promise<ReportAnswer> {
    // The usage is recorded whatever the report's fate, as the table's refused-report write does.
    const { task, accepted } = await writeWithUsage(usage, async (taken) => {
      const task = this.task(report.jobId, report.taskId);
      if (!task) throw new UnknownJobError(report.jobId, report.taskId);
      addItemUsage(task, taken);
      const accepted = report.done > 0 && task.done < report.done && task.samples >= report.done && task.cancelled === undefined;
      if (accepted) {
        task.done = report.done;
        task.inside = report.inside;
        task.updatedAt = now;
      }
      return { task, accepted };
    });
    if (accepted) return { cancelled: false, done: report.done, inside: report.inside };
    if (report.done > task.samples) {
      throw new RangeError(`task ${report.taskId} of job ${report.jobId} has ${task.samples} samples, report says ${report.done}`);
    }
    return { cancelled: task.cancelled === true, done: task.done, inside: task.inside };
  }

  async recordTaskFailure(jobId: string, taskId: number, invocation: number, failure: string, now: number, usage?: UsageSource): Promise<void> {
    await writeWithUsage(usage, async (taken) => {
      const task = this.task(jobId, taskId);
      if (!task) throw new UnknownJobError(jobId, taskId);
      addItemUsage(task, taken);
      if (task.done < task.samples && task.invocations === invocation) {
        task.failure = failure;
        task.updatedAt = now;
      }
    });
  }

  async claimInvocation(jobId: string, taskId: number, invocations: number, now: number, created?: TaskItem): Promise<boolean> {
    if (invocations === 0 && created && !this.task(jobId, taskId)) {
      const { failure: _failure, ...item } = { ...created, invocations: 1, lastInvokedAt: now };
      this.partition(jobId).tasks.set(taskId, stored(item));
      return true;
    }
    const task = this.task(jobId, taskId);
    if (!task || task.invocations !== invocations || task.cancelled !== undefined) return false;
    task.invocations = invocations + 1;
    task.lastInvokedAt = now;
    delete task.failure;
    return true;
  }

  async requestCancel(jobId: string, now: number): Promise<boolean> {
    const header = this.header(jobId);
    if (!header || header.status !== 'RUNNING') return false;
    header.cancelRequestedAt ??= now;
    return true;
  }

  async beatRun(jobId: string, now: number, usage?: JobUsage): Promise<void> {
    const header = this.header(jobId);
    if (!header) throw new UnknownJobError(jobId);
    header.runHeartbeatAt = now;
    addItemUsage(header, usage);
  }

  async addJobUsage(jobId: string, usage: JobUsage): Promise<boolean> {
    const header = this.header(jobId);
    if (!header) return false;
    addItemUsage(header, usage);
    return true;
  }

  async claimRunRevival(jobId: string, lastBeat: number | undefined, now: number): Promise<boolean> {
    const header = this.header(jobId);
    if (!header || header.runHeartbeatAt !== lastBeat) return false;
    header.runHeartbeatAt = now;
    return true;
  }

  async stopTasks(tasks: readonly TaskItem[]): Promise<void> {
    for (const task of tasks) {
      const existing = this.task(task.jobId, task.taskId);
      if (existing) existing.cancelled = true;
      else this.partition(task.jobId).tasks.set(task.taskId, stored({ ...task, cancelled: true }));
    }
  }

  async finishJob(jobId: string, outcome: Outcome, now: number): Promise<boolean> {
    const header = this.header(jobId);
    if (!header || header.status !== 'RUNNING') return false;
    header.status = outcome.status;
    header.finishedAt = now;
    header.done = outcome.done;
    header.inside = outcome.inside;
    if (outcome.reason !== undefined) header.reason = outcome.reason;
    if (outcome.failedTasks !== undefined) header.failedTasks = [...outcome.failedTasks];
    return true;
  }

  async markPlacesReleased(jobId: string, now: number): Promise<void> {
    const header = this.header(jobId);
    if (header) header.placesReleasedAt ??= now;
  }

  private scope(scope: AdmissionScope): Map<string, AdmissionEntry> | undefined {
    return this.admissions.get(admissionKey(scope).sk);
  }

  async admit(scope: AdmissionScope, jobId: string, entry: AdmissionEntry, limit: number): Promise<Admission> {
    const key = admissionKey(scope).sk;
    const running = this.admissions.get(key) ?? new Map<string, AdmissionEntry>();
    const held = running.has(jobId);
    if (!held && running.size >= limit) return 'refused';
    running.set(jobId, { ...entry });
    this.admissions.set(key, running);
    return held ? 'renewed' : 'added';
  }

  async admitted(scope: AdmissionScope): Promise<Record<string, AdmissionEntry>> {
    return Object.fromEntries([...(this.scope(scope) ?? [])].map(([jobId, entry]) => [jobId, { ...entry }]));
  }

  async release(scope: AdmissionScope, jobId: string, entry?: AdmissionEntry): Promise<void> {
    const running = this.scope(scope);
    if (entry && running?.get(jobId)?.token !== entry.token) return;
    running?.delete(jobId);
  }

  async listJobs(owner: string, limit: number, after?: JobListPosition): Promise<JobListPage> {
    const owned = [...this.jobs.values()]
      .flatMap(({ header }) => (header?.owner === owner ? [header] : []))
      .sort(newestFirst)
      .filter((header) => after === undefined || newestFirst(header, after) > 0);
    const page = owned.slice(0, limit);
    const last = page.at(-1);
    return {
      jobs: page.map(summaryFields),
      ...(owned.length > limit && last && { next: { jobId: last.jobId, createdAt: last.createdAt } }),
    };
  }
}

/** The owner index's order, newest first: by createdAt, then (jobs created in the same millisecond) by job id, both descending. */
function newestFirst(a: JobListPosition, b: JobListPosition): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.jobId < b.jobId ? 1 : a.jobId > b.jobId ? -1 : 0;
}

/** The header's summary fields, as the owner index projects them. */
function summaryFields(header: JobHeader): SummarizedHeader {
  const fields = Object.fromEntries(JOB_SUMMARY_FIELDS.filter((f) => header[f] !== undefined).map((f) => [f, header[f]]));
  return stored(fields as unknown as SummarizedHeader);
}
