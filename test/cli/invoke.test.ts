import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listFunctions } from '../../cli/functions.js';
import { TEMPLATE_PATH } from '../../cli/synth.js';
import { kernel } from '../../functions/shared/kernel/index.js';
import { hasStackTrace, runNpm } from './run.js';

const stateDir = mkdtempSync(join(tmpdir(), 'pi-invoke-test-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

// The sample events tell one story: the API event creates a job (its Idempotency-Key fixes the
// job id), the sampler event runs that job's task 0, the other events report on it.
describe('npm run invoke', () => {
  it('invokes the orchestrator with the API Gateway event and prints its proxy response', async () => {
    const run = await runNpm(['run', '--silent', 'invoke', '--', 'orchestrator', '--event', 'events/api-post-jobs.json', '--state-dir', stateDir]);
    expect(run.code, run.stderr).toBe(0);
    const response = JSON.parse(run.stdout) as { statusCode: number; headers: Record<string, string>; body: string };
    expect(response.statusCode).toBe(202);
    expect(response.headers.location).toBe('/prod/jobs/dc941117-aedc-8dff-a8bd-a07ea2509a58');
    expect(JSON.parse(response.body)).toMatchObject({ jobId: 'dc941117-aedc-8dff-a8bd-a07ea2509a58', seed: 7, tasks: 4 });
    // The log tail, CloudWatch style.
    expect(run.stderr).toMatch(/^START RequestId: \S+ Version: \$LATEST$/m);
    expect(run.stderr).toMatch(/^REPORT RequestId: \S+\tDuration: /m);
  }, 300_000);

  it('invokes the sampler by its friendly name and prints the task result with its log tail', async () => {
    const run = await runNpm(['run', '--silent', 'invoke', '--', 'sampler', '--event', 'events/sampler.json', '--state-dir', stateDir]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    // Task 0 of (seed 7, 1,048,576 samples) owns blocks 0..16.
    expect(result).toEqual({
      jobId: 'dc941117-aedc-8dff-a8bd-a07ea2509a58',
      taskId: 0,
      done: 262_144,
      inside: kernel.countInside(7, 0, 16, 1_048_576),
      cancelled: false,
    });
    expect(run.stderr).toMatch(/INFO\t.*"message":"task ended"/);
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
