// How the CLI shows what a job costs: one line after π, and the cost so far while it runs; nothing
// when the API sends no cost.
import { describe, expect, it } from 'vitest';
import { describeCost, describeResult, formatUsd } from '../../cli/output.js';
import { plainProgress, renderFrame } from '../../cli/progress.js';
import { emptyUsage, priceUsage, type JobCost } from '../../functions/shared/cost.js';
import type { JobView } from '../../functions/shared/job.js';

/** A job's usage with round figures: 11.265 GB-s in 33 invocations, 44 write and 38.5 read units, 6 API requests. */
function knownCost(): JobCost {
  const usage = emptyUsage();
  usage.functions.orchestrator = { requests: 3, billedMs: 2_000, mbMs: 2_000 * 512 };
  usage.functions.sampler = { requests: 10, billedMs: 10_240, mbMs: 10_240 * 1024 };
  usage.functions.progress = { requests: 20, billedMs: 100, mbMs: 100 * 256 };
  usage.dynamodb = { writeUnits: 44, readUnits: 38.5 };
  usage.apiRequests = 6;
  return priceUsage(usage);
}

const LINE = '$0.00021 — Lambda 11.3 GB-s in 33 invocations · DynamoDB 44 write / 38.5 read units · 6 API requests';

// A view from a stack that may predate `cost` (the CLI also talks to deployed stages).
const job = (over: Partial<Omit<JobView, 'cost'>> & { cost?: JobCost } = {}): JobView =>
  ({
  jobId: 'a',
  status: 'RUNNING',
  seed: 1,
  samples: 1000,
  tasks: 2,
  done: 500,
  inside: 400,
  progress: 0.5,
  estimate: { pi: 3.2, standardError: 0.07, ci95: [3.06, 3.34] },
  createdAt: '2025-01-01T00:00:00.000Z',
  deadlineAt: '2025-01-01T00:10:00.000Z',
  taskProgress: [
    { taskId: 0, samples: 500, done: 500, progress: 1 },
    { taskId: 1, samples: 500, done: 0, progress: 0 },
  ],
  ...over,
  }) as JobView;

const finished = (over: Partial<JobView> & { cost?: JobCost } = {}) =>
  job({ status: 'SUCCEEDED', done: 1000, progress: 1, finishedAt: '2025-01-01T00:00:02.000Z', ...over });

describe('the cost line', () => {
  it('says the dollars, then Lambda GB-s and invocations, DynamoDB units and API requests', () => {
    expect(knownCost().usd).toBeCloseTo(0.000210113, 9);
    expect(describeCost(knownCost())).toBe(LINE);
  });

  it('gives dollars three significant digits, however small or large', () => {
    expect(formatUsd(0.000210113)).toBe('$0.00021');
    expect(formatUsd(0.0000001234)).toBe('$0.000000123');
    expect(formatUsd(1.2345)).toBe('$1.23');
    expect(formatUsd(12_345.6)).toBe('$12,300');
    expect(formatUsd(0)).toBe('$0');
  });

  it('says one invocation and one API request in the singular', () => {
    const usage = emptyUsage();
    usage.functions.orchestrator = { requests: 1, billedMs: 10, mbMs: 10 * 512 };
    usage.apiRequests = 1;
    expect(describeCost(priceUsage(usage))).toMatch(/ in 1 invocation · .* · 1 API request$/);
  });
});

describe('after π', () => {
  it('the cost is the last line of the result', () => {
    const lines = describeResult(finished({ cost: knownCost() }), 2_000);
    expect(lines[0]).toMatch(/^Estimated value of π is: /);
    expect(lines.at(-1)).toBe(`cost: ${LINE}`);
  });

  it('no cost line when the API sends no cost', () => {
    const lines = describeResult(finished(), 2_000);
    expect(lines.some((line) => line.startsWith('cost'))).toBe(false);
  });
});

describe('while the job runs', () => {
  it('the plain progress lines carry the cost so far, when there is one', () => {
    const out: string[] = [];
    plainProgress((text) => out.push(text), 0).update(job({ progress: 0.1, cost: knownCost() }));
    plainProgress((text) => out.push(text), 0).update(job({ progress: 0.2 }));
    expect(out).toEqual(['Progress: 10% · cost so far $0.00021\n', 'Progress: 20%\n']);
  });

  it('the terminal frame shows the cost so far under the overall bar, then the task bars', () => {
    const lines = renderFrame(job({ cost: knownCost() }), 200, 30);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toBe(`  cost so far: ${LINE}`);
    expect(lines[2]).toMatch(/^ {2}task 0 /);
    expect(renderFrame(finished({ cost: knownCost() }), 200, 30)[1]).toBe(`  cost: ${LINE}`);
    expect(renderFrame(job(), 200, 30)).toHaveLength(3);
  });
});
