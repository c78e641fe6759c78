/**
 * `npm run bench`: the sampling kernels side by side on one core, in one run.
 *
 * - wasm-simd: the WebAssembly SIMD kernel (the one the sampler uses where SIMD exists);
 * - typescript: the plain TypeScript fallback;
 * - python: the Ray tutorial's sampling loop (random.uniform, math.hypot), when python3 exists;
 * - C: the same algorithm as ours (bench/pi-kernel.c), one block at a time and 16 blocks side by
 *   side, built with `cc -O3 -march=native`, when a C compiler exists. Its counts must equal ours.
 *
 * Then the cost of one countInside call by range size, to size the sampler's chunks.
 * Exits non-zero if a C count differs from ours.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLOCK_SIZE } from '../functions/shared/kernel/stream-rule.js';
import { tsKernel } from '../functions/shared/kernel/ts-kernel.js';
import { createWasmKernel } from '../functions/shared/kernel/wasm-kernel.js';
import type { Kernel } from '../functions/shared/kernel/kernel.js';

const SEED = 20_240_601;
const benchDir = fileURLToPath(new URL('.', import.meta.url));

interface Row {
  name: string;
  samples: number;
  seconds: number;
  inside?: number;
  note?: string;
}

function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Pins this process (and so its children) to one CPU, so every kernel runs on the same core. */
function pinToOneCore(): string {
  const cpu = cpus().length - 1;
  if (!commandExists('taskset')) return 'not pinned (no taskset)';
  execFileSync('taskset', ['-a', '-cp', String(cpu), String(process.pid)], { stdio: 'ignore' });
  return `pinned to CPU ${cpu}`;
}

function machine(): string[] {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) model = line.split(':')[1]!.trim();
  } catch {
    // not Linux: keep os.cpus()'s model
  }
  return [
    `CPU: ${model}, ${cpus().length} cores`,
    `node ${process.version} (V8 ${process.versions.v8})`,
  ];
}

