// Jobs belong to the IAM principal that created them, and the stack runs a bounded number of them:
// through the local API Gateway, signed by several test principals, as a deployed stage is called.
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/api-client.js';
import { usePiCloud } from '../helpers/pi-cloud.js';
import { waitFor } from '../helpers/pool.js';

const env = usePiCloud({
  apiThrottling: false,
  env: { orchestrator: { maxRunningJobs: 2, maxRunningJobsPerCaller: 1 } },
});

const as = (name: 'alice' | 'bob' | 'carol') =>
  new ApiClient({ endpoint: env.cloud.apiUrl, region: env.cloud.region, credentials: env.cloud.principals[name] });

/** A job that runs for a while: a few seconds of sampling on one task. */
const LONG = { samples: 4_000_000_000, tasks: 1, seed: 3 };
const SHORT = { samples: 200_000, tasks: 2, seed: 4 };

describe('tenancy and admission', () => {
  it("hides one principal's job from another: GET and DELETE answer 404 and change nothing", async () => {
    const alice = as('alice');
    const job = await alice.submitJob(SHORT);
    for (const method of ['GET', 'DELETE']) {
      const answer = await as('bob').request(method, `jobs/${job.jobId}`);
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual({ error: { code: 'JobNotFound', message: `job ${job.jobId} does not exist` } });
    }
    const done = await alice.waitForJob(job.jobId);
    expect(done.status).toBe('SUCCEEDED');
  });

  it('scopes idempotency keys per principal: the same key names two jobs', async () => {
    const key = `tenancy-${Date.now()}`;
    const [a, b] = [await as('alice').submitJob(SHORT, { idempotencyKey: key }), await as('bob').submitJob(SHORT, { idempotencyKey: key })];
    expect(a.jobId).not.toBe(b.jobId);
    expect((await as('alice').submitJob(SHORT, { idempotencyKey: key })).jobId).toBe(a.jobId);
    await Promise.all([as('alice').waitForJob(a.jobId), as('bob').waitForJob(b.jobId)]);
  });

  it('refuses past the limits with 429 TooManyJobs and Retry-After, writes nothing, and admits again once a job ends', async () => {
    await env.quiet();
    const alice = as('alice');
    const bob = as('bob');
    const first = await alice.submitJob(LONG);
    // Alice's own limit (1): refused, though the stack has room.
    const own = await alice.request('POST', 'jobs', { body: SHORT, headers: { 'idempotency-key': 'tenancy-refused-1' } });
    expect(own.status).toBe(429);
    expect((own.body as { error: { code: string } }).error.code).toBe('TooManyJobs');
    expect(Number(own.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Bob takes the stack's second place; Carol finds the stack full.
    const second = await bob.submitJob(LONG);
    const full = await as('carol').request('POST', 'estimate', { body: SHORT });
    expect(full.status).toBe(429);
    expect((full.body as { error: { message: string } }).error.message).toMatch(/the service is running its limit of 2 job\(s\)/);
    // Nothing of a refused request was written: its idempotency key names no job.
    const items = await env.scanItems();
    expect(items.filter((i) => String(i.idempotencyKey ?? '') === 'tenancy-refused-1')).toEqual([]);
    // Cancelling Alice's job gives both places back.
    expect((await alice.cancelJob(first.jobId)).status).toBe('CANCELLED');
    const third = await alice.submitJob(SHORT);
    expect((await alice.waitForJob(third.jobId)).status).toBe('SUCCEEDED');
    await bob.cancelJob(second.jobId);
    // The admission item holds no job once they have all ended.
    await waitFor(async () => {
      const admission = (await env.scanItems()).filter((i) => i.pk === 'ADMISSION');
      return admission.every((i) => Object.keys((i.running ?? {}) as object).length === 0);
    }, 10_000, 'every place to be given back', 100);
  }, 60_000);
});
