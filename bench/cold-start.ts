// Cold start of each function's bundle in the local cloud, before observability (the functions as
// they were without Powertools) and after, measured in the same run: both are bundled here the way
// the stack bundles them, and each round starts a fresh local cloud whose first invocation of each
// function reports its Init Duration (worker start plus the handler module's import). A third
// bundle, today's with Powertools' Tracer replaced by a no-op, shows what the Tracer (and the X-Ray
// SDK it loads) costs alone. Init Duration is wall time, which a busy machine stretches; the CPU
// time of the same import, in a fresh process each round, is the figure that load barely moves.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ensureSynth, ROOT } from '../cli/synth.js';
import { startLocalCloud } from '../local/index.js';
import { quantile } from './stats.js';

/** The last commit of the functions without Powertools. */
export const BEFORE_COMMIT = '409de22';
const FUNCTIONS = ['orchestrator', 'sampler', 'progress'] as const;
type FunctionId = (typeof FUNCTIONS)[number];
const VARIANTS = ['before', 'after', 'afterNoTracer'] as const;
type Variant = (typeof VARIANTS)[number];
const ROUNDS = Number(process.env.COLD_START_ROUNDS ?? 7);
const WORK_DIR = join(ROOT, '.local-state', 'cold-start');

/** A Tracer that does nothing: the bundle without the Tracer's code (and the X-Ray SDK). */
const NO_TRACER: Plugin = {
  name: 'no-tracer',
  setup(b) {
    b.onResolve({ filter: /^@aws-lambda-powertools\/tracer$/ }, () => ({ path: 'tracer', namespace: 'no-tracer' }));
    b.onLoad({ filter: /.*/, namespace: 'no-tracer' }, () => ({
      loader: 'js',
      contents: `export class Tracer {
        captureAWSv3Client(client) { return client; }
        getSegment() { return undefined; }
        setSegment() {}
        putAnnotation() {}
        annotateColdStart() {}
        addErrorAsMetadata() {}
      }`,
    }));
  },
};

