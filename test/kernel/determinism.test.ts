import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE, blockCount } from '../../functions/shared/kernel/stream-rule.js';
import { tsKernel } from '../../functions/shared/kernel/ts-kernel.js';
import { createWasmKernel } from '../../functions/shared/kernel/wasm-kernel.js';
import type { Kernel } from '../../functions/shared/kernel/kernel.js';

const kernels = [createWasmKernel(), tsKernel];

/** Splits a job's blocks into `tasks` contiguous ranges of nearly equal size. */
function taskRanges(samples: number, tasks: number): Array<[number, number]> {
  const blocks = blockCount(samples);
  return Array.from({ length: tasks }, (_, t) => [
    Math.floor((t * blocks) / tasks),
    Math.floor(((t + 1) * blocks) / tasks),
  ]);
}

function jobInside(kernel: Kernel, seed: number, samples: number, tasks: number): number {
  return taskRanges(samples, tasks).reduce((sum, [start, end]) => sum + kernel.countInside(seed, start, end, samples), 0);
}

describe.each(kernels)('the $name kernel: the result depends only on (seed, samples)', (kernel) => {
  const seed = 314_159;
  const samples = 1_000 * BLOCK_SIZE + 777; // 1001 blocks, the last one partial

  it('1, 7 and 1000 tasks give the identical count', () => {
    const one = jobInside(kernel, seed, samples, 1);
    expect(jobInside(kernel, seed, samples, 7)).toBe(one);
    expect(jobInside(kernel, seed, samples, 1_000)).toBe(one);
    // Not trivially equal: the count does depend on the seed.
    expect(kernel.countInside(seed + 1, 0, 10, samples)).not.toBe(kernel.countInside(seed, 0, 10, samples));
  });

  it('any split into contiguous tasks gives the same count', () => {
    const small = 40 * BLOCK_SIZE + 99;
    const whole = kernel.countInside(seed, 0, blockCount(small), small);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: blockCount(small) - 1 }), { maxLength: 12 }), (cuts) => {
        const bounds = [0, ...cuts.sort((a, b) => a - b), blockCount(small)];
        let sum = 0;
        for (let i = 0; i + 1 < bounds.length; i++) sum += kernel.countInside(seed, bounds[i]!, bounds[i + 1]!, small);
        expect(sum).toBe(whole);
      }),
      { numRuns: 25 },
    );
  });

  it('a task resumed from any block boundary gives the identical count', () => {
    const small = 40 * BLOCK_SIZE + 99;
    const [start, end] = [3, blockCount(small)];
    const uninterrupted = kernel.countInside(seed, start, end, small);
    for (let resumeAt = start; resumeAt <= end; resumeAt++) {
      // The first run reported up to resumeAt and died; the retry counts from there.
      const reported = kernel.countInside(seed, start, resumeAt, small);
      expect(reported + kernel.countInside(seed, resumeAt, end, small), `resumed at ${resumeAt}`).toBe(uninterrupted);
    }
  });
});
