// Failure modes the chaos suite found in the functions, each reproduced deterministically with one
// precise fault: regression tests for what a user is promised.
import { describe, expect, it } from 'vitest';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { runJob } from '../helpers/chaos.js';
import { usePiCloud } from '../helpers/pi-cloud.js';
import { waitFor } from '../helpers/pool.js';

const JOB_TIMEOUT_SECONDS = 10;
const env = usePiCloud({
  apiThrottling: false,
  faults: {},
  // One restart (K = 1) and a short stall limit make the stale failure record below deterministic.
  env: { orchestrator: { taskRestarts: 1, stallSeconds: 2, jobTimeoutSeconds: JOB_TIMEOUT_SECONDS }, sampler: { reportIntervalMs: 200 } },
});

const quiet = () => env.quiet();

describe('promises the functions must keep under faults', () => {
  it('a job whose creation was cut short after its header was written still runs when the client repeats the request', async () => {
    await quiet();
    // Every PutItem fails after it was written (the SDK's retries too): the request fails with a 5xx
    // after the job header (or its admission) was written, before its run was started.
    env.cloud.faults!.configure({ dynamodb: { internalError: 1, internalErrorAfterWrite: 1, operations: ['PutItem'] } });
    const request = { samples: 600_000, tasks: 3, seed: 77 };
    const first = await env.client.request('POST', 'jobs', { body: request, headers: { 'idempotency-key': 'bugs-interrupted-create' } });
    expect(first.status).toBeGreaterThanOrEqual(500);
    // DynamoDB recovers; the client repeats the request with the same key, as it should.
    env.cloud.faults!.configure({});
    const outcome = await runJob(env.client, request, 'bugs-interrupted-create', { giveUpAt: Date.now() + 60_000, pollMs: 250 });
    const stored = (await env.scanJobs()).get(outcome.jobId)!;
    // Before the fix no task item was ever written, and the job failed at its deadline with
    // "deadline passed with 0 unfinished task(s)" and no failed task named.
    expect(stored.tasks).toHaveLength(request.tasks);
    expect(outcome.view.status).toBe('SUCCEEDED');
    expect(outcome.view.inside).toBe(outcome.oracle);
  }, 60_000);

  it('a job whose run event was lost still finishes: GET drives it, since the table holds all it needs', async () => {
    await quiet();
    env.cloud.faults!.configure({ functions: { orchestrator: [{ match: { kind: 'run' }, drop: 1 }] } });
    const request = { samples: 400_000, tasks: 2, seed: 78 };
    const outcome = await runJob(env.client, request, 'bugs-lost-run', { giveUpAt: Date.now() + 60_000, pollMs: 250 });
    env.cloud.faults!.configure({});
    expect(env.cloud.faults!.events().filter((f) => f.kind === 'drop' && f.subject.includes(outcome.jobId)).length).toBeGreaterThan(0);
    // Before the fix no task was ever started and the job failed at its deadline naming every task.
    expect(outcome.view.status).toBe('SUCCEEDED');
    expect(outcome.view.inside).toBe(outcome.oracle);
  }, 60_000);

  it('a late failure record of an earlier invocation does not fail the task while a newer invocation is healthy', async () => {
    await quiet();
    env.cloud.faults!.configure({
      functions: {
        // The task's first invocation fails all three attempts...
        sampler: [{ match: { taskId: 0 }, throw: 1, times: 3 }],
        // ... and Lambda's failure record for it is held back (a backlog, or a retry of the record itself):
        // the test delivers it below, once the restart is sampling.
        progress: [{ match: { version: '1.0' }, drop: 1, times: 1 }],
      },
    });
    // Seconds of sampling: the restart is still running when the stale record lands.
    const request = { samples: 1_500_000_000, tasks: 1, seed: 79 };
    const submitted = await env.client.submitJob(request, { idempotencyKey: 'bugs-stale-failure' });
    const samplerRuns = () => env.cloud.invocations('sampler').filter((r) => r.payload.includes(submitted.jobId));
    // The restart (after the 2 s stall limit) has reported progress: it is sampling.
    const [second] = await waitFor(async () => {
      const runs = samplerRuns().filter((r) => r.payload.includes('"invocation":2'));
      const view = await env.client.getJob(submitted.jobId);
      return runs.length > 0 && view.done > 0 ? runs : undefined;
    }, 30_000, 'the restarted invocation to report', 50);
    // Lambda's record for the first invocation's last attempt, delivered late, as Lambda delivers it: an async invoke.
    const first = samplerRuns().filter((r) => r.payload.includes('"invocation":1')).at(-1)!;
    const record = {
      version: '1.0',
      timestamp: new Date(first.endedAt!).toISOString(),
      requestContext: { requestId: first.requestId, functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:sampler:$LATEST', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      requestPayload: JSON.parse(first.payload),
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: (() => {
        try {
          return JSON.parse(first.result!) as unknown;
        } catch {
          return first.result;
        }
      })(),
    };
    const progressName = Object.keys(env.cloud.functionNames).find((id) => id.startsWith('progress'))!;
    const lambda = new LambdaClient({ endpoint: env.cloud.lambdaEndpoint, region: env.cloud.region, credentials: env.cloud.credentials });
    try {
      await lambda.send(new InvokeCommand({ FunctionName: env.cloud.functionNames[progressName], InvocationType: 'Event', Payload: JSON.stringify(record) }));
    } finally {
      lambda.destroy();
    }
    const outcome = await runJob(env.client, request, 'bugs-stale-failure', { giveUpAt: Date.now() + 60_000, pollMs: 250 });
    env.cloud.faults!.configure({});
    // The job ends with the final report; its sampler returns just after.
    await quiet();
    // The case happened: Lambda's own record was held back, and the late one reached the store while the second invocation ran.
    expect(env.cloud.faults!.events().filter((f) => f.kind === 'drop' && f.subject.includes(submitted.jobId))).toHaveLength(1);
    const [late] = env.cloud.invocations('progress').filter((r) => r.payload.includes(outcome.jobId) && r.payload.includes('RetriesExhausted'));
    expect(late!.startedAt).toBeGreaterThan(second!.startedAt);
    expect(late!.startedAt).toBeLessThan(samplerRuns().find((r) => r.requestId === second!.requestId)!.endedAt!);
    // Before the fix: FAILED "task 0: sampler gave up (RetriesExhausted, 3 attempt(s)): InjectedFault: ..."
    // while the second (last allowed) invocation was sampling fine.
    expect(outcome.view.reason).toBeUndefined();
    expect(outcome.view.status).toBe('SUCCEEDED');
    expect(outcome.view.done).toBe(request.samples);
  }, 60_000);
});
