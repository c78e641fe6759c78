// The line `npm start` prints after the result: what the functions' metrics say about the job.
import { describe, expect, it } from 'vitest';
import { summaryLines } from '../../cli/start.js';
import { METRICS_NAMESPACE } from '../../functions/shared/telemetry.js';
import type { MetricStat } from '../../local/index.js';

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
    expect(summaryLines(metrics)).toEqual([
      'Metrics: 50.0 M samples/s per task (3 sampler run(s), 40.0 M to 60.0 M); reports accepted 4, refused 1; restarts 1',
    ]);
    expect(summaryLines([])).toEqual(['Metrics: no sampler run ended; reports accepted 0, refused 0; restarts 0']);
  });

  it('prints no metrics line without a local cloud (a deployed stage)', () => {
    expect(summaryLines(undefined)).toEqual([]);
  });
});
