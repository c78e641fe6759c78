// The lines `npm start` prints after the result: the functions' metrics and the job's cost.
import { describe, expect, it } from 'vitest';
import { summaryLines } from '../../cli/start.js';
import { emptyUsage, priceUsage } from '../../functions/shared/cost.js';
import { viewJob, type JobHeader } from '../../functions/shared/job.js';
import { METRICS_NAMESPACE } from '../../functions/shared/telemetry.js';
import type { MetricStat } from '../../local/index.js';

const header: JobHeader = {
  jobId: '0b6f3c1e-5d2a-4f0e-9a51-1c2d3e4f5a6b',
  seed: 1,
  samples: 1_000_000,
  tasks: 2,
  status: 'SUCCEEDED',
  createdAt: 0,
  deadlineAt: 60_000,
  expiresAt: 86_400,
  maxInvocations: 3,
  owner: 'arn:aws:iam::123456789012:user/local-cloud',
};
const job = viewJob(header, [], 1_000);

const stat = (service: string, name: string, unit: string, values: number[]): MetricStat => ({
  namespace: METRICS_NAMESPACE,
  name,
  unit,
  dimensions: { service },
  sum: values.reduce((a, b) => a + b, 0),
  count: values.length,
  min: Math.min(...values),
  max: Math.max(...values),
});

describe('npm start summary', () => {
  it('gives the mean samples/s of a task, the reports and the restarts from the metrics', () => {
    const metrics = [
      stat('sampler', 'SamplerThroughput', 'Count/Second', [40e6, 60e6, 50e6]),
      stat('progress', 'ReportsAccepted', 'Count', [1, 1, 1, 1]),
      stat('progress', 'ReportsRefused', 'Count', [1]),
      stat('orchestrator', 'TasksRestarted', 'Count', [1]),
    ];
    expect(summaryLines(metrics, job)).toEqual([
      'Metrics: 50.0 M samples/s per task (3 sampler run(s), 40.0 M to 60.0 M); reports accepted 4, refused 1; restarts 1',
    ]);
    expect(summaryLines([], job)).toEqual(['Metrics: no sampler run ended; reports accepted 0, refused 0; restarts 0']);
  });

  it("prints the job's cost when the API gives it, and no metrics line without a local cloud", () => {
    const cost = priceUsage({ ...emptyUsage(), apiRequests: 10, dynamodb: { readUnits: 100, writeUnits: 50 } });
    const [line] = summaryLines(undefined, { ...job, cost });
    expect(line).toMatch(/^Cost: \$[\d.e-]+ \(Lambda \$[\d.e-]+, DynamoDB \$[\d.e-]+, API Gateway \$[\d.e-]+\)$/);
    expect(line).toContain(`$${cost.usd.toPrecision(3)}`);
    expect(summaryLines(undefined, job)).toEqual([]);
  });
});
