import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { ROOT } from '../../cli/synth.js';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Runs an npm script of the project exactly as a user types it (`npm start -- ...`), without a TTY. */
export interface RunOptions {
  timeoutMs?: number;
  onStdout?: (text: string, pid: number) => void;
  /** Called every 50 ms while it runs. */
  onTick?: (pid: number) => void;
  /** In a process group of its own, as a shell runs a foreground job: a Ctrl-C reaches the whole group. */
  ownProcessGroup?: boolean;
  /** Added to the environment. */
  env?: Record<string, string>;
}

export function runNpm(args: string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0', ...options.env },
      detached: options.ownProcessGroup ?? false,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      options.onStdout?.(stdout, child.pid!);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const ticker = options.onTick ? setInterval(() => options.onTick!(child.pid!), 50) : undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm ${args.join(' ')} did not finish in time\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, options.timeoutMs ?? 240_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearInterval(ticker);
      resolve({ code, signal, stdout, stderr, pid: child.pid! });
    });
  });
}

/** Live processes (zombies count as gone: they have ended and only wait to be reaped). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Processes whose command line mentions `marker`. */
export function processesMentioning(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (args.includes(marker) && isRunning(Number(entry))) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The child processes of `pid` right now. */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Has no stack trace: a user error is one clear line. */
export const hasStackTrace = (text: string) => /^\s+at .+[:(]\d+/m.test(text);

/** Every process below `pid` in the process tree. */
export function descendantsOf(pid: number): number[] {
  const all: number[] = [];
  for (let level = childrenOf(pid); level.length > 0; level = level.flatMap(childrenOf)) all.push(...level);
  return all;
}
