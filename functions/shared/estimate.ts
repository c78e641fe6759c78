/** π from an inside count, with its standard error and 95 % normal interval (see README, Random streams and exactness). */
export interface Estimate {
  pi: number;
  standardError: number;
  ci95: [number, number];
}

const Z_95 = 1.959963984540054;

export function estimatePi(inside: number, done: number): Estimate | null {
  if (done <= 0) return null;
  const p = inside / done;
  const pi = 4 * p;
  const standardError = 4 * Math.sqrt((p * (1 - p)) / done);
  return { pi, standardError, ci95: [pi - Z_95 * standardError, pi + Z_95 * standardError] };
}
