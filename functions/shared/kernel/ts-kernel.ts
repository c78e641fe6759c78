import { COORD_SHIFT, INSIDE_LIMIT, blockState, samplesInBlocks } from './stream-rule.js';
import type { Kernel } from './kernel.js';

/** Inside count of the first `samples` samples of block `block`, in plain TypeScript. */
export function countInsideBlock(seed: number, block: number, samples: number): number {
  const state = blockState(seed, block);
  let s0 = state[0]! | 0, s1 = state[1]! | 0, s2 = state[2]! | 0, s3 = state[3]! | 0;
  let inside = 0;
  for (let i = 0; i < samples; i++) {
    // xoshiro128**: result = rotl(s1 * 5, 7) * 9, then the state update; twice per sample.
    let r = Math.imul(s1, 5);
    const x = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
    let t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    r = Math.imul(s1, 5);
    const y = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
    t = s1 << 9;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
    const a = x >>> COORD_SHIFT;
    const b = y >>> COORD_SHIFT;
    if (a * a + a + b * b + b <= INSIDE_LIMIT) inside++;
  }
  return inside;
}

export const tsKernel: Kernel = {
  name: 'typescript',
  countInside(seed, startBlock, endBlock, jobSamples) {
    let inside = 0;
    for (let b = startBlock; b < endBlock; b++) {
      inside += countInsideBlock(seed, b, samplesInBlocks(b, b + 1, jobSamples));
    }
    return inside;
  },
};

