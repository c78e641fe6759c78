import { beforeEach, describe, expect, it } from 'vitest';
import { applyProgressEvent, type LambdaDestinationRecord } from '../../functions/progress/apply.js';
import { MAX_FAILURE_CHARS, planTasks, type JobHeader, type SamplerEvent } from '../../functions/shared/job.js';
import { InMemoryJobStore } from '../../functions/shared/store/memory.js';

const JOB = '00000000-0000-4000-8000-000000000001';
const header: JobHeader = {
  jobId: JOB, seed: 1, samples: 2 * 16_384, tasks: 2, status: 'RUNNING', createdAt: 0, deadlineAt: 1e15, expiresAt: 2e9, maxInvocations: 3,
  owner: 'arn:aws:iam::123456789012:user/alice',
};

let store: InMemoryJobStore;
beforeEach(async () => {
  store = new InMemoryJobStore();
  await store.createJob(header);
  const [task] = planTasks(header.samples, header.tasks).map((p) => ({ ...p, jobId: JOB, done: 0, inside: 0, invocations: 0, expiresAt: 2e9 }));
  expect(await store.claimInvocation(JOB, 0, 0, 1, task)).toBe(true);
});

describe('the progress function', () => {
  it("answers a run's first report (a report of nothing) with where the task stands, writing nothing", async () => {
    const before = store.snapshot();
    expect(await applyProgressEvent({ jobId: JOB, taskId: 0, done: 0, inside: 0 }, store, 5)).toEqual({ cancelled: false, done: 0, inside: 0 });
    expect(store.snapshot()).toEqual(before);
  });

  it('tells a run that starts after its job ended to stop, though its task was never stopped', async () => {
    await store.finishJob(JOB, { status: 'CANCELLED', done: 0, inside: 0, reason: 'cancelled by request' }, 2);
    expect(await applyProgressEvent({ jobId: JOB, taskId: 0, done: 0, inside: 0 }, store, 5)).toEqual({ cancelled: true, done: 0, inside: 0 });
  });

  it('tells it too once a cancel was requested, before the job is settled', async () => {
    await store.requestCancel(JOB, 2);
    expect((await applyProgressEvent({ jobId: JOB, taskId: 0, done: 0, inside: 0 }, store, 5)) as { cancelled: boolean }).toMatchObject({ cancelled: true });
  });

  it("keeps a failure record's text short, however long the error it carries", async () => {
    const record: LambdaDestinationRecord<SamplerEvent> = {
      version: '1.0',
      timestamp: new Date(0).toISOString(),
      requestContext: { requestId: 'r', functionArn: 'arn', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      requestPayload: { jobId: JOB, taskId: 0, seed: 1, samples: header.samples, startBlock: 0, endBlock: 1, invocation: 1 },
      responsePayload: { errorType: 'Error', errorMessage: 'x'.repeat(100_000) },
    };
    await applyProgressEvent(record, store, 5);
    const failure = (await store.loadTask(JOB, 0))!.failure!;
    expect(failure.length).toBeLessThanOrEqual(MAX_FAILURE_CHARS);
    expect(failure).toMatch(/^sampler gave up \(RetriesExhausted, 3 attempt\(s\)\): Error: x+…$/);
  });
});
