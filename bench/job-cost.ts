// What a job costs at AWS's prices, from local measurements: jobs run on a fresh local cloud each,
// and the cloud's own bill for each (every invocation's billed duration × memory, Lambda and API
// requests, DynamoDB units) is priced with the project's price table. 10^12 samples would take too
// long here: it is derived from the measured jobs (per sample, per task, per second of wall time)
// and labelled so. Beside each job: the same sampling on one always-on 2-vCPU instance, timed with
// the kernel's samples per CPU second on this machine's cores, measured in the same run.
// `npm run bench:local -- cost`, or `node --import tsx bench/job-cost.ts`.
import '../cli/env.js';
import { fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApiClient, type JobRequest } from '../cli/api-client.js';
import { localPollMs } from '../cli/start.js';
import { formatCount } from '../cli/numbers.js';
import { ensureSynth } from '../cli/synth.js';
import { FUNCTION_NAMES, PRICES, emptyUsage, priceUsage, type FunctionName, type JobUsage } from '../functions/shared/cost.js';
import { startLocalCloud, type LocalCloud } from '../local/index.js';
import { cloudUsage } from './cloud-bill.js';
import { BLOCK_SIZE, kernel } from '../functions/shared/kernel/index.js';

/** The jobs measured: the same tasks, so their difference is the cost of the extra samples alone. */
const SMALL: JobRequest = { samples: 1e8, tasks: 10 };
const LARGE: JobRequest = { samples: 1e10, tasks: 10 };
/** Derived, not run: the stack's largest job, in its largest number of tasks. */
const HUGE: JobRequest = { samples: 1e12, tasks: 1_000 };
/** Samplers a job runs at once on AWS (the stack's maxConcurrentSamplers default). */
const AWS_CONCURRENT_SAMPLERS = 100;
/** The label of rows whose sampling is priced at the kernel's one-core speed. */
const ONE_CORE = 'derived, one core per sampler';

/** The instance beside the jobs: 2 arm64 vCPUs, us-east-1 Linux on-demand. */
export const INSTANCE = {
  type: 'c7g.large',
  vcpus: 2,
  usdPerHour: 0.0725,
  asOf: '2026-11-30',
  source: 'https://aws.amazon.com/ec2/pricing/on-demand/ (us-east-1, Linux)',
  /** AWS prices a month as 730 hours. */
  hoursPerMonth: 730,
} as const;

const KERNEL_CHILD = '--kernel-child';
const KERNEL_SECONDS = 2;

interface MeasuredJob {
  request: JobRequest;
  usage: JobUsage;
  /** POST /jobs → the first GET showing SUCCEEDED. */
  wallMs: number;
  restarts: number;
}

/** One row of the table: measured, or derived from the measured ones. */
interface CostRow {
  request: JobRequest;
  usage: JobUsage;
  derived: boolean;
  /** What the label says of a derived row. */
  note?: string;
  wallMs?: number;
}

/**
 * The kernel's samples per second of CPU time on one core (called as the sampler calls it): time
 * slices lost to other load on the machine do not count, so this is a core's speed when the core is
 * one's own, as a Lambda vCPU or an instance's vCPU is.
 */
function kernelPerCpuSecond(seconds: number): number {
  const chunkBlocks = 64;
  const cpuSeconds = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  const started = cpuSeconds();
  let block = 0;
  while (cpuSeconds() - started < seconds) {
    kernel.countInside(12_345, block, block + chunkBlocks, Number.MAX_SAFE_INTEGER);
    block += chunkBlocks;
  }
  return (block * BLOCK_SIZE) / (cpuSeconds() - started);
}

/** The kernel's samples per CPU second on all of this machine's cores at once: one process per core, summed. */
async function kernelOnAllCores(): Promise<number> {
  const self = fileURLToPath(import.meta.url);
  const rates = await Promise.all(
    cpus().map(
      () =>
        new Promise<number>((resolve, reject) => {
          const child = fork(self, [KERNEL_CHILD], { execArgv: ['--import', 'tsx'] });
          child.once('message', (rate) => resolve(rate as number));
          child.once('error', reject);
          child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`the kernel process exited with ${code}`))));
        }),
    ),
  );
  return rates.reduce((a, b) => a + b, 0);
}

/**
 * Runs one job on a fresh local cloud (cold starts included, as `npm start` has them) and returns the
 * cloud's bill once nothing runs. Sampler workers are capped at the machine's cores, so a running
 * sampler has about one core, as a 1769 MB function has one vCPU; tasks past them wait for a worker,
 * unbilled, as they would wait for concurrency.
 */
