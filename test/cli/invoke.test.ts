import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { listFunctions } from '../../cli/functions.js';
import { TEMPLATE_PATH } from '../../cli/synth.js';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbJobStore } from '../../functions/shared/store/dynamodb.js';
import { startLocalDynamoDb } from '../../local/index.js';
import { kernel } from '../../functions/shared/kernel/index.js';
import { hasStackTrace, runNpm } from './run.js';

const stateDir = mkdtempSync(join(tmpdir(), 'pi-invoke-test-'));
const SAMPLE_JOB = '00d1fcad-ed34-8c23-a707-789db391642d';

/** The job header as the state folder holds it once invoke has stopped. */
async function storedJobStatus(): Promise<string | undefined> {
  const dynamo = await startLocalDynamoDb({ templatePath: TEMPLATE_PATH, stateDir });
  const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: dynamo.region, credentials: dynamo.credentials });
  try {
    const table = Object.values(dynamo.tableNames)[0]!;
    const job = await new DynamoDbJobStore(DynamoDBDocumentClient.from(client), table).loadJob(SAMPLE_JOB);
    return job?.header.status;
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

// The sample events tell one story: the API event creates a job (its Idempotency-Key fixes the
// job id), the sampler event runs that job's task 0, the other events report on it.
describe('npm run invoke', () => {
  it('a sample event run before the job exists says which event creates it', async () => {
    const run = await runNpm(['run', '--silent', 'invoke', '--', 'sampler', '--event', 'events/sampler.json', '--in-memory']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/The job is not in the state folder yet: create it first with npm run invoke -- orchestrator --event events\/api-post-jobs\.json/);
  }, 300_000);

  it('invokes the orchestrator with the API Gateway event, prints its proxy response, and waits for the job it started', async () => {
    const out = join(stateDir, 'post-jobs.json');
    const run = await runNpm(['run', 'invoke', '--', 'orchestrator', '--event', 'events/api-post-jobs.json', '--state-dir', stateDir, '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    // --out keeps the result away from npm's banner on stdout.
    expect(run.stdout).toMatch(/^> .* invoke$/m);
    const response = JSON.parse(readFileSync(out, 'utf8')) as { statusCode: number; headers: Record<string, string>; body: string };
    expect(response.statusCode).toBe(202);
    expect(response.headers.location).toBe('/prod/jobs/00d1fcad-ed34-8c23-a707-789db391642d');
    expect(JSON.parse(response.body)).toMatchObject({ jobId: '00d1fcad-ed34-8c23-a707-789db391642d', seed: 7, tasks: 4 });
    // The log tail, CloudWatch style.
    expect(run.stderr).toMatch(/^START RequestId: \S+ Version: \$LATEST$/m);
    expect(run.stderr).toMatch(/^REPORT RequestId: \S+\tDuration: /m);
    // The async run it started (and the samplers that run started) finished before the cloud stopped.
    expect(run.stderr).toMatch(/^Async work done after [\d.]+ s\.$/m);
    expect(await storedJobStatus()).toBe('SUCCEEDED');
  }, 300_000);

  it('invokes the sampler by its friendly name and prints the task result with its log tail', async () => {
    const run = await runNpm(['run', '--silent', 'invoke', '--', 'sampler', '--event', 'events/sampler.json', '--state-dir', stateDir]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    // Task 0 of (seed 7, 1,048,576 samples) owns blocks 0..16.
    expect(result).toEqual({
      jobId: '00d1fcad-ed34-8c23-a707-789db391642d',
      taskId: 0,
      done: 262_144,
      inside: kernel.countInside(7, 0, 16, 1_048_576),
      cancelled: false,
    });
    expect(run.stderr).toMatch(/"level":"INFO","message":"task ended"/);
  }, 300_000);

  it('invokes the progress function by logical id with a report and with a destination record', async () => {
    const progress = listFunctions(TEMPLATE_PATH).find((f) => f.friendlyName === 'progress')!;
    const report = await runNpm(['run', '--silent', 'invoke', '--', progress.logicalId, '-e', 'events/progress-report.json', '--state-dir', stateDir]);
    expect(report.code, report.stderr).toBe(0);
    // Task 0 already finished: an older report is acknowledged and changes nothing.
    expect(JSON.parse(report.stdout)).toEqual({ cancelled: false, done: 262_144, inside: kernel.countInside(7, 0, 16, 1_048_576) });

    const record = await runNpm(['run', '--silent', 'invoke', '--', 'progress', '-e', 'events/sampler-failure-record.json', '--state-dir', stateDir]);
    expect(record.code, record.stderr).toBe(0);
    expect(JSON.parse(record.stdout)).toEqual({ recorded: true });
  }, 300_000);

  it('a function error is printed as the error record and exits 1; an unknown function lists the choices', async () => {
    const failed = await runNpm(['run', '--silent', 'invoke', '--', 'progress', '--in-memory']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ errorType: 'TypeError', errorMessage: expect.stringContaining('not a progress report') });

    const unknown = await runNpm(['run', '--silent', 'invoke', '--', 'nosuchfunction', '--in-memory']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no function "nosuchfunction".*sampler \(sampler\w+\)/);
    expect(hasStackTrace(unknown.stderr)).toBe(false);
  }, 300_000);
});
