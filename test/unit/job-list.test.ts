import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { handleApiEvent, type ApiDeps } from '../../functions/orchestrator/api.js';
import { estimatePi } from '../../functions/shared/estimate.js';
import { summarizeJob, type JobHeader, type JobSummary } from '../../functions/shared/job.js';
import { headerToItem, itemToJobItem, ownerIndexAttributes, ownerIndexKey, ownerIndexStartKey, positionOfStartKey } from '../../functions/shared/store/items.js';
import { InMemoryJobStore } from '../../functions/shared/store/memory.js';

const ALICE = 'arn:aws:iam::123456789012:user/alice';
const BOB = 'arn:aws:iam::123456789012:user/bob';

function world() {
  const store = new InMemoryJobStore();
  const deps: ApiDeps = {
    store,
    startSampler: async () => {},
    startRun: async () => {},
    now: () => 1_700_000_000_000,
    sleep: async () => {},
    jobTimeoutMs: 600_000,
    ttlSeconds: 86_400,
    pollIntervalMs: 1000,
    taskRestarts: 2,
    stallMs: 60_000,
    unheardMs: 180_000,
    samplerConcurrency: 100,
    reportIntervalMs: 1000,
    maxRunningJobs: 10,
    maxRunningJobsPerCaller: 5,
    partitionWriteUnitsPerSecond: 1000,
    estimateWaitMs: 0,
    limits: { maxTasks: 1000, maxSamples: 1e12, maxSamplesPerTask: 1e10 },
  };
  let counter = 0;
  /** A job of `owner` created at `createdAt`, written as the orchestrator writes a header. */
  const addJob = async (owner: string, createdAt: number, end?: Pick<JobHeader, 'status' | 'done' | 'inside'>): Promise<JobHeader> => {
    const header: JobHeader = {
      jobId: `00000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`,
      seed: counter, samples: 1_000_000, tasks: 4, status: 'RUNNING', createdAt, deadlineAt: createdAt + 600_000,
      expiresAt: 2e9, maxInvocations: 3, owner,
    };
    await store.createJob(header);
    if (end) await store.finishJob(header.jobId, { status: end.status, done: end.done ?? 0, inside: end.inside ?? 0 }, createdAt + 5_000);
    return header;
  };
  return { deps, store, addJob };
}

const list = (owner: string, query: Record<string, string> | null = null): APIGatewayProxyEvent =>
  ({
    httpMethod: 'GET',
    resource: '/jobs',
    path: '/jobs',
    headers: {},
    queryStringParameters: query,
    pathParameters: null,
    body: null,
    isBase64Encoded: false,
    requestContext: { path: '/prod/jobs', identity: { userArn: owner } },
  }) as unknown as APIGatewayProxyEvent;

async function get(deps: ApiDeps, owner: string, query: Record<string, string> | null = null) {
  const answer = await handleApiEvent(list(owner, query), deps);
  return { status: answer.statusCode, body: JSON.parse(answer.body) as { jobs: JobSummary[]; next?: string; error?: { code: string; message: string } } };
}