/** The stack's bundling (infra/pi-function.ts): ESM for node22, minified, the SDK included, source maps beside. */
async function bundle(sourceRoot: string, fn: FunctionId, outDir: string, plugins: Plugin[] = []): Promise<number> {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, 'index.mjs');
  await build({
    entryPoints: [join(sourceRoot, 'functions', fn, 'handler.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire as topLevelCreateRequire } from 'node:module'; const require = topLevelCreateRequire(import.meta.url);" },
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    logLevel: 'error',
    plugins,
  });
  return statSync(outfile).size;
}

/** The functions' sources at BEFORE_COMMIT, inside the project (so they resolve its node_modules). */
function sourcesBefore(): string {
  const dir = join(WORK_DIR, 'src-before');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const archive = execFileSync('git', ['archive', BEFORE_COMMIT, 'functions'], { cwd: ROOT, maxBuffer: 64 * 2 ** 20 });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  return dir;
}

const logicalId = (fn: FunctionId, variant: Variant) => `${fn}${variant[0]!.toUpperCase()}${variant.slice(1)}`;

/**
 * A template with every function in every variant: the stack's own settings (environment, memory,
 * timeout, runtime), references replaced by names (nothing is called while measuring the import).
 */
function coldStartTemplate(stackTemplate: string): { template: Record<string, unknown>; variables: Record<FunctionId, Record<string, string>> } {
  const stack = JSON.parse(readFileSync(stackTemplate, 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> }> };
  const resources: Record<string, unknown> = {};
  const variablesOf = {} as Record<FunctionId, Record<string, string>>;
  for (const fn of FUNCTIONS) {
    const source = Object.entries(stack.Resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Metadata?.['aws:cdk:path'] === `PiStack/${fn}/Resource`);
    if (!source) throw new Error(`no ${fn} function in ${stackTemplate}`);
    const { Environment, Runtime, MemorySize, Timeout } = source[1].Properties as { Environment?: { Variables: Record<string, unknown> }; Runtime?: string; MemorySize?: number; Timeout?: number };
    const variables = Object.fromEntries(Object.entries(Environment?.Variables ?? {}).map(([name, value]) => [name, typeof value === 'string' ? value : `cold-start-${name.toLowerCase()}`]));
    variablesOf[fn] = variables;
    for (const variant of VARIANTS) {
      resources[logicalId(fn, variant)] = {
        Type: 'AWS::Lambda::Function',
        Properties: { Code: { S3Bucket: 'unused-locally', S3Key: `${fn}-${variant}.zip` }, Handler: 'index.handler', Runtime, MemorySize, Timeout, Environment: { Variables: variables } },
        Metadata: { 'aws:asset:path': `asset.${fn}-${variant}`, 'aws:asset:property': 'Code' },
      };
    }
  }
  return { template: { Description: 'Each function before and after observability, for cold-start measurements', Resources: resources }, variables: variablesOf };
}

/** One round: a fresh cloud, the first invocation of every function (in the given order), their Init Durations. */
async function measureRound(templatePath: string, order: string[]): Promise<Map<string, number>> {
  const lines: string[] = [];
  const cloud = await startLocalCloud({ templatePath, quotas: false, maxWorkersPerFunction: 1, log: (line) => lines.push(line) });
  const lambda = new LambdaClient({ endpoint: cloud.lambdaEndpoint, region: cloud.region, credentials: cloud.credentials, maxAttempts: 1 });
  try {
    // One at a time, so no cold start competes with another for the CPU. The event is not one the
    // handler serves: what is measured is the import, before the handler runs.
    for (const id of order) await lambda.send(new InvokeCommand({ FunctionName: id, Payload: Buffer.from('{"cold":"start"}') })).catch(() => undefined);
  } finally {
    lambda.destroy();
    await cloud.stop();
  }
  const inits = new Map<string, number>();
  for (const line of lines) {
    const match = /^\[([^\]]+)\] REPORT .*Init Duration: ([\d.]+) ms/.exec(line);
    if (match) inits.set(match[1]!, Number(match[2]));
  }
  return inits;
}

/** The CPU time (ms) of importing a bundle's handler module in a fresh Node.js process, with the function's environment. */
function importCpuMs(dir: string, variables: Record<string, string>): number {
  const script =
    'const started = process.cpuUsage();' +
    `await import(${JSON.stringify(pathToFileURL(join(dir, 'index.mjs')).href)});` +
    'const used = process.cpuUsage(started);' +
    'process.stdout.write(String((used.user + used.system) / 1000));';
  const env = { PATH: process.env.PATH ?? '', LAMBDA_TASK_ROOT: dir, AWS_REGION: 'us-east-1', AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand', AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x', AWS_SAM_LOCAL: 'true', AWS_LAMBDA_FUNCTION_NAME: 'cold-start', ...variables };
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env, encoding: 'utf8' }));
}

export interface ColdStartRow {
  fn: FunctionId;
  /** Median Init Duration (ms), median CPU time of the import (ms) and bundle size (bytes) of each variant. */
  initMs: Record<Variant, number>;
  importCpuMs: Record<Variant, number>;
  bytes: Record<Variant, number>;
}

