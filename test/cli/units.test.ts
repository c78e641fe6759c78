import { describe, expect, it } from 'vitest';
import { ApiClient, regionFromEndpoint } from '../../cli/api-client.js';
import { friendlyLogLine, resolveFunction, type TemplateFunction } from '../../cli/functions.js';
import { isProblemLine } from '../../cli/local-session.js';
import { parseCount, UsageError } from '../../cli/numbers.js';
import { percent, plainProgress, renderFrame } from '../../cli/progress.js';
import { emptyUsage, priceUsage } from '../../functions/shared/cost.js';
import type { JobView } from '../../functions/shared/job.js';

describe('numbers on the command line', () => {
  it.each([
    ['1e9', 1e9],
    ['100000000', 100_000_000],
    ['2.5e6', 2_500_000],
    ['100_000_000', 100_000_000],
    ['100,000,000', 100_000_000],
    ['1E3', 1000],
    ['0', 0],
    ['1.5', 1.5],
  ])('%s is %d', (text, value) => {
    expect(parseCount('--samples', text)).toBe(value);
  });

  it.each(['lots', '', '1e', '0x10', 'NaN', 'Infinity', '1e400'])('"%s" is refused with a usage error', (text) => {
    expect(() => parseCount('--samples', text)).toThrow(UsageError);
  });
});

const job = (over: Partial<JobView> = {}): JobView => ({
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
  cost: priceUsage(emptyUsage()),
  ...over,
});

describe('progress output', () => {
  it('percent rounds down like the tutorial, reaching 100 only when done', () => {
    expect(percent(0.999)).toBe(99);
    expect(percent(1)).toBe(100);
    expect(percent(0.29)).toBe(29); // 0.29 * 100 is 28.999999999999996
    expect(percent(0)).toBe(0);
  });

  it('without a terminal: Progress lines at most once an interval, and once at the end', () => {
    const out: string[] = [];
    const display = plainProgress((text) => out.push(text), 60_000);
    display.update(job({ progress: 0.1 }));
    display.update(job({ progress: 0.2 })); // within the interval: not printed
    display.finish(job({ status: 'SUCCEEDED', progress: 1, done: 1000 }));
    expect(out).toEqual(['Progress: 10% · cost so far $0\n', 'Progress: 100%\n']);
  });

  it('on a terminal: an overall bar and one bar per task', () => {
    const lines = renderFrame(job(), 100, 30);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^RUNNING\s+█+░+\s+50%\s+500 \/ 1,000\s+π ≈ 3\.200000/);
    expect(lines[1]).toMatch(/^ {2}cost so far: \$0 — /);
    expect(lines[2]).toMatch(/^ {2}task 0 █+ 100%$/);
    expect(lines[3]).toMatch(/^ {2}task 1 ░+ {3}0%$/);
  });

  it('on a short terminal, many tasks become a strip of one character each', () => {
    const taskProgress = Array.from({ length: 200 }, (_, taskId) => ({ taskId, samples: 5, done: taskId % 2 ? 5 : 0, progress: taskId % 2 }));
    const lines = renderFrame(job({ tasks: 200, taskProgress }), 120, 20);
    expect(lines.length).toBeLessThan(20);
    expect(lines.at(-1)).toBe('  100/200 tasks done');
  });
});

describe('the API client', () => {
  it('takes the signing region from an execute-api host name', () => {
    expect(regionFromEndpoint('https://abc123.execute-api.eu-west-1.amazonaws.com/prod/')).toBe('eu-west-1');
    expect(regionFromEndpoint('http://127.0.0.1:3000/prod/')).toBeUndefined();
    expect(new ApiClient({ endpoint: 'https://abc123.execute-api.ap-south-1.amazonaws.com/prod', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }).region).toBe('ap-south-1');
  });
});

describe('functions and their logs', () => {
  const functions: TemplateFunction[] = [
    { logicalId: 'sampler29AE7977', friendlyName: 'sampler' },
    { logicalId: 'progress75B119A4', friendlyName: 'progress' },
  ];

  it('finds a function by logical id or by the name people use', () => {
    expect(resolveFunction(functions, 'sampler').logicalId).toBe('sampler29AE7977');
    expect(resolveFunction(functions, 'Progress').logicalId).toBe('progress75B119A4');
    expect(resolveFunction(functions, 'sampler29AE7977').friendlyName).toBe('sampler');
    expect(() => resolveFunction(functions, 'nope')).toThrow(/choose one of: sampler \(sampler29AE7977\), progress/);
  });

  it('log lines name functions the friendly way, and problems are told apart from chatter', () => {
    expect(friendlyLogLine(functions, '[sampler29AE7977] abc INFO\thello')).toBe('[sampler] abc INFO\thello');
    expect(isProblemLine('[sampler] abc ERROR\tboom')).toBe(true);
    expect(isProblemLine('[sampler] abc WARN\t{"message":"progress report failed"}')).toBe(true);
    expect(isProblemLine('[progress] REPORT RequestId: x\tDuration: 5 ms\tStatus: timeout')).toBe(true);
    expect(isProblemLine('[sampler] x async event discarded (RetriesExhausted) after 3 attempt(s)')).toBe(true);
    expect(isProblemLine('[sampler] START RequestId: x Version: $LATEST')).toBe(false);
    expect(isProblemLine('[api] GET /prod/jobs/x 200 (3.1 ms)')).toBe(false);
    expect(isProblemLine('[sampler] - ERROR\t(node:1) Warning: NodeVersionSupportWarning: The AWS SDK')).toBe(false);
    // The local cloud's own warnings (template features it does not emulate, a runtime it replaces).
    expect(isProblemLine('[local] warning: function sampler29AE7977: nodejs22.x runs on the local Node.js 20.20.2')).toBe(true);
    expect(isProblemLine('[local] warning: several REST APIs; serving Api1 only')).toBe(true);
    expect(isProblemLine('[local] API http://127.0.0.1:3000/prod/ · Lambda http://127.0.0.1:1 · DynamoDB http://127.0.0.1:2')).toBe(false);
    expect(isProblemLine('[faults] drop sampler29AE7977 {"jobId":"x","taskId":3}')).toBe(true);
    expect(isProblemLine('[faults] duplicate sampler29AE7977 {"jobId":"x"}')).toBe(false);
  });
});
