import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { observability, recordJobEvent, recordReport, recordSamples } from '../../functions/shared/observability.js';
import { METRICS_NAMESPACE } from '../../functions/shared/telemetry.js';

/** What the function writes to stdout (Powertools writes there, past console), one parsed JSON object a line. */
let written: Record<string, unknown>[] = [];
/** Lines that were not JSON (there must be none). */
let other: string[] = [];

beforeEach(() => {
  // As Lambda sets it for on-demand environments: Powertools reports a cold start only then.
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
  written = [];
  other = [];
  const capture = (chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) {
      try {
        written.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        other.push(line);
      }
    }
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const contextFor = (requestId: string): Context =>
  ({
    awsRequestId: requestId,
    functionName: 'sampler',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:sampler',
    memoryLimitInMB: '1769',
    getRemainingTimeInMillis: () => 60_000,
  }) as unknown as Context;

const logLines = () => written.filter((line) => !('_aws' in line));
const emfBlobs = () => written.filter((line) => '_aws' in line);

describe('observability', () => {
  it("puts the invocation's job keys on every line, and none of them on the next invocation's lines", async () => {
    const obs = observability('sampler');
    await obs.invocation(contextFor('req-1'), { jobId: 'job-1', taskId: 3, invocation: 2 }, async () => {
      obs.logger.info('first');
      obs.logger.warn('second');
    });
    await obs.invocation(contextFor('req-2'), { jobId: 'job-2' }, async () => obs.logger.info('third'));
    await obs.invocation(contextFor('req-3'), {}, async () => obs.logger.info('fourth'));

    expect(other).toEqual([]);
    const [first, second, third, fourth] = logLines();
    for (const line of [first, second]) {
      expect(line).toMatchObject({ service: 'sampler', jobId: 'job-1', taskId: 3, invocation: 2, function_request_id: 'req-1', cold_start: true });
    }
    expect(third).toMatchObject({ message: 'third', jobId: 'job-2', function_request_id: 'req-2', cold_start: false });
    expect(third).not.toHaveProperty('taskId');
    expect(third).not.toHaveProperty('invocation');
    expect(fourth).toMatchObject({ message: 'fourth', function_request_id: 'req-3' });
    expect(fourth).not.toHaveProperty('jobId');
  });

  it('removes the keys and publishes the metrics when the invocation throws', async () => {
    const obs = observability('sampler');
    const failing = obs.invocation(contextFor('req-1'), { jobId: 'job-1', taskId: 0 }, async () => {
      recordSamples(obs, 1_000, 500);
      throw new Error('out of time');
    });
    await expect(failing).rejects.toThrow('out of time');
    await obs.invocation(contextFor('req-2'), {}, async () => obs.logger.info('next'));

    const [failed, next] = logLines();
    expect(failed).toMatchObject({ level: 'ERROR', message: 'invocation failed', jobId: 'job-1', taskId: 0 });
    expect(next).not.toHaveProperty('jobId');
    expect(next).not.toHaveProperty('taskId');
    expect(emfBlobs()).toHaveLength(1);
    expect(emfBlobs()[0]).toMatchObject({ service: 'sampler', SamplesDone: 1_000, SamplerThroughput: 2_000 });
  });

  it('tags a job learned during the invocation on the lines after it', async () => {
    const obs = observability('orchestrator');
    await obs.invocation(contextFor('req-1'), {}, async () => {
      obs.logger.info('before');
      obs.tagJob({ jobId: 'job-9' });
      obs.logger.info('after');
    });
    const [before, after] = logLines();
    expect(before).not.toHaveProperty('jobId');
    expect(after).toMatchObject({ jobId: 'job-9', service: 'orchestrator' });
  });

  it('writes one EMF blob per invocation that counted something, with the service as its only dimension, and nothing otherwise', async () => {
    const obs = observability('orchestrator');
    await obs.invocation(contextFor('req-1'), { jobId: 'job-1' }, async () => undefined);
    expect(written).toEqual([]);

    await obs.invocation(contextFor('req-2'), { jobId: 'job-1' }, async () => {
      recordJobEvent(obs, { kind: 'taskStarted', restart: false });
      recordJobEvent(obs, { kind: 'taskStarted', restart: true });
      recordJobEvent(obs, { kind: 'finished', status: 'SUCCEEDED', durationMs: 1234 });
    });
    const [blob] = emfBlobs();
    expect(emfBlobs()).toHaveLength(1);
    expect(blob).toMatchObject({ service: 'orchestrator', TasksStarted: 1, TasksRestarted: 1, JobsSucceeded: 1, JobDuration: 1234 });
    const [directive] = (blob!._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] }).CloudWatchMetrics;
    expect(directive!.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive!.Dimensions).toEqual([['service']]);
    expect(directive!.Metrics).toContainEqual({ Name: 'JobDuration', Unit: 'Milliseconds' });
    // The job id is a log key, never a metric's dimension or member.
    expect(JSON.stringify(blob)).not.toContain('job-1');
  });

  it('counts a report accepted when the task stands where it says, refused otherwise, and a report of nothing as neither', async () => {
    const obs = observability('progress');
    await obs.invocation(contextFor('req-1'), {}, async () => {
      recordReport(obs, { done: 0 }, { done: 65_536, inside: 51_000, cancelled: false });
      recordReport(obs, { done: 65_536 }, { done: 65_536, inside: 51_000, cancelled: false });
      recordReport(obs, { done: 65_536 }, { done: 131_072, inside: 102_000, cancelled: false });
      recordReport(obs, { done: 131_072 }, { done: 131_072, inside: 102_000, cancelled: true });
    });
    expect(emfBlobs()).toHaveLength(1);
    expect(emfBlobs()[0]).toMatchObject({ ReportsAccepted: 1, ReportsRefused: [1, 1] });
  });

  it('gives a sampler run that added no samples no throughput to average in', async () => {
    const obs = observability('sampler');
    await obs.invocation(contextFor('req-1'), { jobId: 'job-1', taskId: 0 }, async () => recordSamples(obs, 0, 250));
    expect(emfBlobs()).toHaveLength(1);
    expect(emfBlobs()[0]).toMatchObject({ SamplesDone: 0 });
    expect(emfBlobs()[0]).not.toHaveProperty('SamplerThroughput');
  });
});
