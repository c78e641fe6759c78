import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, type ApiResponse, type JobView } from '../../cli/api-client.js';
import { waitFor } from '../helpers/pool.js';
import { useE2eCloud } from './cloud.js';

// The synthesized stack on the local cloud, driven through signed HTTP like any client.
const env = useE2eCloud();


function expectErrorShape(response: ApiResponse, status: number): { code: string; message: string } {
  expect(response.status, response.text).toBe(status);
  const error = (response.body as { error?: { code?: unknown; message?: unknown } }).error;
  expect(typeof error?.code).toBe('string');
  expect(typeof error?.message).toBe('string');
  expect((error!.message as string).length).toBeGreaterThan(0);
  return error as { code: string; message: string };
}

describe('a job through the API', () => {
  it('POST /jobs answers 202 with the job and its Location, and GET follows it to a correct π', async () => {
    const response = await env.client.request('POST', 'jobs', { body: { samples: 4_000_000, tasks: 4, seed: 11 } });
    expect(response.status, response.text).toBe(202);
    const submitted = response.body as JobView & { location: string };
    expect(submitted.jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(submitted.seed).toBe(11);
    expect(submitted.status).toBe('RUNNING');
    expect(response.headers.get('location')).toBe(`/prod/jobs/${submitted.jobId}`);
    expect(submitted.location).toBe(`/prod/jobs/${submitted.jobId}`);

    const seen: number[] = [];
    const job = await env.client.waitForJob(submitted.jobId, { intervalMs: 200, onUpdate: (view) => seen.push(view.progress) });
    expect(job.status).toBe('SUCCEEDED');
    expect(job.done).toBe(4_000_000);
    expect(job.progress).toBe(1);
    expect(job.taskProgress.map((t) => t.done).reduce((a, b) => a + b, 0)).toBe(4_000_000);
    expect(job.finishedAt).toBeDefined();
    const { pi, standardError, ci95 } = job.estimate!;
    expect(pi).toBe((4 * job.inside) / job.done);
    expect(Math.abs(pi - Math.PI)).toBeLessThan(5 * standardError);
    expect(ci95[0]).toBeLessThan(pi);
    expect(ci95[1]).toBeGreaterThan(pi);
    // Progress only moves forward.
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });

  it('the same seed and samples give the same inside count, whatever the number of tasks', async () => {
    const [a, b] = await Promise.all([
      env.client.submitJob({ samples: 3_000_000, tasks: 3, seed: 424242 }),
      env.client.submitJob({ samples: 3_000_000, tasks: 7, seed: 424242 }),
    ]);
    const [doneA, doneB] = await Promise.all([env.client.waitForJob(a.jobId), env.client.waitForJob(b.jobId)]);
    expect(doneA.status).toBe('SUCCEEDED');
    expect(doneB.status).toBe('SUCCEEDED');
    expect(doneA.inside).toBe(doneB.inside);
    expect(doneA.estimate).toEqual(doneB.estimate);
  });

  it('POST /estimate waits and answers 200 with the finished job', async () => {
    const { status, job } = await env.client.estimate({ samples: 1_000_000, tasks: 2, seed: 5 });
    expect(status).toBe(200);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.done).toBe(1_000_000);
    expect(Math.abs(job.estimate!.pi - Math.PI)).toBeLessThan(5 * job.estimate!.standardError);
  });

  it('DELETE cancels a running job; its counts are frozen from then on', async () => {
    const job = await env.client.submitJob({ samples: 20_000_000_000, tasks: 10 });
    // The job is sampling: a progress report has reached the table.
    const view = await waitFor(async () => {
      const v = await env.client.getJob(job.jobId);
      return v.done > 0 ? v : undefined;
    }, 60_000, 'a progress report', 200);
    expect(view.status).toBe('RUNNING');

    const cancelled = await env.client.cancelJob(job.jobId);
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.done).toBeGreaterThan(0);
    expect(cancelled.done).toBeLessThan(cancelled.samples);
    expect(cancelled.finishedAt).toBeDefined();

    // Every sampler of the job has seen the cancellation at a report and ended: whatever they reported was refused.
    const samplersOfJob = () => env.cloud.invocations('sampler').filter((r) => r.payload.includes(job.jobId));
    await waitFor(() => samplersOfJob().length > 0 && samplersOfJob().every((r) => r.endedAt !== undefined), 60_000, 'the samplers to stop', 100);
    const later = await env.client.getJob(job.jobId);
    expect(later.status).toBe('CANCELLED');
    expect(later.done).toBe(cancelled.done);
    expect(later.inside).toBe(cancelled.inside);
    const counts = (v: JobView) => v.taskProgress.map((t) => [t.taskId, t.done]);
    expect(counts(later)).toEqual(counts(cancelled));

    // Cancelling again is harmless and says the same.
    const again = await env.client.cancelJob(job.jobId);
    expect(again.status).toBe('CANCELLED');
    expect(again.done).toBe(cancelled.done);
  }, 90_000);

  it('an Idempotency-Key repeat returns the same job instead of starting another', async () => {
    const key = `e2e-${randomUUID()}`;
    const first = await env.client.submitJob({ samples: 500_000, tasks: 2, seed: 9 }, { idempotencyKey: key });
    const second = await env.client.submitJob({ samples: 500_000, tasks: 2, seed: 9 }, { idempotencyKey: key });
    expect(second.jobId).toBe(first.jobId);
    expect(second.seed).toBe(9);
    const other = await env.client.submitJob({ samples: 500_000, tasks: 2, seed: 9 });
    expect(other.jobId).not.toBe(first.jobId);
    await Promise.all([first, other].map((job) => env.client.waitForJob(job.jobId)));
  });
});

