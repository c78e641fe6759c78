import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE, MAX_SEED } from '../../functions/shared/kernel/stream-rule.js';
import { countInsideBlock, tsKernel } from '../../functions/shared/kernel/ts-kernel.js';
import { createWasmKernel } from '../../functions/shared/kernel/wasm-kernel.js';

const wasmKernel = createWasmKernel();
const kernels = [tsKernel, wasmKernel];

describe('the WebAssembly and TypeScript kernels', () => {
  it('give the counts recorded from the reference kernel (stream rule unchanged)', () => {
    // Recorded from the TypeScript kernel as first written; the C kernel in bench/ gives them too.
    for (const k of kernels) {
      expect(k.countInside(42, 0, 2_000, 2_000 * BLOCK_SIZE), k.name).toBe(25_734_850);
      expect(k.countInside(42, 0, 38, 37 * BLOCK_SIZE + 1_234), k.name).toBe(477_290);
      expect(k.countInside(42, 3, 21, 20 * BLOCK_SIZE + 5), k.name).toBe(218_802);
    }
  });

  it('give bit-identical counts for any seed, block and partial block', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_SEED }),
        fc.integer({ min: 0, max: 2 ** 36 }),
        fc.integer({ min: 0, max: BLOCK_SIZE }),
        (seed, block, samples) => {
          const job = block * BLOCK_SIZE + samples; // block is the job's last block, `samples` long
          expect(wasmKernel.countInside(seed, block, block + 1, job)).toBe(countInsideBlock(seed, block, samples));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('give bit-identical counts for any range, including ranges not a multiple of the lane count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_SEED }),
        fc.integer({ min: 0, max: 2 ** 36 }),
        fc.integer({ min: 0, max: 19 }),
        fc.integer({ min: -3, max: 22 }),
        fc.integer({ min: 0, max: BLOCK_SIZE - 1 }),
        (seed, start, length, jobBlocks, lastSamples) => {
          // The job may end before, inside or after the range; its last block may be partial.
          const job = Math.max(0, (start + jobBlocks) * BLOCK_SIZE + lastSamples);
          expect(wasmKernel.countInside(seed, start, start + length, job)).toBe(
            tsKernel.countInside(seed, start, start + length, job),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('agree over many blocks (every kernel code path, including the exact retest near the circle)', () => {
    // About 1.6 samples per block fall near the circle, where the SIMD kernel retests exactly.
    const job = 333 * BLOCK_SIZE + 4_321;
    expect(wasmKernel.countInside(7, 0, 334, job)).toBe(tsKernel.countInside(7, 0, 334, job));
  });

  it('agree at the extremes of seeds and blocks', () => {
    for (const [seed, block] of [
      [0, 0],
      [MAX_SEED, 0],
      [MAX_SEED, 2 ** 39 - 2], // the last full block of the largest job
      [2 ** 32, 2 ** 32],
      [1, 2 ** 31 - 1],
    ] as const) {
      const job = (block + 1) * BLOCK_SIZE;
      expect(wasmKernel.countInside(seed, block, block + 1, job), `${seed}/${block}`).toBe(
        tsKernel.countInside(seed, block, block + 1, job),
      );
    }
  });

  it('count nothing for empty ranges and blocks past the job', () => {
    for (const k of kernels) {
      expect(k.countInside(1, 5, 5, 100 * BLOCK_SIZE)).toBe(0);
      expect(k.countInside(1, 6, 5, 100 * BLOCK_SIZE)).toBe(0);
      expect(k.countInside(1, 10, 20, 10 * BLOCK_SIZE)).toBe(0);
      expect(k.countInside(1, 0, 1, 0)).toBe(0);
      expect(k.countInside(1, 0, 2 ** 50, BLOCK_SIZE)).toBe(k.countInside(1, 0, 1, BLOCK_SIZE));
    }
  });

  it('both refuse arguments outside the stream rule alike', () => {
    const bad: Array<[number, number, number, number]> = [
      [-1, 0, 1, BLOCK_SIZE],
      [1.5, 0, 1, BLOCK_SIZE],
      [MAX_SEED + 1, 0, 1, BLOCK_SIZE],
      [Number.NaN, 0, 1, BLOCK_SIZE],
      [1, -1, 1, BLOCK_SIZE],
      [1, 0, 1.5, BLOCK_SIZE],
      [1, 0, Infinity, BLOCK_SIZE],
      [1, 0, 1, -5],
      [1, 0, 1, 2 ** 53],
    ];
    for (const k of kernels) {
      for (const args of bad) expect(() => k.countInside(...args), `${k.name} ${args}`).toThrow(RangeError);
    }
  });
});
