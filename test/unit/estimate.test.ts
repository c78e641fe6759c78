import { describe, expect, it } from 'vitest';
import { estimatePi } from '../../functions/shared/estimate.js';

describe('estimatePi', () => {
  it('is 4·inside/done with standard error 4·sqrt(p(1−p)/done)', () => {
    const e = estimatePi(785_398, 1_000_000)!;
    expect(e.pi).toBeCloseTo(3.141592, 6);
    const p = 0.785398;
    expect(e.standardError).toBeCloseTo(4 * Math.sqrt((p * (1 - p)) / 1e6), 12);
    expect(e.ci95[0]).toBeCloseTo(e.pi - 1.959964 * e.standardError, 9);
    expect(e.ci95[1]).toBeCloseTo(e.pi + 1.959964 * e.standardError, 9);
  });

  it('has no estimate before any sample', () => {
    expect(estimatePi(0, 0)).toBeNull();
  });

  it('has zero error when every or no sample is inside', () => {
    expect(estimatePi(10, 10)).toEqual({ pi: 4, standardError: 0, ci95: [4, 4] });
    expect(estimatePi(0, 10)).toEqual({ pi: 0, standardError: 0, ci95: [0, 0] });
  });

  it('shrinks the error with the square root of the samples', () => {
    const small = estimatePi(7_854, 10_000)!;
    const large = estimatePi(785_400, 1_000_000)!;
    expect(small.standardError / large.standardError).toBeCloseTo(10, 2);
  });
});
