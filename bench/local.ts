// The local cloud's speed, as a user of it sees it: warm Invoke latency through the SDK, the
// overhead of a job that does almost no sampling, the tutorial's job end to end, and big jobs
// (many tasks, many samples) on the local cloud with AWS's quotas, against the kernel.
// Not a test: it prints figures and how they compare with the targets.
// `npm run bench:local -- scale` runs only the big jobs; `-- cost` only what jobs cost at AWS's prices
// (job-cost.ts); `-- coldstart` only the functions' cold starts before and after observability
// (cold-start.ts).
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
import { startLocalCloud, type LocalCloud } from '../local/index.js';
import { COLD_START_NOTE, coldStartTable, coldStarts } from './cold-start.js';
import { kernelSamplesPerSecond, marginalThroughput, timeJob, type ScaleJobResult } from './scale-jobs.js';
import { quantile } from './stats.js';
import { runJobCostBench } from './job-cost.js';

const NOOP_TEMPLATE = fileURLToPath(new URL('./local-fixture/Noop.template.json', import.meta.url));
const INVOKES = 500;
const WARMUP_INVOKES = 50;
const JOB_RUNS = 5;
/** Fast polls resolve the end of a short job; the stage's throttle (10 rps, burst 20) allows them. */
const POLL_MS = 50;

const TARGETS = { invokeP50Ms: 5, invokeP99Ms: 20, tutorialMs: 500, manyTasksMs: 5_000, manySamplesMs: 2_000, marginalOfKernels: 0.85 };
const OVERHEAD_JOB: JobRequest = { samples: 163_840, tasks: 10 }; // 10 tasks × 1 block
const TUTORIAL_JOB: JobRequest = { samples: 100_000_000, tasks: 10 }; // 10 tasks × 10,000,000
/** Per-task costs: 1,000 tasks of 20,000 samples (the kernel needs about 0.04 s for all of them). */
const MANY_TASKS_JOB: JobRequest = { samples: 2e7, tasks: 1_000 };
/** Per-poll and start-up costs beside real sampling: 100 tasks of 10^7 samples. */
const MANY_SAMPLES_JOB: JobRequest = { samples: 1e9, tasks: 100 };
/** Steady state: two long tasks, measured between two reads well after the start, then cancelled. */
const LONG_JOB: JobRequest = { samples: 1e10, tasks: 2 };
const LONG_JOB_WINDOW = { warmupMs: 4_000, windowMs: 8_000 };

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

/** Runs `measure` on a fresh local cloud with AWS's quotas (the default), as `npm start` would. */
async function onFreshCloud(templatePath: string, measure: (cloud: LocalCloud, client: ApiClient) => Promise<ScaleJobResult>): Promise<ScaleJobResult> {
  const cloud = await startLocalCloud({ templatePath });
  try {
    return await measure(cloud, new ApiClient({ endpoint: cloud.apiUrl, region: cloud.region, credentials: cloud.credentials }));
  } finally {
    await cloud.stop();
  }
}

interface ScaleRow {
  label: string;
  target: string;
  met: boolean;
  /** Cores the job can use: the kernel's speed times these is what it could reach. */
  cores: number;
  /** The kernel's samples/s on one core of this process, measured just before and after the job (mean). */
  kernel: number;
  result: ScaleJobResult;
}

/**
 * Runs a big job on a fresh local cloud, the kernel timed on one core just before and just after it:
 * on a machine shared with other load, the kernel and the job then meet the same conditions.
 */
async function besideKernel(templatePath: string, measure: (cloud: LocalCloud, client: ApiClient) => Promise<ScaleJobResult>) {
  const before = kernelSamplesPerSecond(1);
  const result = await onFreshCloud(templatePath, measure);
  return { result, kernel: (before + kernelSamplesPerSecond(1)) / 2 };
}

