import { MAX_SEED } from './stream-rule.js';

/**
 * Throws a RangeError unless the arguments of Kernel.countInside are what the stream rule is
 * defined for: every kernel then either gives the same count or refuses alike.
 */
export function checkRange(seed: number, startBlock: number, endBlock: number, jobSamples: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`seed must be an integer from 0 to ${MAX_SEED}, got ${seed}`);
  }
  checkCount('startBlock', startBlock);
  checkCount('endBlock', endBlock);
  checkCount('jobSamples', jobSamples);
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  }
}
