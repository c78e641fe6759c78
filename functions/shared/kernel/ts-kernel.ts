import { COORD_SHIFT, INSIDE_LIMIT, blockCount, blockState, samplesInBlocks } from './stream-rule.js';
import type { Kernel } from './kernel.js';
import { checkRange } from './range.js';

/** Inside count of the first `samples` samples of block `block`, in plain TypeScript. */
export function countInsideBlock(seed: number, block: number, samples: number): number {
  const state = blockState(seed, block);
  return countInsideFrom(state[0]! | 0, state[1]! | 0, state[2]! | 0, state[3]! | 0, samples);
}

/** Inside count of `samples` samples of the xoshiro128** generator in state (s0, s1, s2, s3). */
function countInsideFrom(s0: number, s1: number, s2: number, s3: number, samples: number): number {
  // Copied into locals: bundlers and test runners may turn imported bindings into property loads,
  // which cost more than the rest of the loop together.
  const shift = COORD_SHIFT;
  const limit = INSIDE_LIMIT;
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
    const a = x >>> shift;
    const b = y >>> shift;
    // Below 2^53 throughout, so exact in doubles.
    if (a * a + a + b * b + b <= limit) inside++;
  }
  return inside;
}

export const tsKernel: Kernel = {
  name: 'typescript',
  countInside(seed, startBlock, endBlock, jobSamples) {
    checkRange(seed, startBlock, endBlock, jobSamples);
    // Blocks past the job hold no samples.
    const end = Math.min(endBlock, blockCount(jobSamples));
    let inside = 0;
    for (let b = startBlock; b < end; b++) {
      inside += countInsideBlock(seed, b, samplesInBlocks(b, b + 1, jobSamples));
    }
    return inside;
  },
};
