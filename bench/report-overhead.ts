/**
 * What progress reporting costs a sampler task: the same task timed with no reports at all (the
 * baseline, one kernel call per chunk), with reports answered at once, and with reports that take
 * as long as a synchronous Lambda invoke does on AWS (~20 ms), all in one run on one core.
 */
import { runTask, type TaskDeps } from '../functions/sampler/task.js';
import type { ProgressReport, ReportAnswer } from '../functions/shared/job.js';
import { BLOCK_SIZE, blockCount, kernel } from '../functions/shared/kernel/index.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 4e9);
const ROUNDS = 3;
const event = { jobId: 'bench', taskId: 0, seed: 1, samples: SAMPLES, startBlock: 0, endBlock: blockCount(SAMPLES) };

function store(latencyMs: number) {
  let accepted: ReportAnswer = { cancelled: false, done: 0, inside: 0 };
  let reports = 0;
  const report = async (r: ProgressReport): Promise<ReportAnswer> => {
    reports++;
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    if (r.done > accepted.done) accepted = { cancelled: false, done: r.done, inside: r.inside };
    return accepted;
  };
  return { report, count: () => reports };
}

async function timeTask(latencyMs: number): Promise<{ seconds: number; reports: number }> {
  const { report, count } = store(latencyMs);
  const deps: TaskDeps = { kernel, report, now: Date.now, reportIntervalMs: 1000, remainingMs: () => 900_000 };
  const start = process.hrtime.bigint();
  await runTask(event, deps);
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, reports: count() };
}

function timeBare(): number {
  const start = process.hrtime.bigint();
  for (let b = 0; b < event.endBlock; b += 64) kernel.countInside(1, b, Math.min(b + 64, event.endBlock), SAMPLES);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const best = { bare: Infinity, instant: Infinity, lambda: Infinity };
let reports = 0;
timeBare(); // warm up the kernel
for (let round = 0; round < ROUNDS; round++) {
  best.bare = Math.min(best.bare, timeBare());
  best.instant = Math.min(best.instant, (await timeTask(0)).seconds);
  const lambda = await timeTask(20);
  best.lambda = Math.min(best.lambda, lambda.seconds);
  reports = lambda.reports;
}
const pct = (t: number) => `${(((t - best.bare) / best.bare) * 100).toFixed(2)} %`;
console.log(`Progress reporting overhead: ${SAMPLES.toExponential(1)} samples in ${event.endBlock} blocks of ${BLOCK_SIZE}, kernel ${kernel.name}, best of ${ROUNDS}`);
console.log('| variant | seconds | overhead vs no reports |');
console.log('|---|---|---|');
console.log(`| no reports (baseline) | ${best.bare.toFixed(3)} | — |`);
console.log(`| reports answered at once | ${best.instant.toFixed(3)} | ${pct(best.instant)} |`);
console.log(`| reports taking 20 ms (${reports} reports) | ${best.lambda.toFixed(3)} | ${pct(best.lambda)} |`);
