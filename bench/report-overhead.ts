/**
 * What progress reporting costs a sampler task: the same task timed with no reports at all (the
 * baseline, one kernel call per chunk), with reports answered at once, and with reports that take
 * as long as a synchronous Lambda invoke does on AWS (~20 ms), all in one run on one core.
 */
import { runTask, type TaskDeps } from '../functions/sampler/task.js';
import type { ProgressReport, ReportAnswer } from '../functions/shared/job.js';
import { BLOCK_SIZE, blockCount, kernel } from '../functions/shared/kernel/index.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 4e9);
const ROUNDS = 5;
const event = { jobId: 'bench', taskId: 0, seed: 1, samples: SAMPLES, startBlock: 0, endBlock: blockCount(SAMPLES), invocation: 1 };

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

/** Wall seconds and CPU seconds of `fn`: CPU time is what other load on the machine cannot skew. */
async function timed(fn: () => unknown): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await fn();
  const cpu = process.cpuUsage(cpu0);
  return { wall: Number(process.hrtime.bigint() - wall0) / 1e9, cpu: (cpu.user + cpu.system) / 1e6 };
}

let reports = 0;
async function timeTask(latencyMs: number) {
  const { report, count } = store(latencyMs);
  const deps: TaskDeps = { kernel, report, now: Date.now, reportIntervalMs: 1000, remainingMs: () => 900_000 };
  const time = await timed(() => runTask(event, deps));
  reports = count();
  return time;
}

function timeBare() {
  return timed(() => {
    for (let b = 0; b < event.endBlock; b += 64) kernel.countInside(1, b, Math.min(b + 64, event.endBlock), SAMPLES);
  });
}

type Variant = 'bare' | 'instant' | 'lambda';
const best: Record<Variant, { wall: number; cpu: number }> = {
  bare: { wall: Infinity, cpu: Infinity },
  instant: { wall: Infinity, cpu: Infinity },
  lambda: { wall: Infinity, cpu: Infinity },
};
const keep = (variant: Variant, t: { wall: number; cpu: number }) => {
  best[variant] = { wall: Math.min(best[variant].wall, t.wall), cpu: Math.min(best[variant].cpu, t.cpu) };
};
await timeBare(); // warm up the kernel
for (let round = 0; round < ROUNDS; round++) {
  // Interleaved, so slow phases of a busy machine hit every variant alike.
  keep('bare', await timeBare());
  keep('instant', await timeTask(0));
  keep('lambda', await timeTask(20));
}
const pct = (t: number, base: number) => `${(((t - base) / base) * 100).toFixed(2)} %`;
console.log(`Progress reporting overhead: ${SAMPLES.toExponential(1)} samples in ${event.endBlock} blocks of ${BLOCK_SIZE}, kernel ${kernel.name}, best of ${ROUNDS}`);
console.log('| variant | wall s | CPU s | overhead (wall) | overhead (CPU) |');
console.log('|---|---|---|---|---|');
const row = (name: string, v: Variant) =>
  console.log(`| ${name} | ${best[v].wall.toFixed(3)} | ${best[v].cpu.toFixed(3)} | ${v === 'bare' ? '—' : pct(best[v].wall, best.bare.wall)} | ${v === 'bare' ? '—' : pct(best[v].cpu, best.bare.cpu)} |`);
row('no reports (baseline)', 'bare');
row('reports answered at once', 'instant');
row(`reports taking 20 ms (${reports} per task)`, 'lambda');