/** The big jobs, each on its own local cloud (cold workers included, as with `npm start`). */
async function scaleJobs(): Promise<ScaleRow[]> {
  const templatePath = await ensureSynth({ log: (line) => console.log(line) });
  const cores = (request: JobRequest) => Math.min(request.tasks, cpus().length);
  const manyTasks = await besideKernel(templatePath, (cloud, client) => timeJob(cloud, client, MANY_TASKS_JOB));
  const manySamples = await besideKernel(templatePath, (cloud, client) => timeJob(cloud, client, MANY_SAMPLES_JOB));
  const long = await besideKernel(templatePath, (cloud, client) => marginalThroughput(cloud, client, LONG_JOB, LONG_JOB_WINDOW));
  const ofKernels = ({ result, kernel }: typeof long, request: JobRequest) => result.samplesPerSecond / (kernel * cores(request));
  return [
    { label: 'many tasks', target: `≤ ${TARGETS.manyTasksMs / 1000} s`, met: manyTasks.result.wallMs <= TARGETS.manyTasksMs, cores: cores(MANY_TASKS_JOB), ...manyTasks },
    { label: 'many samples', target: `≤ ${TARGETS.manySamplesMs / 1000} s`, met: manySamples.result.wallMs <= TARGETS.manySamplesMs, cores: cores(MANY_SAMPLES_JOB), ...manySamples },
    {
      label: `long job, marginal over ${LONG_JOB_WINDOW.windowMs / 1000} s`,
      target: `≥ ${TARGETS.marginalOfKernels} of the kernels`,
      met: ofKernels(long, LONG_JOB) >= TARGETS.marginalOfKernels,
      cores: cores(LONG_JOB),
      ...long,
    },
  ];
}

function printScale(rows: ScaleRow[]): void {
  const pass = (ok: boolean) => (ok ? 'yes' : 'NO');
  const mb = (value: number) => `${Math.round(value)} MB`;
  console.log('');
  console.log(
    table([
      ['big job', 'wall time', 'samples/s', 'kernel, 1 core', 'of the kernel on N cores', 'worker processes (peak)', 'RSS host + Σ workers (peak)', 'target', 'met'],
      ...rows.map(({ label, target, met, cores, kernel, result }) => [
        `${label}: ${formatCount(result.request.samples)} samples, ${result.request.tasks} tasks`,
        `${(result.wallMs / 1000).toFixed(2)} s`,
        formatCount(Math.round(result.samplesPerSecond)),
        formatCount(Math.round(kernel)),
        `${(result.samplesPerSecond / (kernel * cores)).toPrecision(3)} (N = ${cores})`,
        String(result.peakWorkers),
        `${mb(result.peakHostRssMb)} + ${mb(result.peakWorkersRssMb)}`,
        target,
        pass(met),
      ]),
    ]),
  );
  console.log('');
  console.log(
    'The kernel is timed in this process on one core just before and after each job (the mean). Each big job runs on a fresh local cloud ' +
      "with AWS's quotas, cold workers included, timed from POST /jobs to the first GET showing SUCCEEDED, polling as `npm start` does; " +
      'the long job is cancelled after its window. Σ workers adds up the RSS of every worker process (shared pages counted in each).',
  );
}

const median = (values: number[]) => quantile(values, 0.5);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  if (process.argv.includes('cost')) {
    await runJobCostBench();
    return;
  }
  const cpu = cpus();
  console.log(`Machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, Node.js ${process.version}, ${process.platform}/${process.arch}`);
  console.log(`Load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (process.argv.includes('coldstart')) {
    const rows = await coldStarts();
    console.log('');
    console.log(table(coldStartTable(rows)));
    console.log('');
    console.log(COLD_START_NOTE);
    console.log(`Load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    return;
  }
  if (process.argv.includes('scale')) {
    printScale(await scaleJobs());
    console.log(`Load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    return;
  }

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
  printScale(await scaleJobs());
  console.log(`Load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