describe('GET /jobs', () => {
  it("answers the caller's jobs only, newest first, as summaries; counts and estimate for finished jobs only", async () => {
    const { deps, addJob } = world();
    const old = await addJob(ALICE, 1_000, { status: 'SUCCEEDED', done: 1_000_000, inside: 785_000 });
    const running = await addJob(ALICE, 3_000);
    await addJob(BOB, 2_000);
    const { status, body } = await get(deps, ALICE);
    expect(status).toBe(200);
    expect(body).toEqual({
      jobs: [
        {
          jobId: running.jobId, status: 'RUNNING', seed: running.seed, samples: 1_000_000, tasks: 4,
          createdAt: new Date(3_000).toISOString(), deadlineAt: new Date(603_000).toISOString(),
        },
        {
          jobId: old.jobId, status: 'SUCCEEDED', seed: old.seed, samples: 1_000_000, tasks: 4,
          createdAt: new Date(1_000).toISOString(), deadlineAt: new Date(601_000).toISOString(), finishedAt: new Date(6_000).toISOString(),
          done: 1_000_000, inside: 785_000, estimate: estimatePi(785_000, 1_000_000),
        },
      ],
    });
    expect((await get(deps, 'arn:aws:iam::123456789012:user/nobody')).body).toEqual({ jobs: [] });
  });

  it('pages by `limit` (20 unless asked) with `next` tokens, every job once, and no `next` on the last page', async () => {
    const { deps, addJob } = world();
    const created: string[] = [];
    for (let i = 0; i < 45; i++) created.unshift((await addJob(ALICE, 10_000 + i)).jobId);
    const first = await get(deps, ALICE);
    expect(first.body.jobs.map((j) => j.jobId)).toEqual(created.slice(0, 20));
    const listed: string[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const page = await get(deps, ALICE, { limit: '7', ...(next !== undefined && { next }) });
      expect(page.status).toBe(200);
      listed.push(...page.body.jobs.map((j) => j.jobId));
      next = page.body.next;
      pages++;
    } while (next !== undefined);
    expect(listed).toEqual(created);
    expect(pages).toBe(7);
    expect((await get(deps, ALICE, { limit: '45' })).body.next).toBeUndefined();
    expect((await get(deps, ALICE, { limit: '100' })).body.jobs).toHaveLength(45);
  });

  it.each([['0'], ['101'], ['-1'], ['abc'], ['1.5'], [''], ['1e2'], ['99999999999']])('refuses limit=%j with 400 InvalidRequest naming the range', async (limit) => {
    const { deps } = world();
    const { status, body } = await get(deps, ALICE, { limit });
    expect(status).toBe(400);
    expect(body.error).toEqual({ code: 'InvalidRequest', message: `"limit" must be an integer between 1 and 100, got ${JSON.stringify(limit)}` });
  });

  it("refuses another caller's token, an edited one and garbage with 400 InvalidRequest naming next", async () => {
    const { deps, addJob } = world();
    for (let i = 0; i < 3; i++) {
      await addJob(ALICE, i);
      await addJob(BOB, i);
    }
    const bobs = (await get(deps, BOB, { limit: '1' })).body.next!;
    const alices = (await get(deps, ALICE, { limit: '1' })).body.next!;
    const decoded = JSON.parse(Buffer.from(alices, 'base64url').toString()) as { createdAt: number };
    const edited = Buffer.from(JSON.stringify({ ...decoded, createdAt: decoded.createdAt + 1 })).toString('base64url');
    for (const next of [bobs, edited, 'garbage', alices.slice(0, -2), '!!', 'x'.repeat(600)]) {
      const { status, body } = await get(deps, ALICE, { next });
      expect(status).toBe(400);
      expect(body.error?.code).toBe('InvalidRequest');
      expect(body.error?.message).toMatch(/^"next" is not a page token of your job list/);
    }
    // Alice's own token goes on with her second job.
    expect((await get(deps, ALICE, { limit: '1', next: alices })).body.jobs).toHaveLength(1);
  });

  it('refuses unknown query parameters, naming them and the allowed ones', async () => {
    const { deps } = world();
    const { status, body } = await get(deps, ALICE, { limt: '5' });
    expect(status).toBe(400);
    expect(body.error).toEqual({ code: 'InvalidRequest', message: 'unknown query parameter(s) "limt"; allowed: limit, next' });
  });

  it('writes nothing', async () => {
    const { deps, store, addJob } = world();
    await addJob(ALICE, 1);
    await addJob(ALICE, 2);
    const before = store.snapshot();
    await get(deps, ALICE, { limit: '1' });
    await get(deps, ALICE, { limit: 'x' });
    expect(store.snapshot()).toEqual(before);
  });

  it('answers 403 MissingIdentity to a request with no IAM identity', async () => {
    const { deps } = world();
    const event = list(ALICE);
    (event.requestContext as { identity?: unknown }).identity = { userArn: null, caller: null };
    const answer = await handleApiEvent(event, deps);
    expect(answer.statusCode).toBe(403);
    expect(JSON.parse(answer.body).error.code).toBe('MissingIdentity');
  });
});

describe('summarizeJob', () => {
  it('gives a finished job that sampled nothing a null estimate, like its view, and a running job no counts', () => {
    const header = { jobId: 'j', status: 'CANCELLED' as const, seed: 1, samples: 10, tasks: 1, createdAt: 0, deadlineAt: 1, finishedAt: 1, done: 0, inside: 0 };
    expect(summarizeJob(header)).toMatchObject({ done: 0, inside: 0, estimate: null });
    const running = summarizeJob({ ...header, status: 'RUNNING', finishedAt: undefined, done: undefined, inside: undefined });
    expect(Object.keys(running)).toEqual(['jobId', 'status', 'seed', 'samples', 'tasks', 'createdAt', 'deadlineAt']);
  });
});

describe('the owner index layout', () => {
  it('keys an owner by a fixed-width hash, whatever the ARN, one key per owner', () => {
    const owners = [ALICE, BOB, `arn:aws:sts::123456789012:assumed-role/${'r'.repeat(64)}/${'s'.repeat(64)}`, 'ü'];
    const keys = owners.map(ownerIndexKey);
    expect(keys.every((k) => /^OWNER#[0-9a-f]{32}$/.test(k))).toBe(true);
    expect(new Set(keys).size).toBe(owners.length);
  });

  it("keeps the index's key out of the header read back, and turns a page's end into a start key and back", () => {
    const header: JobHeader = {
      jobId: '00000000-0000-4000-8000-000000000001', seed: 1, samples: 10, tasks: 1, status: 'RUNNING', createdAt: 5, deadlineAt: 6,
      expiresAt: 7, maxInvocations: 3, owner: ALICE,
    };
    expect(itemToJobItem({ ...headerToItem(header), ...ownerIndexAttributes(ALICE) })).toEqual({ kind: 'header', jobId: header.jobId, header });
    const position = { jobId: header.jobId, createdAt: 5 };
    expect(positionOfStartKey(ownerIndexStartKey(ALICE, position))).toEqual(position);
    expect(positionOfStartKey({ pk: 'ADMISSION', createdAt: 5 })).toBeUndefined();
  });
});