export async function coldStarts(log: (line: string) => void = console.log): Promise<ColdStartRow[]> {
  const stackTemplate = await ensureSynth({ log });
  const before = sourcesBefore();
  const bytes = {} as Record<FunctionId, Record<Variant, number>>;
  for (const fn of FUNCTIONS) {
    bytes[fn] = {
      before: await bundle(before, fn, join(WORK_DIR, `asset.${fn}-before`)),
      after: await bundle(ROOT, fn, join(WORK_DIR, `asset.${fn}-after`)),
      afterNoTracer: await bundle(ROOT, fn, join(WORK_DIR, `asset.${fn}-afterNoTracer`), [NO_TRACER]),
    };
  }
  const templatePath = join(WORK_DIR, 'ColdStart.template.json');
  const { template, variables } = coldStartTemplate(stackTemplate);
  writeFileSync(templatePath, JSON.stringify(template, null, 1));

  const samples = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const ids = FUNCTIONS.flatMap((fn) => VARIANTS.map((variant) => logicalId(fn, variant)));
  const split = (id: string) => {
    const fn = FUNCTIONS.find((f) => id.startsWith(f))!;
    return [fn, VARIANTS.find((v) => logicalId(fn, v) === id)!] as const;
  };
  for (let round = 0; round < ROUNDS; round++) {
    // A different order each round: no variant always starts first (or last) on a warming machine.
    const order = ids.map((id, i) => ({ id, key: (i * 7 + round * 5) % ids.length })).sort((a, b) => a.key - b.key).map((e) => e.id);
    const inits = await measureRound(templatePath, order);
    for (const [id, ms] of inits) samples.set(id, [...(samples.get(id) ?? []), ms]);
    for (const id of order) {
      const [fn, variant] = split(id);
      cpu.set(id, [...(cpu.get(id) ?? []), importCpuMs(join(WORK_DIR, `asset.${fn}-${variant}`), variables[fn])]);
    }
    log(`round ${round + 1}/${ROUNDS}: ${ids.map((id) => `${id} ${inits.get(id)?.toFixed(0) ?? '?'} ms (CPU ${cpu.get(id)!.at(-1)!.toFixed(0)} ms)`).join(', ')}`);
  }
  const median = (id: string, from = samples) => {
    const values = (from.get(id) ?? []).sort((a, b) => a - b);
    if (values.length === 0) throw new Error(`${id}: no cold start was measured`);
    return quantile(values, 0.5);
  };
  return FUNCTIONS.map((fn) => ({
    fn,
    initMs: Object.fromEntries(VARIANTS.map((variant) => [variant, median(logicalId(fn, variant))])) as Record<Variant, number>,
    importCpuMs: Object.fromEntries(VARIANTS.map((variant) => [variant, median(logicalId(fn, variant), cpu)])) as Record<Variant, number>,
    bytes: bytes[fn],
  }));
}

export function coldStartTable(rows: ColdStartRow[]): string[][] {
  const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;
  const ms = (value: number) => `${value.toFixed(0)} ms`;
  const both = (of: Record<Variant, number>, variant: Variant) => ms(of[variant]);
  return [
    ['function', 'Init Duration before → after (ratio)', 'import CPU before → after (ratio)', 'after, Tracer stubbed: init, CPU', 'bundle before → after (no Tracer)'],
    ...rows.map(({ fn, initMs, importCpuMs, bytes }) => [
      fn,
      `${both(initMs, 'before')} → ${both(initMs, 'after')} (${(initMs.after / initMs.before).toFixed(2)})`,
      `${both(importCpuMs, 'before')} → ${both(importCpuMs, 'after')} (${(importCpuMs.after / importCpuMs.before).toFixed(2)})`,
      `${both(initMs, 'afterNoTracer')}, ${both(importCpuMs, 'afterNoTracer')}`,
      `${kb(bytes.before)} → ${kb(bytes.after)} (${kb(bytes.afterNoTracer)})`,
    ]),
  ];
}

export const COLD_START_NOTE =
  `Medians of ${ROUNDS} rounds (COLD_START_ROUNDS). Init Duration is what the local cloud reports (wall time: worker process start ` +
  "plus the handler module's import), each round on a fresh local cloud invoking every bundle once, one at a time, in a rotating " +
  "order; import CPU is the user + system time of the handler module's import in a fresh Node.js process with the function's " +
  'environment. Before is the functions at ' + BEFORE_COMMIT + ' (no Powertools), bundled here as the stack bundles them (esbuild, ' +
  "ESM, minified, AWS SDK included, source maps beside them). Tracing is off locally, so the Tracer's cost here is its import (the " +
  'X-Ray SDK), not the sending of segments.';
