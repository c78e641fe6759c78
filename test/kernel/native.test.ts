import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../functions/shared/kernel/stream-rule.js';
import { kernel } from '../../functions/shared/kernel/index.js';

const source = fileURLToPath(new URL('../../bench/pi-kernel.c', import.meta.url));
const hasCc = spawnSync('sh', ['-c', 'command -v cc'], { stdio: 'ignore' }).status === 0;
const NO_CC = 'skipped: no C compiler (cc) on PATH, so the benchmark\'s C kernel is not checked against ours';
// Straight to stdout: a skipped test says nothing in the runner's summary but "skipped".
if (!hasCc) process.stdout.write(`\ntest/kernel/native.test.ts ${NO_CC}\n`);

// The benchmark's C kernel is only a yardstick if it computes what ours does.
describe.skipIf(!hasCc)(hasCc ? 'the C kernel of the benchmark' : `the C kernel of the benchmark (${NO_CC})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-kernel-test-'));
  const binary = join(dir, 'pi-kernel');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives our inside counts, one block at a time and 16 blocks in lanes', () => {
    execFileSync('cc', ['-O2', '-march=native', '-o', binary, source]);
    const cases: Array<[number, number, number, number]> = [
      [42, 0, 38, 37 * BLOCK_SIZE + 1_234],
      [2 ** 53 - 1, 1_000, 1_037, 1_036 * BLOCK_SIZE + 1],
      [7, 3, 21, 20 * BLOCK_SIZE + 5],
      [123_456_789, 0, 64, 64 * BLOCK_SIZE],
    ];
    for (const [seed, start, end, job] of cases) {
      const ours = kernel.countInside(seed, start, end, job);
      for (const mode of ['scalar', 'lanes']) {
        const out = execFileSync(binary, [mode, String(seed), String(start), String(end), String(job)], {
          encoding: 'utf8',
        });
        expect(Number(out.split(' ')[0]), `${mode} ${seed}/${start}-${end}`).toBe(ours);
      }
    }
  });
});
