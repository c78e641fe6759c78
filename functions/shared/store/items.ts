import { createHash } from 'node:crypto';
import { emptyUsage, FUNCTION_NAMES, type JobUsage } from '../cost.js';
import type { JobHeader, TaskItem } from '../job.js';
import type { AdmissionScope } from './port.js';
import { JOB_SUMMARY_FIELDS } from '../job.js';

/**
 * The job table's item layout, the one place that spells it: a job is one partition, `pk = JOB#<id>`,
 * holding its header (`sk = JOB`) and one item per task (`sk = TASK#0007`), so one consistent Query
 * reads the whole job in task order (see README, Architecture).
 */

const JOB_KEY_PREFIX = 'JOB#';
export const HEADER_SORT_KEY = 'JOB';
export const TASK_SORT_PREFIX = 'TASK#';
const TASK_ID_DIGITS = 4;

/**
 * The most tasks a job may have for its task items to sort in task order: task ids are padded to
 * four digits, so ids 0..9999 order correctly and 10000 would sort between 1000 and 1001.
 */
export const MAX_TASKS_PER_JOB = 10 ** TASK_ID_DIGITS;

/** The partition key of a job's items. */
export const jobKey = (jobId: string) => `${JOB_KEY_PREFIX}${jobId}`;

/** The job id a partition key names, or undefined if it is not a job's key. */
export const jobIdOfKey = (pk: unknown): string | undefined =>
  typeof pk === 'string' && pk.startsWith(JOB_KEY_PREFIX) ? pk.slice(JOB_KEY_PREFIX.length) : undefined;

export const taskSortKey = (taskId: number) => `${TASK_SORT_PREFIX}${String(taskId).padStart(TASK_ID_DIGITS, '0')}`;

/** The key of a job's header item. */
export const headerKey = (jobId: string) => ({ pk: jobKey(jobId), sk: HEADER_SORT_KEY });

/** The key of one task item. */
export const taskKey = (jobId: string, taskId: number) => ({ pk: jobKey(jobId), sk: taskSortKey(taskId) });

/**
 * What a job used is kept as flat numbers on its items, added to (DynamoDB `ADD`) by the writes that
 * happen anyway and summed when the job is read: task items carry their samplers' and progress
 * reports' usage, the header the orchestrator's and the API's. One attribute per number, short names
 * (an item's size counts its attribute names): `u_sampler_ms`, `u_rcu`, ...
 */
const USAGE_ATTRIBUTES: readonly { name: string; get(u: JobUsage): number; set(u: JobUsage, value: number): void }[] = [
  ...FUNCTION_NAMES.flatMap((fn) => [
    { name: `u_${fn}_req`, get: (u: JobUsage) => u.functions[fn].requests, set: (u: JobUsage, v: number) => void (u.functions[fn].requests = v) },
    { name: `u_${fn}_ms`, get: (u: JobUsage) => u.functions[fn].billedMs, set: (u: JobUsage, v: number) => void (u.functions[fn].billedMs = v) },
    { name: `u_${fn}_mbms`, get: (u: JobUsage) => u.functions[fn].mbMs, set: (u: JobUsage, v: number) => void (u.functions[fn].mbMs = v) },
  ]),
  { name: 'u_rcu', get: (u) => u.dynamodb.readUnits, set: (u, v) => void (u.dynamodb.readUnits = v) },
  { name: 'u_wcu', get: (u) => u.dynamodb.writeUnits, set: (u, v) => void (u.dynamodb.writeUnits = v) },
  { name: 'u_api', get: (u) => u.apiRequests, set: (u, v) => void (u.apiRequests = v) },
];

const USAGE_ATTRIBUTE_NAMES = new Set(USAGE_ATTRIBUTES.map((a) => a.name));

/** A usage as the item's attributes (its non-zero numbers only). */
export function usageAttributes(usage: JobUsage | undefined): Record<string, number> {
  if (!usage) return {};
  return Object.fromEntries(USAGE_ATTRIBUTES.map((a) => [a.name, a.get(usage)]).filter(([, value]) => value !== 0));
}

/** An `ADD` clause (without the keyword) adding `usage` to an item, and its values; undefined if it adds nothing. */
export function usageAddition(usage: JobUsage | undefined): { clause: string; values: Record<string, number> } | undefined {
  const attributes = Object.entries(usageAttributes(usage));
  if (attributes.length === 0) return undefined;
  return {
    clause: attributes.map(([name]) => `${name} :${name}`).join(', '),
    values: Object.fromEntries(attributes.map(([name, value]) => [`:${name}`, value])),
  };
}

/** Splits an item's usage attributes from the rest: `usage` is undefined when it has none. */
function splitUsage(item: Record<string, unknown>): { rest: Record<string, unknown>; usage?: JobUsage } {
  const rest: Record<string, unknown> = {};
  let usage: JobUsage | undefined;
  for (const [name, value] of Object.entries(item)) {
    if (!USAGE_ATTRIBUTE_NAMES.has(name)) rest[name] = value;
    else if (typeof value === 'number') usage ??= emptyUsage();
  }
  if (usage) for (const attribute of USAGE_ATTRIBUTES) attribute.set(usage, Number(item[attribute.name] ?? 0));
  return { rest, ...(usage && { usage }) };
}

