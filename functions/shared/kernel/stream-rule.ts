/**
 * The stream rule (see README, Random streams and exactness): the result of a job depends only on (seed, samples).
 *
 * The sample index space is cut into blocks of BLOCK_SIZE samples. Block b draws from its own
 * xoshiro128** generator (Blackman & Vigna, "Scrambled linear pseudorandom number generators",
 * ACM TOMS 2021; https://prng.di.unimi.it/xoshiro128starstar.c) whose 128-bit state comes from
 * SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014)
 * started at key(seed, b) = mix64(mix64(seed) XOR b). mix64 is a bijection, so distinct blocks of
 * one seed always get distinct keys.
 *
 * A sample draws x then y (two 32-bit outputs) and keeps their top 25 bits, a and b: the point is
 * the centre of lattice cell (a, b) of a 2^25 × 2^25 grid on the unit square. It is inside the
 * quarter circle iff (2a+1)² + (2b+1)² ≤ 2^52, i.e. a² + a + b² + b ≤ 2^50 − 1. Every term stays
 * below 2^53, so the test is exact in IEEE doubles and in 64-bit integers alike.
 */
export const BLOCK_SIZE = 16_384;
export const LATTICE_BITS = 25;
export const COORD_SHIFT = 32 - LATTICE_BITS;
export const INSIDE_LIMIT = 2 ** 50 - 1;
/** Largest seed: seeds are JSON integers, so they stay exact doubles. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

/** SplitMix64's output function (Stafford's Mix13). */
export function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** The four 32-bit words of block `block`'s xoshiro128** state, in order s0..s3. */
export function blockState(seed: number, block: number): Uint32Array {
  let state = mix64(mix64(BigInt(seed)) ^ BigInt(block));
  const words = new Uint32Array(4);
  for (let i = 0; i < 2; i++) {
    state = (state + GOLDEN_GAMMA) & MASK64;
    const z = mix64(state);
    words[2 * i] = Number(z & 0xffffffffn);
    words[2 * i + 1] = Number(z >> 32n);
  }
  // xoshiro must not start from all zeros; SplitMix64 practically never yields that, but be total.
  if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1;
  return words;
}

/** Number of blocks of a job of `samples` samples; the last one may be partial. */
export function blockCount(samples: number): number {
  return Math.ceil(samples / BLOCK_SIZE);
}

/** Samples that blocks [startBlock, endBlock) hold in a job of `jobSamples` samples. */
export function samplesInBlocks(startBlock: number, endBlock: number, jobSamples: number): number {
  return Math.max(0, Math.min(endBlock * BLOCK_SIZE, jobSamples) - startBlock * BLOCK_SIZE);
}
