import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type GetCommandOutput,
  type PutCommandOutput,
  type QueryCommandOutput,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import type { JobUsage } from '../cost.js';
import { UnknownJobError } from '../errors.js';
import type { JobHeader, Outcome, ProgressReport, ReportAnswer, TaskItem } from '../job.js';
import { writeWithUsage, type ConsumedUnits, type UsageSource } from '../usage-meter.js';
import {
  admissionKey,
  headerKey,
  headerToItem,
  itemToJobItem,
  itemToTask,
  jobKey,
  RUNNING_JOBS_ATTRIBUTE,
  taskKey,
  taskToItem,
  usageAddition,
} from './items.js';
import type { Admission, AdmissionEntry, AdmissionScope, JobStore, StoredJob } from './port.js';
import type { SummarizedHeader } from '../job.js';
import {
  OWNER_INDEX,
  ownerIndexAttributes,
  ownerIndexKey,
  ownerIndexStartKey,
  positionOfStartKey,
  withoutIndexAttributes,
  type JobListPosition,
} from './items.js';
import type { JobListPage } from './port.js';

const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

export interface DynamoDbJobStoreOptions {
  /** Told the capacity units of every call, as DynamoDB reported them (a job's cost counts them). */
  onConsumed?: (units: ConsumedUnits) => void;
}

type Command = GetCommand | QueryCommand | PutCommand | UpdateCommand;

/**
 * What a write refused by its condition consumed: DynamoDB charges it (at least one unit, by the item's
 * size) but its error carries no `ConsumedCapacity`. A put is charged by the item it writes; an update
 * by the existing item, which for the small items refused here is one unit.
 */
function refusedWriteUnits(command: PutCommand | UpdateCommand): number {
  if (!(command instanceof PutCommand)) return 1;
  return Math.max(1, Math.ceil(Buffer.byteLength(JSON.stringify(command.input.Item)) / 1024));
}