/** An item with its usage as flat attributes. */
function withUsageAttributes<T extends { usage?: JobUsage }>(key: Record<string, string>, value: T): Record<string, unknown> {
  const { usage, ...rest } = value;
  return { ...key, ...rest, ...usageAttributes(usage) };
}

export const headerToItem = (header: JobHeader): Record<string, unknown> => withUsageAttributes(headerKey(header.jobId), header);

export const taskToItem = (task: TaskItem): Record<string, unknown> => withUsageAttributes(taskKey(task.jobId, task.taskId), task);

/**
 * Admission: each scope is one item in the `ADMISSION` partition holding a map of its running jobs,
 * so admitting a job is one conditional write on the map's size. A caller's scope is keyed by a hash
 * of its principal (ARNs can be long and hold any character).
 */
const ADMISSION_KEY = 'ADMISSION';
export const RUNNING_JOBS_ATTRIBUTE = 'running';

export function admissionKey(scope: AdmissionScope): { pk: string; sk: string } {
  if (scope === 'stack') return { pk: ADMISSION_KEY, sk: 'STACK' };
  return { pk: ADMISSION_KEY, sk: `CALLER#${createHash('sha256').update(scope.caller).digest('hex').slice(0, 32)}` };
}

/** What a stored item is: a job's header, one of its tasks, or something else (undefined). */
export type JobItem = { kind: 'header'; jobId: string; header: JobHeader } | { kind: 'task'; jobId: string; task: TaskItem };

export function itemToJobItem(item: Record<string, unknown>): JobItem | undefined {
  const { pk, sk, ...attributes } = item;
  const { rest: fields, usage } = splitUsage(attributes);
  const rest = { ...fields, ...(usage && { usage }) };
  const jobId = jobIdOfKey(pk);
  if (jobId === undefined) return undefined;
  if (sk === HEADER_SORT_KEY) return { kind: 'header', jobId, header: withoutIndexAttributes(rest) as unknown as JobHeader };
  if (typeof sk === 'string' && sk.startsWith(TASK_SORT_PREFIX)) return { kind: 'task', jobId, task: rest as unknown as TaskItem };
  return undefined;
}

/** A task item read by its key, without its key attributes. */
export function itemToTask(item: Record<string, unknown>): TaskItem {
  const { pk: _pk, sk: _sk, ...attributes } = item;
  const { rest, usage } = splitUsage(attributes);
  return { ...rest, ...(usage && { usage }) } as unknown as TaskItem;
}

/**
 * The owner index (`byOwner`): a caller's jobs, newest first. Its partition key is a hash of the owner
 * (fixed width, like an admission scope's key) and its sort key the header's `createdAt`. Only headers
 * carry the hash, so task items stay out of the index (a sparse index), and it projects only what a
 * job's summary needs. Like every global secondary index it is eventually consistent.
 */
export const OWNER_INDEX = {
  name: 'byOwner',
  partitionKey: 'ownerKey',
  sortKey: 'createdAt',
  projected: JOB_SUMMARY_FIELDS.filter((field) => field !== 'createdAt'),
} as const;

/** The owner index's partition key of an owner's jobs. */
export const ownerIndexKey = (owner: string): string => `OWNER#${createHash('sha256').update(owner).digest('hex').slice(0, 32)}`;

/** The attributes that put a header in the owner index. */
export const ownerIndexAttributes = (owner: string): Record<string, string> => ({ [OWNER_INDEX.partitionKey]: ownerIndexKey(owner) });

/** A header item without the owner index's attributes (they are layout, not part of the header). */
export function withoutIndexAttributes(item: Record<string, unknown>): Record<string, unknown> {
  const { [OWNER_INDEX.partitionKey]: _ownerKey, ...rest } = item;
  return rest;
}

/** Where a page of a caller's job list ends: the last job listed, as the index orders it. */
export interface JobListPosition {
  jobId: string;
  createdAt: number;
}

/** The owner index's start key after `position`, for `owner`'s jobs: the index's keys and the table's. */
export const ownerIndexStartKey = (owner: string, position: JobListPosition): Record<string, unknown> => ({
  ...headerKey(position.jobId),
  ...ownerIndexAttributes(owner),
  [OWNER_INDEX.sortKey]: position.createdAt,
});

/** The position a page of the owner index ended at (its LastEvaluatedKey), or undefined if it is not one. */
export function positionOfStartKey(key: Record<string, unknown>): JobListPosition | undefined {
  const jobId = jobIdOfKey(key.pk);
  const createdAt = key[OWNER_INDEX.sortKey];
  return jobId !== undefined && typeof createdAt === 'number' ? { jobId, createdAt } : undefined;
}
