// What an operator reads: every function's log lines from a real job on the local cloud are
// Powertools JSON carrying the job (and task) they belong to, and its EMF blobs are metrics
// CloudWatch accepts, with the service as their only dimension.
import { describe, expect, it } from 'vitest';
import { METRICS, METRICS_NAMESPACE, SERVICE_NAMES } from '../../functions/shared/telemetry.js';
import { usePiCloud } from '../helpers/pi-cloud.js';

type Service = keyof typeof SERVICE_NAMES;
const SERVICES = Object.keys(SERVICE_NAMES) as Service[];

// Debug level: the progress function logs each report it answers at DEBUG only. A longer stall limit
// than the quick one: a run slowed by a busy machine is not restarted (restarts are counted apart).
const env = usePiCloud({ env: { orchestrator: { stallSeconds: 15 } }, envOverrides: { Parameters: { POWERTOOLS_LOG_LEVEL: 'DEBUG' } } });

/** A function's output line: `[<logical id>] <request id> <text>` (platform lines have no request id). */
const OUTPUT = /^\[([^\]]+)\] ([0-9a-f-]{36}) (.*)$/;

interface OutputLine {
  service: Service;
  requestId: string;
  json: Record<string, unknown>;
}

/** Every line the functions wrote, parsed as JSON (a line that is not JSON fails the test). */
function outputLines(logs: string[], serviceOf: (logicalId: string) => Service | undefined): OutputLine[] {
  const lines: OutputLine[] = [];
  for (const line of logs) {
    const match = OUTPUT.exec(line);
    const service = match && serviceOf(match[1]!);
    if (!match || !service) continue;
    let json: unknown;
    expect(() => (json = JSON.parse(match[3]!)), `not JSON: ${line}`).not.toThrow();
    lines.push({ service, requestId: match[2]!, json: json as Record<string, unknown> });
  }
  return lines;
}

describe('function logs and metrics of a real job', () => {
  it('every log line is Powertools JSON with the job id (and task id), every EMF blob valid, no job id as a dimension', async () => {
    const { cloud, client, logs } = env;
    const serviceOf = (logicalId: string) => SERVICES.find((service) => logicalId.startsWith(service));
    const samples = 600_000;
    const job = await client.submitJob({ samples, tasks: 3 });
    const view = await client.waitForJob(job.jobId, { intervalMs: 100 });
    expect(view.status).toBe('SUCCEEDED');
    await env.quiet();

    const lines = outputLines(logs, serviceOf);
    const logLines = lines.filter((line) => !('_aws' in line.json));
    const blobs = lines.filter((line) => '_aws' in line.json);

    for (const service of SERVICES) expect(logLines.some((line) => line.service === service), `no log line of ${service}`).toBe(true);
    for (const { service, requestId, json } of logLines) {
      const text = JSON.stringify(json);
      expect(json, text).toMatchObject({ service: SERVICE_NAMES[service], function_request_id: requestId, jobId: job.jobId });
      expect(['DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL'], text).toContain(json.level);
      expect(typeof json.message, text).toBe('string');
      expect(typeof json.timestamp, text).toBe('string');
      expect(typeof json.cold_start, text).toBe('boolean');
      if (service !== 'orchestrator') {
        expect(json.taskId, text).toBeGreaterThanOrEqual(0);
        expect(json.taskId, text).toBeLessThan(3);
      }
      if (service === 'sampler') expect(json.invocation, text).toBeGreaterThanOrEqual(1);
    }

    for (const service of SERVICES) expect(blobs.some((line) => line.service === service), `no EMF blob of ${service}`).toBe(true);
    for (const { service, json } of blobs) {
      const text = JSON.stringify(json);
      expect(text).not.toContain(job.jobId);
      const aws = json._aws as { Timestamp: unknown; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
      expect(typeof aws.Timestamp, text).toBe('number');
      expect(aws.CloudWatchMetrics, text).toHaveLength(1);
      const [directive] = aws.CloudWatchMetrics;
      expect(directive!.Namespace).toBe(METRICS_NAMESPACE);
      expect(directive!.Dimensions, text).toEqual([['service']]);
      expect(json.service).toBe(SERVICE_NAMES[service]);
      expect(directive!.Metrics.length, text).toBeGreaterThan(0);
      for (const { Name, Unit } of directive!.Metrics) {
        expect(Object.values(METRICS[service]), text).toContain(Name);
        expect(['Count', 'Milliseconds', 'Count/Second'], text).toContain(Unit);
        const values = [json[Name]].flat();
        expect(values.length, text).toBeGreaterThan(0);
        for (const value of values) expect(Number.isFinite(value), text).toBe(true);
      }
    }

    // The local cloud's reading of the same blobs: the job as the dashboard would count it.
    const total = (name: string) => cloud.metrics().find((m) => m.namespace === METRICS_NAMESPACE && m.name === name);
    expect(total(METRICS.orchestrator.jobsSubmitted)?.sum).toBe(1);
    expect(total(METRICS.orchestrator.jobsSucceeded)?.sum).toBe(1);
    expect(total(METRICS.orchestrator.jobDuration)?.count).toBe(1);
    expect(total(METRICS.orchestrator.tasksStarted)?.sum).toBe(3);
    const restarts = total(METRICS.orchestrator.tasksRestarted)?.sum ?? 0;
    // Each sampler run counts the samples the store accepted from it; a restarted task's runs may overlap.
    if (restarts === 0) {
      expect(total(METRICS.sampler.samplesDone)?.sum).toBe(samples);
      expect(total(METRICS.sampler.samplerThroughput)?.count).toBe(3);
    } else {
      expect(total(METRICS.sampler.samplesDone)?.sum).toBeGreaterThanOrEqual(samples);
      expect(total(METRICS.sampler.samplerThroughput)?.count).toBeGreaterThanOrEqual(3);
    }
    expect(total(METRICS.progress.reportsAccepted)?.sum).toBeGreaterThanOrEqual(3);
    expect(total(METRICS.sampler.samplesDone)?.unit).toBe('Count');
  }, 120_000);
});