/** The job store on the DynamoDB table (the layout is in `./items.ts`, the contract in `./port.ts`). */
export class DynamoDbJobStore implements JobStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: DynamoDbJobStoreOptions = {},
  ) {}

  /** Sends a command asking for its consumed capacity, and reports the units. */
  private async send(command: GetCommand): Promise<GetCommandOutput>;
  private async send(command: QueryCommand): Promise<QueryCommandOutput>;
  private async send(command: PutCommand | UpdateCommand): Promise<PutCommandOutput | UpdateCommandOutput>;
  private async send(command: Command): Promise<GetCommandOutput | QueryCommandOutput | PutCommandOutput | UpdateCommandOutput> {
    command.input.ReturnConsumedCapacity = 'TOTAL';
    // send() is typed by its command: one call per command type.
    const output =
      command instanceof GetCommand
        ? await this.db.send(command)
        : command instanceof QueryCommand
          ? await this.db.send(command)
          : command instanceof PutCommand
            ? await this.db.send(command)
            : await this.db.send(command);
    const units = output.ConsumedCapacity?.CapacityUnits ?? 0;
    const read = command instanceof GetCommand || command instanceof QueryCommand;
    this.options.onConsumed?.({ readUnits: read ? units : 0, writeUnits: read ? 0 : units });
    return output;
  }

  /** Sends a conditional write: its output if it was applied, undefined if its condition did not hold. */
  private async write(command: PutCommand | UpdateCommand): Promise<PutCommandOutput | UpdateCommandOutput | undefined> {
    try {
      return await this.send(command);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      this.options.onConsumed?.({ readUnits: 0, writeUnits: refusedWriteUnits(command) });
      return undefined;
    }
  }

  /** Sends a conditional write: true if it was applied, false if its condition did not hold. */
  private async applied(command: PutCommand | UpdateCommand): Promise<boolean> {
    return (await this.write(command)) !== undefined;
  }

  /** A conditional `SET` of an item that also adds `usage` to the item's usage attributes; true if applied. */
  private updateWithUsage(
    key: Record<string, unknown>,
    set: string,
    condition: string,
    values: Record<string, unknown>,
    usage: JobUsage | undefined,
  ): Promise<boolean> {
    const addition = usageAddition(usage);
    return this.applied(
      new UpdateCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: `SET ${set}` + (addition ? ` ADD ${addition.clause}` : ''),
        ConditionExpression: condition,
        ExpressionAttributeValues: { ...values, ...addition?.values },
      }),
    );
  }

  /**
   * Adds a usage taken from `source` to a task's item (if it exists) and reads the item in the same
   * write; with nothing to add, just reads it. Undefined if the item does not exist.
   */
  private async recordOnTask(jobId: string, taskId: number, source: UsageSource | undefined): Promise<TaskItem | undefined> {
    const item = await writeWithUsage(
      source,
      async (usage) => {
        const addition = usageAddition(usage);
        if (!addition) return { found: await this.loadTask(jobId, taskId) };
        const output = await this.write(
          new UpdateCommand({
            TableName: this.tableName,
            Key: taskKey(jobId, taskId),
            UpdateExpression: `ADD ${addition.clause}`,
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: addition.values,
            ReturnValues: 'ALL_NEW',
          }),
        );
        return { found: output?.Attributes && itemToTask(output.Attributes) };
      },
      (result) => result.found !== undefined,
    );
    return item.found;
  }

  /** Creates the header, only if the id is new. Returns false if the job already existed. */
  async createJob(header: JobHeader): Promise<boolean> {
    return this.applied(
      new PutCommand({
        TableName: this.tableName,
        // The owner index's key puts the header (and only headers) in the caller's job list.
        Item: { ...headerToItem(header), ...ownerIndexAttributes(header.owner) },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /**
   * Writes the task items that do not exist yet. Each put is conditional, so an item that exists (and
   * may hold progress, or be stopped) is never overwritten: a late or repeated creation is harmless.
   */
  async createMissingTasks(tasks: readonly TaskItem[]): Promise<void> {
    await Promise.all(
      tasks.map((task) =>
        this.applied(
          new PutCommand({
            TableName: this.tableName,
            Item: taskToItem(task),
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      ),
    );
  }

  /** The whole job in one consistent Query (paginated past 1 MB). */
  async loadJob(jobId: string): Promise<StoredJob | undefined> {
    let header: JobHeader | undefined;
    const tasks: TaskItem[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': jobKey(jobId) },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const read = itemToJobItem(item);
        if (read?.kind === 'header') header = read.header;
        else if (read?.kind === 'task') tasks.push(read.task);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return header && { header, tasks };
  }

  async loadHeader(jobId: string): Promise<JobHeader | undefined> {
    const { Item } = await this.send(new GetCommand({ TableName: this.tableName, Key: headerKey(jobId), ConsistentRead: true }));
    if (!Item) return undefined;
    const read = itemToJobItem(Item);
    return read?.kind === 'header' ? read.header : undefined;
  }

  async loadTask(jobId: string, taskId: number): Promise<TaskItem | undefined> {
    const { Item } = await this.send(new GetCommand({ TableName: this.tableName, Key: taskKey(jobId, taskId), ConsistentRead: true }));
    return Item && itemToTask(Item);
  }

  /**
   * Applies a report only if it moves the task forward and the job is not cancelled. A duplicate,
   * stale or late report is acknowledged and changes nothing; either way the answer is the task's
   * accepted state, from which a retried sampler resumes. The usage rides on the report's write, or,
   * when it is refused (or reports nothing), on an ADD that reads the task's state back.
   */
  async applyReport(report: ProgressReport, now: number, usage?: UsageSource): Promise<ReportAnswer> {
    // A report of nothing (a sampler asking where its task stands) can never move it forward.
    const accepted =
      report.done > 0 &&
      (await writeWithUsage(
        usage,
        (taken) =>
          this.updateWithUsage(
            taskKey(report.jobId, report.taskId),
            'done = :done, inside = :inside, updatedAt = :now',
            'attribute_exists(pk) AND done < :done AND samples >= :done AND attribute_not_exists(cancelled)',
            { ':done': report.done, ':inside': report.inside, ':now': now },
            taken,
          ),
        (applied) => applied,
      ));
    if (accepted) return { cancelled: false, done: report.done, inside: report.inside };
    // ReturnValuesOnConditionCheckFailure would save this write's read, but dynalite ignores it.
    const task = await this.recordOnTask(report.jobId, report.taskId, usage);
    if (!task) throw new UnknownJobError(report.jobId, report.taskId);
    if (report.done > task.samples) {
      throw new RangeError(`task ${report.taskId} of job ${report.jobId} has ${task.samples} samples, report says ${report.done}`);
    }
    return { cancelled: task.cancelled === true, done: task.done, inside: task.inside };
  }

  /**
   * Records that invocation `invocation` of a task failed for good (Lambda's on-failure destination),
   * unless the task finished or a newer invocation has started since: a late record of an older
   * invocation must not fail a task that is running fine.
   */
  async recordTaskFailure(jobId: string, taskId: number, invocation: number, failure: string, now: number, usage?: UsageSource): Promise<void> {
    const recorded = await writeWithUsage(
      usage,
      (taken) =>
        this.updateWithUsage(
          taskKey(jobId, taskId),
          'failure = :failure, updatedAt = :now',
          'attribute_exists(pk) AND done < samples AND invocations = :invocation',
          { ':failure': failure, ':now': now, ':invocation': invocation },
          taken,
        ),
      (applied) => applied,
    );
    if (!recorded && !(await this.recordOnTask(jobId, taskId, usage))) throw new UnknownJobError(jobId, taskId);
  }

  /**
   * Claims the next invocation of a task: succeeds for exactly one caller per invocation number, so a
   * duplicated orchestrator run never starts a task twice. A new invocation clears an earlier failure.
   */
  async claimInvocation(jobId: string, taskId: number, invocations: number, now: number, created?: TaskItem): Promise<boolean> {
    // A first start writes the task's item, claimed: one write instead of a creation and a claim.
    if (invocations === 0 && created) {
      const { failure: _failure, ...item } = { ...created, invocations: 1, lastInvokedAt: now };
      const put = await this.applied(
        new PutCommand({ TableName: this.tableName, Item: taskToItem(item), ConditionExpression: 'attribute_not_exists(pk)' }),
      );
      if (put) return true;
    }
    return this.applied(
      new UpdateCommand({
        TableName: this.tableName,
        Key: taskKey(jobId, taskId),
        UpdateExpression: 'SET invocations = :next, lastInvokedAt = :now REMOVE failure',
        ConditionExpression: 'invocations = :current AND attribute_not_exists(cancelled)',
        ExpressionAttributeValues: { ':current': invocations, ':next': invocations + 1, ':now': now },
      }),
    );
  }

  /** Marks the job as cancelled by request; false if it does not exist or already ended. */
  async requestCancel(jobId: string, now: number): Promise<boolean> {
    return this.applied(
      new UpdateCommand({
        TableName: this.tableName,
        Key: headerKey(jobId),
        UpdateExpression: 'SET cancelRequestedAt = if_not_exists(cancelRequestedAt, :now)',
        ConditionExpression: 'attribute_exists(pk) AND #status = :running',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':now': now, ':running': 'RUNNING' },
      }),
    );
  }

  /** Records that a run is polling the job now, and what the run used so far. */
  async beatRun(jobId: string, now: number, usage?: JobUsage): Promise<void> {
    const beaten = await this.updateWithUsage(headerKey(jobId), 'runHeartbeatAt = :now', 'attribute_exists(pk)', { ':now': now }, usage);
    if (!beaten) throw new UnknownJobError(jobId);
  }

  async addJobUsage(jobId: string, usage: JobUsage): Promise<boolean> {
    const addition = usageAddition(usage);
    if (!addition) return (await this.loadHeader(jobId)) !== undefined;
    return this.applied(
      new UpdateCommand({
        TableName: this.tableName,
        Key: headerKey(jobId),
        UpdateExpression: `ADD ${addition.clause}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: addition.values,
      }),
    );
  }

  /**
   * Claims the right to start a new run of a job whose run went silent (its heartbeat is still the
   * stale `lastBeat`); exactly one of several concurrent callers wins.
   */
  async claimRunRevival(jobId: string, lastBeat: number | undefined, now: number): Promise<boolean> {
    return this.applied(
      new UpdateCommand({
        TableName: this.tableName,
        Key: headerKey(jobId),
        UpdateExpression: 'SET runHeartbeatAt = :now',
        ConditionExpression:
          // attribute_exists(pk): an update never creates a stub header for a job that is gone (TTL).
          lastBeat === undefined ? 'attribute_exists(pk) AND attribute_not_exists(runHeartbeatAt)' : 'runHeartbeatAt = :lastBeat',
        ExpressionAttributeValues: lastBeat === undefined ? { ':now': now } : { ':now': now, ':lastBeat': lastBeat },
      }),
    );
  }

  /** Stops the tasks: every later report is refused and answered "cancelled". */
  async stopTasks(tasks: readonly TaskItem[]): Promise<void> {
    await Promise.all(tasks.map((task) => this.stopTask(task)));
  }

  /** Marks the task's item stopped; an item not written yet is written stopped, so it can never start. */
  private async stopTask(task: TaskItem): Promise<void> {
    const stop = () =>
      this.applied(
        new UpdateCommand({
          TableName: this.tableName,
          Key: taskKey(task.jobId, task.taskId),
          UpdateExpression: 'SET cancelled = :true',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':true': true },
        }),
      );
    if (await stop()) return;
    const created = await this.applied(
      new PutCommand({ TableName: this.tableName, Item: taskToItem({ ...task, cancelled: true }), ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    // Created by someone else in between: it exists now, so the stop applies.
    if (!created && !(await stop())) throw new UnknownJobError(task.jobId, task.taskId);
  }

  async markPlacesReleased(jobId: string, now: number): Promise<void> {
    await this.applied(
      new UpdateCommand({
        TableName: this.tableName,
        Key: headerKey(jobId),
        UpdateExpression: 'SET placesReleasedAt = if_not_exists(placesReleasedAt, :now)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':now': now },
      }),
    );
  }

  /** Writes the job's final outcome once; false if another writer finished it first. */
  async finishJob(jobId: string, outcome: Outcome, now: number): Promise<boolean> {
    const values: Record<string, unknown> = {
      ':status': outcome.status,
      ':now': now,
      ':done': outcome.done,
      ':inside': outcome.inside,
      ':running': 'RUNNING',
    };
    let update = 'SET #status = :status, finishedAt = :now, done = :done, inside = :inside';
    if (outcome.reason !== undefined) {
      update += ', reason = :reason';
      values[':reason'] = outcome.reason;
    }
    if (outcome.failedTasks !== undefined) {
      update += ', failedTasks = :failedTasks';
      values[':failedTasks'] = outcome.failedTasks;
    }
    return this.applied(
      new UpdateCommand({
        TableName: this.tableName,
        Key: headerKey(jobId),
        UpdateExpression: update,
        ConditionExpression: '#status = :running',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: values,
      }),
    );
  }

  async admit(scope: AdmissionScope, jobId: string, entry: AdmissionEntry, limit: number): Promise<Admission> {
    const write = (condition: string, values: Record<string, unknown> = {}) =>
      this.applied(
        new UpdateCommand({
          TableName: this.tableName,
          Key: admissionKey(scope),
          UpdateExpression: 'SET #running.#job = :entry',
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#running': RUNNING_JOBS_ATTRIBUTE, '#job': jobId },
          ExpressionAttributeValues: { ':entry': entry, ...values },
        }),
      );
    const add = () => limit >= 1 && write('attribute_not_exists(#running.#job) AND size(#running) < :limit', { ':limit': limit });
    if (await add()) return 'added';
    if (await write('attribute_exists(#running.#job)')) return 'renewed';
    if (limit < 1) return 'refused';
    // The scope's item may not exist yet (a map path cannot be set on a missing item): create it with
    // this job, or, if someone created it meanwhile, try once more.
    const created = await this.applied(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...admissionKey(scope), [RUNNING_JOBS_ATTRIBUTE]: { [jobId]: entry } },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return created || (await add()) ? 'added' : 'refused';
  }

  async admitted(scope: AdmissionScope): Promise<Record<string, AdmissionEntry>> {
    const { Item } = await this.send(new GetCommand({ TableName: this.tableName, Key: admissionKey(scope), ConsistentRead: true }));
    return { ...((Item?.[RUNNING_JOBS_ATTRIBUTE] ?? {}) as Record<string, AdmissionEntry>) };
  }

  async release(scope: AdmissionScope, jobId: string, entry?: AdmissionEntry): Promise<void> {
    await this.applied(
      new UpdateCommand({
        TableName: this.tableName,
        Key: admissionKey(scope),
        UpdateExpression: 'REMOVE #running.#job',
        ConditionExpression: entry ? '#running.#job.#token = :token' : 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#running': RUNNING_JOBS_ATTRIBUTE, '#job': jobId, ...(entry && { '#token': 'token' }) },
        ...(entry && { ExpressionAttributeValues: { ':token': entry.token ?? null } }),
      }),
    );
  }

  /**
   * One Query of the owner index, newest first. It asks for one job more than the page holds, so `next`
   * is given only when another job follows; a page cut short by DynamoDB's 1 MB limit goes on from
   * where it was cut.
   */
  async listJobs(owner: string, limit: number, after?: JobListPosition): Promise<JobListPage> {
    const page = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: OWNER_INDEX.name,
        KeyConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': OWNER_INDEX.partitionKey },
        ExpressionAttributeValues: { ':owner': ownerIndexKey(owner) },
        ScanIndexForward: false,
        Limit: limit + 1,
        ...(after && { ExclusiveStartKey: ownerIndexStartKey(owner, after) }),
      }),
    );
    const items = page.Items ?? [];
    const listed = items.slice(0, limit);
    const cutAt = items.length > limit ? listed.at(-1) : page.LastEvaluatedKey;
    const next = cutAt && positionOfStartKey(cutAt);
    return { jobs: listed.map(summarizedHeader), ...(next && { next }) };
  }
}

/** A header as the owner index projects it, without the layout's attributes. */
function summarizedHeader(item: Record<string, unknown>): SummarizedHeader {
  const { pk: _pk, sk: _sk, ...rest } = withoutIndexAttributes(item);
  return rest as unknown as SummarizedHeader;
}
