// The seed of a randomized suite, decided in one place.
//
//   <SUITE>_SEED=<n>   this suite's seed (e.g. CHAOS_SEED=123), to replay a run
//   TEST_SEED=<n>      every suite's seed
//   TEST_SEED=random   a fresh random seed for every suite
//   otherwise          the suite's fixed seed (always in CI, so a CI run is reproducible)
//
// The seed is printed when the suite starts, and a failing test prints the command that replays it.
import { randomInt } from 'node:crypto';
import { relative } from 'node:path';
import { beforeEach } from 'vitest';

export interface SuiteSeed {
  seed: number;
  /** Where it came from: the suite's variable, TEST_SEED, random, or the fixed default. */
  source: string;
  /** The command that reruns the calling file with this seed. */
  replay: string;
}

function parse(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}=${text}: a seed is a non-negative integer (or TEST_SEED=random)`);
  return n;
}

/**
 * Decides the seed of a suite whose own variable is `variable` (e.g. 'CHAOS_SEED'), prints it (unless
 * `quiet`), and prints the replay command when a test of the calling file fails. Call it once at the
 * top of the file (or in a setup file, for every file).
 */
export function suiteSeed(
  variable: string,
  fixed: number,
  file: string,
  opts: { quiet?: boolean; /** Print the replay only for failures this accepts (their error messages). */ replayIf?: (messages: string[]) => boolean } = {},
): SuiteSeed {
  const own = process.env[variable];
  const all = process.env.TEST_SEED;
  let seed: number;
  let source: string;
  if (own !== undefined && own !== '') {
    seed = parse(variable, own);
    source = variable;
  } else if (all === 'random') {
    seed = randomInt(2 ** 31);
    source = 'TEST_SEED=random';
  } else if (all !== undefined && all !== '') {
    seed = parse('TEST_SEED', all);
    source = 'TEST_SEED';
  } else {
    seed = fixed;
    source = 'fixed';
  }
  const loop = process.env.TEST_LOOP ?? 'test';
  const size = variable === 'CHAOS_SEED' && process.env.CHAOS_JOBS_PER_KIND ? ` CHAOS_JOBS_PER_KIND=${process.env.CHAOS_JOBS_PER_KIND}` : '';
  const replayOf = (path: string) => `${variable}=${seed}${size} npm run ${loop} -- ${path}`;
  // Straight to stdout: the runner hides console output of passing tests, and the seed matters for all.
  if (!opts.quiet) process.stdout.write(`\n${variable} ${seed} (${source}; TEST_SEED=random for a random one)\n`);
  beforeEach(({ task, onTestFailed }) => {
    const path = task.file?.filepath ? relative(process.cwd(), task.file.filepath) : file;
    onTestFailed(({ task: failed }) => {
      const messages = (failed.result?.errors ?? []).map((e) => String(e.message ?? e));
      if (!opts.replayIf || opts.replayIf(messages)) process.stdout.write(`\nreplay this run: ${replayOf(path)}\n`);
    });
  });
  return { seed, source, replay: replayOf(file) };
}
