// The local cloud's speed, as a user of it sees it: warm Invoke latency through the SDK, the
// overhead of a job that does almost no sampling, and the tutorial's job end to end.
// Not a test: it prints figures and how they compare with the targets.
import '../cli/env.js';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ApiClient, type JobRequest } from '../cli/api-client.js';
import { formatCount } from '../cli/numbers.js';
import { ensureSynth } from '../cli/synth.js';
import { jobKey } from '../functions/shared/store/items.js';
import { startLocalCloud } from '../local/index.js';
import { quantile } from './stats.js';

const NOOP_TEMPLATE = fileURLToPath(new URL('./local-fixture/Noop.template.json', import.meta.url));
const INVOKES = 500;
const WARMUP_INVOKES = 50;
const JOB_RUNS = 5;
/** Fast polls resolve the end of a short job; the stage's throttle (10 rps, burst 20) allows them. */
const POLL_MS = 50;

const TARGETS = { invokeP50Ms: 5, invokeP99Ms: 20, tutorialMs: 500 };
const OVERHEAD_JOB: JobRequest = { samples: 163_840, tasks: 10 }; // 10 tasks × 1 block
const TUTORIAL_JOB: JobRequest = { samples: 100_000_000, tasks: 10 }; // 10 tasks × 10,000,000

const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;

async function invokeLatency(): Promise<number[]> {
  const cloud = await startLocalCloud({ templatePath: NOOP_TEMPLATE });
  const lambda = new LambdaClient({ endpoint: cloud.lambdaEndpoint, region: cloud.region, credentials: cloud.credentials, maxAttempts: 1 });
  const name = cloud.functionNames.NoopFunction!;
  const invoke = async () => {
    const result = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') }));
    if (result.FunctionError) throw new Error(`the no-op failed: ${Buffer.from(result.Payload ?? []).toString()}`);
  };
  try {
    for (let i = 0; i < WARMUP_INVOKES; i++) await invoke();
    const samples: number[] = [];
    for (let i = 0; i < INVOKES; i++) {
      const started = performance.now();
      await invoke();
      samples.push(performance.now() - started);
    }
    return samples.sort((a, b) => a - b);
  } finally {
    lambda.destroy();
    await cloud.stop();
  }
}

interface JobTiming {
  /** Submit → the GET that shows the job SUCCEEDED. */
  clientMs: number;
  /** Submit → the last progress report written to the table (what polling cannot see sooner). */
  lastReportMs: number;
  pi: number;
}

async function jobTimings(): Promise<{ overhead: JobTiming[]; tutorial: JobTiming[] }> {
  const templatePath = await ensureSynth({ log: (line) => console.log(line) });
  const cloud = await startLocalCloud({ templatePath });
  const client = new ApiClient({ endpoint: cloud.apiUrl, region: cloud.region, credentials: cloud.credentials });
  const db = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: cloud.dynamodbEndpoint, region: cloud.region, credentials: cloud.credentials }),
  );
  const table = Object.values(cloud.tableNames)[0]!;
  const run = async (request: JobRequest): Promise<JobTiming> => {
    const submittedAt = Date.now();
    const started = performance.now();
    const submitted = await client.submitJob(request);
    const job = await client.waitForJob(submitted.jobId, { intervalMs: POLL_MS });
    const clientMs = performance.now() - started;
    if (job.status !== 'SUCCEEDED' || !job.estimate) throw new Error(`job ${job.jobId} ended ${job.status}: ${job.reason ?? ''}`);
    const { Items = [] } = await db.send(
      new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': jobKey(job.jobId) } }),
    );
    const lastReport = Math.max(...Items.map((item) => (typeof item.updatedAt === 'number' ? item.updatedAt : 0)));
    return { clientMs, lastReportMs: lastReport - submittedAt, pi: job.estimate.pi };
  };
  try {
    // One run of each first: it starts the workers (cold starts), then the measured warm runs.
    const overhead = [await run(OVERHEAD_JOB)];
    for (let i = 0; i < JOB_RUNS; i++) overhead.push(await run(OVERHEAD_JOB));
    const tutorial = [await run(TUTORIAL_JOB)];
    for (let i = 0; i < JOB_RUNS; i++) tutorial.push(await run(TUTORIAL_JOB));
    return { overhead, tutorial };
  } finally {
    db.destroy();
    await cloud.stop();
  }
}

const median = (values: number[]) => quantile(values, 0.5);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const cpu = cpus();
  console.log(`Machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, Node.js ${process.version}, ${process.platform}/${process.arch}`);
  console.log(`Load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  const latency = await invokeLatency();
  const { overhead, tutorial } = await jobTimings();
  const warm = (runs: JobTiming[]) => runs.slice(1);
  const pass = (ok: boolean) => (ok ? 'yes' : 'NO');
  const p50 = quantile(latency, 0.5);
  const p99 = quantile(latency, 0.99);
  const tutorialWarm = median(warm(tutorial).map((t) => t.clientMs));

  const describeJobs = (runs: JobTiming[]) => [
    `${ms(median(warm(runs).map((t) => t.clientMs)))} (min ${ms(Math.min(...warm(runs).map((t) => t.clientMs)))}, max ${ms(Math.max(...warm(runs).map((t) => t.clientMs)))})`,
    ms(median(warm(runs).map((t) => t.lastReportMs))),
    ms(runs[0]!.clientMs),
  ];
  console.log('');
  console.log(
    table([
      ['measure', 'warm median (runs)', 'last report landed', 'first run (cold workers)', 'target', 'met'],
      ['sync Invoke of a no-op via the SDK, p50', `${ms(p50)} (${INVOKES})`, '', '', `≤ ${TARGETS.invokeP50Ms} ms`, pass(p50 <= TARGETS.invokeP50Ms)],
      ['sync Invoke of a no-op via the SDK, p99', `${ms(p99)} (${INVOKES})`, '', '', `≤ ${TARGETS.invokeP99Ms} ms`, pass(p99 <= TARGETS.invokeP99Ms)],
      [`job overhead: ${formatCount(OVERHEAD_JOB.samples)} samples, ${OVERHEAD_JOB.tasks} tasks`, ...describeJobs(overhead), '', ''],
      [`tutorial job: ${formatCount(TUTORIAL_JOB.samples)} samples, ${TUTORIAL_JOB.tasks} tasks`, ...describeJobs(tutorial), `≤ ${TARGETS.tutorialMs} ms`, pass(tutorialWarm <= TARGETS.tutorialMs)],
    ]),
  );
  console.log('');
  console.log(`Invoke latency: mean ${ms(latency.reduce((a, b) => a + b, 0) / latency.length)}, max ${ms(latency.at(-1)!)}.`);
  console.log(
    `Jobs are timed from POST /jobs to the first GET showing SUCCEEDED (polling every ${POLL_MS} ms); "last report landed" ` +
      'is when the last task report reached the table. Tutorial job throughput (warm median): ' +
      `${formatCount(Math.round((TUTORIAL_JOB.samples / tutorialWarm) * 1000))} samples/s; π = ${tutorial.at(-1)!.pi}.`,
  );
  console.log(`Load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