async function measure(templatePath: string, request: JobRequest): Promise<MeasuredJob> {
  const cloud = await startLocalCloud({ templatePath, maxWorkersPerFunction: { sampler: cpus().length, '*': 2 * cpus().length } });
  try {
    const client = new ApiClient({ endpoint: cloud.apiUrl, region: cloud.region, credentials: cloud.credentials });
    const started = performance.now();
    const job = await client.submitJob(request);
    const final = await client.waitForJob(job.jobId, { intervalMs: localPollMs(request.tasks) });
    const wallMs = performance.now() - started;
    if (final.status !== 'SUCCEEDED') throw new Error(`job ${final.jobId} ended ${final.status}: ${final.reason ?? ''}`);
    await quiet(cloud);
    const samplerRuns = cloud.invocations('sampler').length;
    return { request, usage: cloudUsage(cloud), wallMs, restarts: samplerRuns - request.tasks };
  } finally {
    await cloud.stop();
  }
}

async function quiet(cloud: LocalCloud): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (cloud.pendingEvents() > 0 || cloud.invocationsInFlight() > 0) {
    if (Date.now() > deadline) throw new Error('the local cloud did not go quiet within 60 s of the job');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A job priced from the two measured ones (the same tasks, 100× the samples apart):
 * - sampler and progress (billed ms, requests) and DynamoDB write units: the cost per sample is the
 *   slope between the two jobs; what is left of the small job at zero samples, per task, is the
 *   per-task overhead, counted for each of the target's tasks;
 * - `samplerSpeedup` > 1 takes the per-sample parts as if each sampler had a core to itself (the
 *   kernel's one-core speed), where a loaded machine slowed them down;
 * - the wall time on AWS is the sampler-seconds over the samplers that run at once (at most 100);
 * - the orchestrator (its run and the GETs), DynamoDB read units (the polls) and API requests: a
 *   fixed part plus a part per second of wall time, fitted through the two jobs, over that wall
 *   time; the reads per second grow with the task items each poll reads.
 */
function derive(small: MeasuredJob, large: MeasuredJob, target: JobRequest, samplerSpeedup: number, note: string): CostRow {
  const usage = emptyUsage();
  const perSampleAndTask = (q1: number, q2: number) => {
    const perSample = (q2 - q1) / (large.request.samples - small.request.samples);
    const perTask = (q1 - perSample * small.request.samples) / small.request.tasks;
    return (perSample / samplerSpeedup) * target.samples + Math.max(0, perTask) * target.tasks;
  };
  for (const name of ['sampler', 'progress'] as const satisfies readonly FunctionName[]) {
    const [a, b] = [small.usage.functions[name], large.usage.functions[name]];
    const billedMs = perSampleAndTask(a.billedMs, b.billedMs);
    usage.functions[name] = { requests: Math.round(perSampleAndTask(a.requests, b.requests)), billedMs, mbMs: billedMs * (b.mbMs / b.billedMs) };
  }
  usage.functions.sampler.requests = Math.max(usage.functions.sampler.requests, target.tasks);
  usage.dynamodb.writeUnits = perSampleAndTask(small.usage.dynamodb.writeUnits, large.usage.dynamodb.writeUnits);

  const awsWallSeconds = usage.functions.sampler.billedMs / 1000 / Math.min(AWS_CONCURRENT_SAMPLERS, target.tasks);
  const [w1, w2] = [small.wallMs / 1000, large.wallMs / 1000];
  const overWall = (q1: number, q2: number, perSecondScale = 1) => {
    const perSecond = (q2 - q1) / (w2 - w1);
    return Math.max(0, q1 - perSecond * w1) + Math.max(0, perSecond) * perSecondScale * awsWallSeconds;
  };
  const [o1, o2] = [small.usage.functions.orchestrator, large.usage.functions.orchestrator];
  usage.functions.orchestrator = {
    requests: Math.round(overWall(o1.requests, o2.requests)),
    billedMs: overWall(o1.billedMs, o2.billedMs),
    mbMs: overWall(o1.mbMs, o2.mbMs),
  };
  usage.dynamodb.readUnits = overWall(small.usage.dynamodb.readUnits, large.usage.dynamodb.readUnits, target.tasks / large.request.tasks);
  usage.apiRequests = Math.round(overWall(small.usage.apiRequests, large.usage.apiRequests));
  return { request: target, usage, derived: true, note, wallMs: awsWallSeconds * 1000 };
}

/** How many times slower than the kernel on one core the large job's extra samples were billed. */
function samplerSlowdown(small: MeasuredJob, large: MeasuredJob, oneCore: number): number {
  const billedMsPerSample = (large.usage.functions.sampler.billedMs - small.usage.functions.sampler.billedMs) / (large.request.samples - small.request.samples);
  return billedMsPerSample / (1000 / oneCore);
}

const gbs = (mbMs: number) => mbMs / 1024 / 1000;
const fixed = (value: number, digits = 1) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usd = (value: number) => `$${value.toLocaleString('en-US', { maximumSignificantDigits: 3 })}`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

function printRows(rows: CostRow[], instanceSamplesPerSecond: number): void {
  const label = (row: CostRow) => `${row.request.samples.toExponential(0).replace('e+', ' × 10^')}${row.derived ? ` (${row.note ?? 'derived'})` : ' (measured)'}`;
  console.log(
    table([
      ['samples', 'tasks', 'wall time', ...FUNCTION_NAMES.map((n) => `${n} GB-s`), 'Lambda requests', 'DynamoDB write / read units', 'API requests', 'Lambda', 'DynamoDB', 'API', 'total', `${INSTANCE.type}: time`, `${INSTANCE.type}: cost`],
      ...rows.map((row) => {
        const cost = priceUsage(row.usage);
        const instanceSeconds = row.request.samples / instanceSamplesPerSecond;
        return [
          label(row),
          formatCount(row.request.tasks),
          row.wallMs === undefined ? '' : `${fixed(row.wallMs / 1000, 1)} s${row.derived ? ' on AWS' : ''}`,
          ...FUNCTION_NAMES.map((n) => fixed(gbs(row.usage.functions[n].mbMs), 2)),
          formatCount(cost.lambda.requests),
          `${formatCount(Math.round(row.usage.dynamodb.writeUnits))} / ${formatCount(Math.round(row.usage.dynamodb.readUnits))}`,
          formatCount(row.usage.apiRequests),
          usd(cost.usdByService.lambda),
          usd(cost.usdByService.dynamodb),
          usd(cost.usdByService.apiGateway),
          usd(cost.usd),
          `${fixed(instanceSeconds, 1)} s`,
          usd((instanceSeconds / 3600) * INSTANCE.usdPerHour),
        ];
      }),
    ]),
  );
}

async function main(): Promise<void> {
  const cpu = cpus();
  console.log(`Machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, Node.js ${process.version}, ${process.platform}/${process.arch}`);
  console.log(`Load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`Prices: ${PRICES.region}, ${PRICES.architecture}, as of ${PRICES.asOf}; ${INSTANCE.type} $${INSTANCE.usdPerHour}/h as of ${INSTANCE.asOf} (${INSTANCE.source})`);
  const templatePath = await ensureSynth({ log: (line) => console.log(line) });

  const kernelBefore = await kernelOnAllCores();
  const oneCoreBefore = kernelPerCpuSecond(KERNEL_SECONDS);
  const small = await measure(templatePath, SMALL);
  const large = await measure(templatePath, LARGE);
  const kernelAllCores = (kernelBefore + (await kernelOnAllCores())) / 2;
  const oneCore = (oneCoreBefore + kernelPerCpuSecond(KERNEL_SECONDS)) / 2;

  console.log('');
  for (const job of [small, large]) {
    console.log(
      `${formatCount(job.request.samples)} samples in ${job.request.tasks} tasks: wall ${fixed(job.wallMs / 1000, 2)} s, ` +
        `${job.restarts} task restarts, sampler billed ${fixed(job.usage.functions.sampler.billedMs / 1000, 2)} s ` +
        `(${fixed((job.usage.functions.sampler.billedMs / 1000) / (job.request.samples / oneCore), 2)}× the kernel's time on one core)`,
    );
  }
  const slowdown = samplerSlowdown(small, large, oneCore);
  console.log(
    `Per extra sample, the sampler was billed ${fixed(slowdown, 2)}× the kernel's time on one core ` +
      '(the machine shared with other load; a 1769 MB function has one vCPU to itself).',
  );
  console.log(
    `Kernel, samples per CPU second: ${formatCount(Math.round(oneCore))} on one core, ${formatCount(Math.round(kernelAllCores))} on ${cpu.length} cores at once ` +
      '(means of before and after the jobs).',
  );
  console.log('');
  printRows(
    [
      { request: small.request, usage: small.usage, derived: false, wallMs: small.wallMs },
      derive(small, large, small.request, slowdown, ONE_CORE),
      { request: large.request, usage: large.usage, derived: false, wallMs: large.wallMs },
      derive(small, large, large.request, slowdown, ONE_CORE),
      derive(small, large, HUGE, 1, 'derived'),
      derive(small, large, HUGE, slowdown, ONE_CORE),
    ],
    kernelAllCores * (INSTANCE.vcpus / cpu.length),
  );
  console.log('');
  console.log(
    `${INSTANCE.type} always on: ${usd(INSTANCE.usdPerHour * INSTANCE.hoursPerMonth)} a month (${INSTANCE.hoursPerMonth} h). Its time per job is ` +
      `the samples over the kernel's samples per CPU second on ${INSTANCE.vcpus} cores of this machine (not measured on Graviton).`,
  );
  console.log(`Load average at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

/** For `npm run bench:local -- cost`. */
export const runJobCostBench = main;

if (process.argv[2] === KERNEL_CHILD) {
  process.send!(kernelPerCpuSecond(KERNEL_SECONDS), () => process.exit(0));
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
