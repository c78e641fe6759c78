// GET /jobs through the local API Gateway, signed by several test principals as a deployed stage is
// called: each caller sees its own jobs, newest first, page by page; the list reads and never writes.
import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, type JobSummary } from '../../cli/api-client.js';
import { estimatePi } from '../../functions/shared/estimate.js';
import { usePiCloud } from '../helpers/pi-cloud.js';

const env = usePiCloud({ apiThrottling: false });

const as = (name: 'alice' | 'bob' | 'carol') =>
  new ApiClient({ endpoint: env.cloud.apiUrl, region: env.cloud.region, credentials: env.cloud.principals[name] });

const SHORT = { samples: 200_000, tasks: 2 };

/** Submits jobs one after another (so each is newer than the last) and waits for all of them to end. */
async function runJobs(client: ApiClient, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await client.submitJob({ ...SHORT, seed: 100 + i })).jobId);
  for (const id of ids) expect((await client.waitForJob(id)).status).toBe('SUCCEEDED');
  return ids;
}

/** Every job of the caller, page after page of `limit`. */
async function listAll(client: ApiClient, limit: number): Promise<{ jobs: JobSummary[]; pages: number }> {
  const jobs: JobSummary[] = [];
  let next: string | undefined;
  let pages = 0;
  do {
    const page = await client.listJobs({ limit, ...(next !== undefined && { next }) });
    jobs.push(...page.jobs);
    next = page.next;
    pages++;
  } while (next !== undefined && pages < 50);
  return { jobs, pages };
}

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
};

describe('GET /jobs', () => {
  let alices: string[];
  let bobs: string[];

  it("lists each caller's own jobs only, newest first, with a finished job's counts and estimate", async () => {
    alices = await runJobs(as('alice'), 3);
    bobs = await runJobs(as('bob'), 2);
    const alice = await as('alice').listJobs();
    expect(alice.jobs.map((j) => j.jobId)).toEqual([...alices].reverse());
    expect(alice.next).toBeUndefined();
    expect((await as('bob').listJobs()).jobs.map((j) => j.jobId)).toEqual([...bobs].reverse());
    expect(await as('carol').listJobs()).toEqual({ jobs: [] });
    // The summary of a finished job is its view without the live parts (task progress, cost).
    const view = await as('alice').getJob(alices[0]!);
    const summary = alice.jobs.at(-1)!;
    expect(summary).toEqual({
      jobId: view.jobId,
      status: 'SUCCEEDED',
      seed: view.seed,
      samples: view.samples,
      tasks: view.tasks,
      createdAt: view.createdAt,
      deadlineAt: view.deadlineAt,
      finishedAt: view.finishedAt,
      done: view.done,
      inside: view.inside,
      estimate: estimatePi(view.inside, view.done),
    });
    expect(summary.estimate).toEqual(view.estimate);
  }, 120_000);

  it('pages with limit and next: every job once, in order, and no next after the last', async () => {
    const whole = (await as('alice').listJobs()).jobs.map((j) => j.jobId);
    for (const limit of [1, 2, 3]) {
      const { jobs, pages } = await listAll(as('alice'), limit);
      expect(jobs.map((j) => j.jobId)).toEqual(whole);
      expect(pages).toBe(Math.ceil(whole.length / limit));
    }
  });

  it("answers 400 InvalidRequest to a bad limit, and to a next that is not the caller's", async () => {
    for (const limit of [0, 101, 2.5]) {
      const error = await refusal(as('alice').listJobs({ limit }));
      expect([error.status, error.code]).toEqual([400, 'InvalidRequest']);
      expect(error.message).toBe(`"limit" must be an integer between 1 and 100, got "${limit}"`);
    }
    const bobsNext = (await as('bob').listJobs({ limit: 1 })).next!;
    for (const next of [bobsNext, `${bobsNext}x`, 'not-a-token']) {
      const error = await refusal(as('alice').listJobs({ next }));
      expect([error.status, error.code]).toEqual([400, 'InvalidRequest']);
      expect(error.message).toMatch(/^"next" is not a page token of your job list/);
    }
  });

  it('answers 403 to an unsigned request, like every route', async () => {
    const answer = await as('alice').request('GET', 'jobs', { sign: false });
    expect(answer.status).toBe(403);
  });

  it('changes nothing in the table', async () => {
    await env.quiet();
    const before = await env.scanItems();
    await listAll(as('alice'), 1);
    await as('bob').listJobs();
    await as('carol').listJobs({ limit: 100 });
    await as('alice').request('GET', 'jobs?limit=0');
    expect(await env.scanItems()).toEqual(before);
  });
});
