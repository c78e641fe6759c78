import kstest from '@stdlib/stats-kstest';
import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../functions/shared/kernel/stream-rule.js';
import { createWasmKernel } from '../../functions/shared/kernel/wasm-kernel.js';

// The kernels give identical counts (kernels-agree.test.ts), so the faster one stands for both.
const kernel = createWasmKernel();
const P = Math.PI / 4; // chance that a sample is inside

/** How far a count of `inside` out of `samples` lies from the expected count, in standard deviations. */
function zScore(inside: number, samples: number): number {
  return (inside - samples * P) / Math.sqrt(samples * P * (1 - P));
}

function correlation(xs: number[], ys: number[]): number {
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const [mx, my] = [mean(xs), mean(ys)];
  let [sxy, sxx, syy] = [0, 0, 0];
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Inside count of the first `samples` samples of one block. */
const blockInside = (seed: number, block: number, samples = BLOCK_SIZE) =>
  kernel.countInside(seed, block, block + 1, block * BLOCK_SIZE + samples);

// Consecutive seeds are the hardest case for seeding: their keys differ in few bits.
const seeds = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('generator quality, seen through the estimate', () => {
  it('the z-scores of 400 seeds are consistent with N(0, 1) (Kolmogorov-Smirnov)', () => {
    const samples = 4 * BLOCK_SIZE;
    const z = seeds(400).map((seed) => zScore(kernel.countInside(seed, 0, 4, samples), samples));
    const result = kstest(z, 'normal', 0, 1);
    expect(result.pValue).toBeGreaterThan(0.001);
  });

  it('the 95 % interval covers pi for 93-97 % of 1000 seeds', () => {
    const samples = BLOCK_SIZE;
    let covered = 0;
    for (const seed of seeds(1_000)) {
      const inside = kernel.countInside(seed, 0, 1, samples);
      // The interval the API reports: pi = 4 p, standard error 4 sqrt(p (1 - p) / n).
      const p = inside / samples;
      const [estimate, error] = [4 * p, 4 * Math.sqrt((p * (1 - p)) / samples)];
      if (Math.abs(estimate - Math.PI) <= 1.96 * error) covered++;
    }
    expect(covered).toBeGreaterThanOrEqual(930);
    expect(covered).toBeLessThanOrEqual(970);
  });

  // Independent counts have a sample correlation within 4/sqrt(n) of 0 but for 1 case in 15,000.
  describe.each([
    ['whole blocks', BLOCK_SIZE],
    ['the first 64 samples of each block', 64],
  ])('no correlation, counting %s', (_, samples) => {
    const n = 2_000;
    const limit = 4 / Math.sqrt(n);

    it('between neighbouring blocks of a seed', () => {
      const counts = Array.from({ length: n + 1 }, (_, b) => blockInside(99, b, samples));
      expect(Math.abs(correlation(counts.slice(0, n), counts.slice(1)))).toBeLessThan(limit);
    });

    it('between the same block of neighbouring seeds', () => {
      const counts = seeds(n + 1).map((seed) => blockInside(seed, 5, samples));
      expect(Math.abs(correlation(counts.slice(0, n), counts.slice(1)))).toBeLessThan(limit);
    });

    it('between block b of seed s and block b + 1 of seed s + 1', () => {
      const a = seeds(n).map((seed) => blockInside(seed, seed, samples));
      const b = seeds(n).map((seed) => blockInside(seed + 1, seed + 1, samples));
      expect(Math.abs(correlation(a, b))).toBeLessThan(limit);
    });
  });

  it('the counts do not stay on one side: block z-scores of a seed have mean 0 and variance 1', () => {
    const z = Array.from({ length: 2_000 }, (_, b) => zScore(blockInside(3, b), BLOCK_SIZE));
    const mean = z.reduce((s, x) => s + x, 0) / z.length;
    const variance = z.reduce((s, x) => s + (x - mean) ** 2, 0) / (z.length - 1);
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(z.length));
    // The variance of a sample variance of n normals is 2/(n-1).
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(2 / (z.length - 1)));
  });
});
