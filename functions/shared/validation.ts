import { createHash } from 'node:crypto';
import { ApiError } from './errors.js';
import type { JobRequest } from './job.js';
import { BLOCK_SIZE, MAX_SEED, blockCount } from './kernel/stream-rule.js';
import type { JobListPosition } from './store/items.js';

export interface Limits {
  maxTasks: number;
  maxSamples: number;
  maxSamplesPerTask: number;
}

/** A job request body is a few dozen bytes; anything much larger is a mistake, not a job. */
export const MAX_BODY_BYTES = 1024;
const FIELDS = ['samples', 'tasks', 'seed'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const invalid = (message: string) => new ApiError(400, 'InvalidRequest', message);

function integerField(body: Record<string, unknown>, name: string, min: number, max: number): number {
  const value = body[name];
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalid(`"${name}" must be an integer, got ${JSON.stringify(value) ?? 'nothing'}`);
  }
  if (value < min || value > max) throw invalid(`"${name}" must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Parses and checks a job request body; throws an ApiError that says what to fix. */
export function parseJobRequest(body: string | null | undefined, limits: Limits): JobRequest {
  if (body === null || body === undefined || body.trim() === '') {
    throw invalid('the request needs a JSON body like {"samples": 100000000, "tasks": 10}');
  }
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) {
    throw new ApiError(413, 'PayloadTooLarge', `the body must be at most ${MAX_BODY_BYTES} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ApiError(400, 'InvalidJson', 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid('the body must be a JSON object like {"samples": 100000000, "tasks": 10}');
  }
  const fields = parsed as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => !FIELDS.includes(k));
  if (unknown.length > 0) {
    throw invalid(`unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: samples, tasks, seed`);
  }
  if (!('samples' in fields)) throw invalid('"samples" is required');
  if (!('tasks' in fields)) throw invalid('"tasks" is required');
  const samples = integerField(fields, 'samples', 1, limits.maxSamples);
  const tasks = integerField(fields, 'tasks', 1, limits.maxTasks);
  const seed = 'seed' in fields ? integerField(fields, 'seed', 0, MAX_SEED) : undefined;

  const blocks = blockCount(samples);
  if (tasks > blocks) {
    throw invalid(
      `"tasks" (${tasks}) must not exceed the number of ${BLOCK_SIZE}-sample blocks (${blocks}): ` +
        'use fewer tasks or more samples',
    );
  }
  const maxBlocksPerTask = Math.floor(limits.maxSamplesPerTask / BLOCK_SIZE);
  if (Math.ceil(blocks / tasks) > maxBlocksPerTask) {
    throw invalid(
      `a task may sample at most ${maxBlocksPerTask * BLOCK_SIZE} samples: ` +
        `use at least ${Math.ceil(blocks / maxBlocksPerTask)} tasks for ${samples} samples`,
    );
  }
  return seed === undefined ? { samples, tasks } : { samples, tasks, seed };
}

export function parseJobId(id: string | undefined): string {
  if (id === undefined || !UUID.test(id)) {
    throw new ApiError(400, 'InvalidJobId', `job ids are lowercase UUIDs, got ${JSON.stringify(id ?? '')}`);
  }
  return id;
}

/** Idempotency keys: printable ASCII, as Stripe and AWS client tokens allow. */
export function parseIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,128}$/.test(key)) {
    throw invalid('the Idempotency-Key header must be 1 to 128 printable ASCII characters');
  }
  return key;
}

/** `GET /jobs` answers at most this many jobs a page, and this many unless asked. */
export const MAX_LIST_LIMIT = 100;
export const DEFAULT_LIST_LIMIT = 20;
const LIST_PARAMETERS = ['limit', 'next'];
/** A page token is about 120 characters; anything much longer was not made by us. */
const MAX_TOKEN_CHARS = 512;

/** What a `GET /jobs` request asks for: a page size, and where the previous page ended. */
export interface JobListQuery {
  limit: number;
  after?: JobListPosition;
}

/**
 * The check a page token carries: it binds the position to the caller, so a token of another caller's
 * list, or an edited one, is refused. (The list's partition comes from the caller's identity, never from
 * the token: a token can only say where in the caller's own list to go on.)
 */
function tokenCheck(owner: string, position: JobListPosition): string {
  return createHash('sha256').update(`job-list:${owner}\n${position.jobId}\n${position.createdAt}`).digest('base64url').slice(0, 22);
}

/** The opaque `next` of a `GET /jobs` answer: base64url of where the page ended, and its check. */
export function jobListToken(owner: string, position: JobListPosition): string {
  const token = { jobId: position.jobId, createdAt: position.createdAt, check: tokenCheck(owner, position) };
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function parsePosition(token: string, owner: string): JobListPosition {
  const refused = invalid('"next" is not a page token of your job list: pass the "next" of your previous GET /jobs answer as it is');
  if (token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) throw refused;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw refused;
  }
  const { jobId, createdAt, check } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof jobId !== 'string' || !UUID.test(jobId) || typeof createdAt !== 'number' || !Number.isSafeInteger(createdAt)) throw refused;
  const position = { jobId, createdAt };
  if (check !== tokenCheck(owner, position)) throw refused;
  return position;
}

/** Parses `GET /jobs`'s query string for `owner`; throws an ApiError that says what to fix. */
export function parseJobListQuery(query: Record<string, string | undefined> | null | undefined, owner: string): JobListQuery {
  const params = query ?? {};
  const unknown = Object.keys(params).filter((k) => !LIST_PARAMETERS.includes(k));
  if (unknown.length > 0) {
    throw invalid(`unknown query parameter(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: limit, next`);
  }
  const { limit: limitText, next } = params;
  let limit = DEFAULT_LIST_LIMIT;
  if (limitText !== undefined) {
    limit = /^[0-9]{1,4}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) {
      throw invalid(`"limit" must be an integer between 1 and ${MAX_LIST_LIMIT}, got ${JSON.stringify(limitText)}`);
    }
  }
  return next === undefined ? { limit } : { limit, after: parsePosition(next, owner) };
}