describe('what the API refuses', () => {
  it('an unsigned request gets 403 and starts nothing', async () => {
    const response = await env.client.request('POST', 'jobs', { body: { samples: 1000, tasks: 1 }, sign: false, retry: true });
    expectErrorShape(response, 403);
  });

  it('a request signed with the wrong secret gets 403', async () => {
    const stranger = new ApiClient({
      endpoint: env.cloud.apiUrl,
      region: env.cloud.region,
      credentials: { accessKeyId: env.cloud.credentials.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    const response = await stranger.request('GET', `jobs/${randomUUID()}`, { retry: true });
    expectErrorShape(response, 403);
  });

  it.each([
    ['malformed JSON', '{"samples": 1000, "tasks": ', /JSON|body/i],
    ['an unknown field', { samples: 1000, tasks: 1, color: 'red' }, /color/],
    ['tasks 0', { samples: 1000, tasks: 0 }, /"tasks" must be between 1 and 1000, got 0/],
    ['samples as a string', { samples: '1000', tasks: 1 }, /"samples" must be an integer, got "1000"/],
    ['a fractional samples', { samples: 1000.5, tasks: 1 }, /"samples" must be an integer, got 1000.5/],
    ['negative samples', { samples: -5, tasks: 1 }, /"samples" must be between 1 and/],
    ['no tasks', { samples: 1000 }, /tasks/],
    ['more tasks than blocks', { samples: 16_384, tasks: 2 }, /must not exceed the number of 16384-sample blocks/],
  ])('POST /jobs with %s gets 400 {"error":{code,message}} naming the problem', async (_name, body, message) => {
    const response = await env.client.request('POST', 'jobs', { body, retry: true });
    expect(expectErrorShape(response, 400).message).toMatch(message);
  });

  it('a bad body on POST /estimate gets 400 too', async () => {
    const response = await env.client.request('POST', 'estimate', { body: { samples: 1000, tasks: 0 }, retry: true });
    expectErrorShape(response, 400);
  });

  it('an unknown job gets 404 JobNotFound, on GET and on DELETE', async () => {
    const id = randomUUID();
    const get = await env.client.request('GET', `jobs/${id}`, { retry: true });
    expect(expectErrorShape(get, 404).code).toBe('JobNotFound');
    const del = await env.client.request('DELETE', `jobs/${id}`, { retry: true });
    expect(expectErrorShape(del, 404).code).toBe('JobNotFound');
  });

  it('the client turns an error answer into an ApiError with the code and message', async () => {
    const error = await env.client.submitJob({ samples: 1000, tasks: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect((error as ApiError).message).toMatch(/"tasks" must be between 1 and 1000, got 0/);
  });
});