/** Best rate of `runs` runs of countInside over `blocks` full blocks. */
function timeKernel(kernel: Kernel, blocks: number, runs: number): Row {
  const job = blocks * BLOCK_SIZE;
  kernel.countInside(SEED, 0, Math.min(blocks, 64), job); // warm up (and let V8 optimise)
  let best = Infinity;
  let inside = 0;
  for (let r = 0; r < runs; r++) {
    const start = process.hrtime.bigint();
    inside = kernel.countInside(SEED, 0, blocks, job);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { name: kernel.name, samples: job, seconds: best, inside };
}

function timePython(samples: number): Row | string {
  if (!commandExists('python3')) return 'python: skipped (no python3)';
  const out = execFileSync('python3', [join(benchDir, 'tutorial-loop.py'), String(samples)], { encoding: 'utf8' });
  const [, seconds] = out.trim().split(/\s+/);
  return { name: 'python (tutorial loop)', samples, seconds: Number(seconds), note: 'random.uniform + math.hypot' };
}

function timeC(mode: 'scalar' | 'lanes', blocks: number, runs: number, binary: string): Row {
  const job = blocks * BLOCK_SIZE;
  const out = execFileSync(binary, [mode, String(SEED), '0', String(blocks), String(job), String(runs)], {
    encoding: 'utf8',
  });
  const [inside, seconds] = out.trim().split(/\s+/);
  return {
    name: mode === 'scalar' ? 'C, one block at a time' : 'C, 16 blocks in lanes',
    samples: job,
    seconds: Number(seconds),
    inside: Number(inside),
  };
}

function compileC(): { binary: string; dir: string } | string {
  const compiler = ['cc', 'gcc', 'clang'].find(commandExists);
  if (!compiler) return 'C: skipped (no C compiler)';
  const dir = mkdtempSync(join(tmpdir(), 'pi-kernel-'));
  const binary = join(dir, 'pi-kernel');
  execFileSync(compiler, ['-O3', '-march=native', '-o', binary, join(benchDir, 'pi-kernel.c')]);
  return { binary, dir };
}

const rate = (row: Row) => row.samples / row.seconds;
const si = (n: number) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${(n / 1e3).toFixed(1)} k`;

function main(): number {
  const pinned = pinToOneCore();
  console.log('Sampling kernels, one core, one run');
  for (const line of [...machine(), pinned]) console.log(`  ${line}`);
  console.log('');

  const wasmKernel = createWasmKernel();
  const rows: Row[] = [timeKernel(wasmKernel, 16_384, 5), timeKernel(tsKernel, 1_024, 3)];
  const notes: string[] = [];
  const python = timePython(3_000_000);
  if (typeof python === 'string') notes.push(python);
  else rows.push(python);

  let failed = false;
  const c = compileC();
  if (typeof c === 'string') {
    notes.push(c);
  } else {
    try {
      for (const row of [timeC('scalar', 2_048, 3, c.binary), timeC('lanes', 16_384, 5, c.binary)]) {
        const ours = wasmKernel.countInside(SEED, 0, row.samples / BLOCK_SIZE, row.samples);
        const same = row.inside === ours;
        row.note = same ? 'count equals ours' : `COUNT DIFFERS: ${row.inside} vs ours ${ours}`;
        failed ||= !same;
        rows.push(row);
      }
    } finally {
      rmSync(c.dir, { recursive: true, force: true });
    }
  }

  const wasmRate = rate(rows[0]!);
  console.log(
    `${'kernel'.padEnd(26)}${'samples'.padStart(10)}${'seconds'.padStart(10)}${'samples/s'.padStart(13)}` +
      `${'wasm / it'.padStart(11)}  note`,
  );
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(26)}${si(row.samples).padStart(10)}${row.seconds.toFixed(3).padStart(10)}` +
        `${si(rate(row)).padStart(13)}${`${(wasmRate / rate(row)).toFixed(2)}x`.padStart(11)}  ${row.note ?? ''}`,
    );
  }
  for (const note of notes) console.log(note);

  console.log('');
  console.log('Targets');
  const target = (label: string, ok: boolean, value: string) =>
    console.log(`  ${ok ? 'met   ' : 'MISSED'} ${label}: ${value}`);
  target('wasm >= 1.0 G samples/s', wasmRate >= 1e9, `${si(wasmRate)}/s`);
  for (const row of rows.slice(2)) {
    const ratio = wasmRate / rate(row);
    if (row.name.startsWith('C')) target(`wasm >= 0.4x ${row.name}`, ratio >= 0.4, `${ratio.toFixed(2)}x`);
    else target(`wasm >= 300x ${row.name}`, ratio >= 300, `${ratio.toFixed(0)}x`);
  }

  console.log('');
  console.log('Cost of one wasm countInside call (for sizing the sampler\'s chunks)');
  console.log(`${'blocks/call'.padStart(12)}${'us/call'.padStart(12)}${'us/block'.padStart(12)}${'of peak'.padStart(10)}`);
  const peakPerBlock = (BLOCK_SIZE / wasmRate) * 1e6;
  for (const blocks of [0, 1, 2, 4, 8, 16, 64, 256, 1024]) {
    const calls = Math.max(5, Math.min(2_000, Math.floor(50_000 / Math.max(blocks, 1) / 15)));
    const job = (blocks + 1) * BLOCK_SIZE;
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) wasmKernel.countInside(SEED, i % 7, (i % 7) + blocks, job + 7 * BLOCK_SIZE);
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / calls);
    }
    const perBlock = blocks ? best / blocks : NaN;
    console.log(
      `${String(blocks).padStart(12)}${best.toFixed(2).padStart(12)}${(blocks ? perBlock.toFixed(2) : '-').padStart(12)}` +
        `${(blocks ? `${((100 * peakPerBlock) / perBlock).toFixed(0)} %` : '-').padStart(10)}`,
    );
  }
  console.log('A call runs its blocks in groups of 8 (one per SIMD lane): a range that is not a multiple of 8');
  console.log('pays for the rest of its last group, so a call costs about ceil(blocks / 8) groups.');
  return failed ? 1 : 0;
}

process.exitCode = main();
