import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in `cli/`). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STACK_NAME = 'PiStack';
/** Where `cdk synth` writes the stack's template under a project root. */
const templatePathIn = (root: string) => join(root, 'cdk.out', `${STACK_NAME}.template.json`);
export const TEMPLATE_PATH = templatePathIn(ROOT);

/** What the synthesized template and its assets are built from. */
const SOURCES = ['infra', 'functions', 'package-lock.json', 'cdk.json'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Why the stack must be synthesized again, or undefined when `cdk.out` is up to date. */
function synthReason(root = ROOT): string | undefined {
  const template = templatePathIn(root);
  if (!existsSync(template)) return 'cdk.out has no synthesized stack';
  const built = statSync(template).mtimeMs;
  const changed = SOURCES.filter((source) => newestMtime(join(root, source)) > built);
  if (changed.length > 0) return `${changed.join(', ')} changed since the last synth`;
  // Every function's code folder must be there: the local cloud runs exactly those.
  const parsed = JSON.parse(readFileSync(template, 'utf8')) as { Resources?: Record<string, { Type?: string; Metadata?: Record<string, unknown> }> };
  for (const resource of Object.values(parsed.Resources ?? {})) {
    const asset = resource.Metadata?.['aws:asset:path'];
    if (resource.Type === 'AWS::Lambda::Function' && typeof asset === 'string' && !existsSync(join(root, 'cdk.out', asset))) {
      return `the asset folder ${asset} is missing`;
    }
  }
  return undefined;
}

const CDK_BUSY_RETRY_MS = 2_000;
const CDK_BUSY_MAX_WAIT_MS = 5 * 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One synth at a time per checkout (the CLI, test files running in parallel and the bench may all
 * ask at once): a lock folder holding the owner's pid; a lock whose owner died is taken over.
 */
async function withSynthLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(tmpdir(), `pi-synth-${createHash('sha256').update(root).digest('hex').slice(0, 12)}.lock`);
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // the owner is between mkdir and writing its pid
      }
      const stale = Number.isInteger(owner) ? !alive(owner) : Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 5_000;
      if (stale) rmSync(lock, { recursive: true, force: true });
      else await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface SynthOptions {
  root?: string;
  /** Progress lines for the user ("Synthesizing..."). */
  log?: (line: string) => void;
  /** Synthesize even when cdk.out looks up to date. */
  force?: boolean;
  /** Stops a running synth (and everything it started). */
  signal?: AbortSignal;
}

/**
 * Synthesizes the stack (`npm run synth`, the same step a deployment takes) when `cdk.out` is
 * missing or older than its sources. Returns the template path. The synth's output is shown only
 * when it fails.
 */
export async function ensureSynth(options: SynthOptions = {}): Promise<string> {
  const root = options.root ?? ROOT;
  const template = templatePathIn(root);
  if (!options.force && synthReason(root) === undefined) return template;
  return withSynthLock(root, async () => {
    // Another process may have synthesized while this one waited for the lock.
    const reason = options.force ? 'requested' : synthReason(root);
    if (reason === undefined) return template;
    const started = Date.now();
    options.log?.(`Synthesizing the stack (${reason}): npm run synth ...`);
    for (let waited = 0; ; waited += CDK_BUSY_RETRY_MS) {
      const output = await run('npm', ['run', '--silent', 'synth'], root, options.signal);
      if (output.code === 0) break;
      // The CDK CLI locks cdk.out while another synth (a deploy, a watch) writes it: wait for it.
      if (/currently synthing/i.test(output.text) && waited < CDK_BUSY_MAX_WAIT_MS) {
        if (waited === 0) options.log?.('Another CDK process is writing cdk.out; waiting for it');
        await sleep(CDK_BUSY_RETRY_MS);
        continue;
      }
      throw new Error(`npm run synth failed (exit ${output.code}):\n${output.text.trim()}`);
    }
    // Date the template by the sources it was built from: a source saved during the synth is newer.
    const builtFrom = new Date(started);
    utimesSync(template, builtFrom, builtFrom);
    options.log?.(`Synthesized in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return template;
  });
}

function run(command: string, args: string[], cwd: string, signal?: AbortSignal): Promise<{ code: number; text: string }> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const windows = process.platform === 'win32';
    const child = spawn(command, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: windows,
      // Its own process group, so a stop ends npm, the CDK CLI, the app and esbuild together.
      detached: !windows,
    });
    const stop = () => {
      try {
        if (windows) child.kill();
        else process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    signal?.addEventListener('abort', stop, { once: true });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      signal?.removeEventListener('abort', stop);
      if (signal?.aborted) reject(signal.reason);
      else resolve({ code: code ?? 1, text });
    });
  });
}
