/**
 * The bias of the 25-bit lattice (stream-rule.ts): counts exactly the lattice cell centres inside
 * the quarter circle, N = #{(a, b) in [0, 2^25)^2 : (2a+1)^2 + (2b+1)^2 <= 2^52}, so that the
 * kernel's expected estimate is 4 N / 2^50 (for an ideal generator), and compares its distance
 * from pi, and a proven bound on it, with the standard error 4 sqrt(p(1-p)/n) of an n-sample job.
 * `npx tsx scripts/lattice-bias.ts` (about a second).
 */
import { LATTICE_BITS } from '../functions/shared/kernel/stream-rule.js';

const SIDE = 2 ** LATTICE_BITS;
const RADIUS_SQUARED = 4 * SIDE * SIDE; // (2a+1)^2 + (2b+1)^2 <= (2 SIDE)^2

/** floor(sqrt(m)) for 0 <= m < 2^53. */
function isqrt(m: number): number {
  let s = Math.floor(Math.sqrt(m));
  while (s * s > m) s--;
  while ((s + 1) * (s + 1) <= m) s++;
  return s;
}

let inside = 0;
for (let a = 0; a < SIDE; a++) {
  const rest = RADIUS_SQUARED - (2 * a + 1) ** 2;
  // b qualifies iff 2b+1 <= isqrt(rest), so there are floor((isqrt(rest) + 1) / 2) of them.
  if (rest > 0) inside += Math.min(SIDE, Math.floor((isqrt(rest) + 1) / 2));
}

// pi to 60 decimals, for the exact difference in integers scaled by 10^60.
const PI_DIGITS = 3_141592653589793238462643383279502884197169399375105820974944n;
const SCALE = 10n ** 60n;
const cells = BigInt(SIDE) * BigInt(SIDE);
const biasScaled = (4n * BigInt(inside) * SCALE) / cells - PI_DIGITS; // exact: cells is a power of 2
const bias = Number(biasScaled) / 1e60;
// Every cell that the arc does not cross is counted exactly; a monotone arc from (0, SIDE) to
// (SIDE, 0) crosses at most 2 SIDE cells, each off by less than one cell's area.
const boundCells = 2 * SIDE;
const bound = (4 * boundCells) / (SIDE * SIDE);
const p = Math.PI / 4;
const unitError = 4 * Math.sqrt(p * (1 - p)); // standard error of one sample
const crossover = (unitError / Math.abs(bias)) ** 2;
const boundCrossover = (unitError / bound) ** 2;

console.log(`lattice: ${SIDE} x ${SIDE} cells`);
console.log(`cell centres inside the quarter circle: N = ${inside}`);
console.log(`N - (pi/4) 2^50 = ${(Number(biasScaled) / 4e60) * SIDE * SIDE} cells`);
console.log(`expected estimate 4N/2^50 = ${(4 * inside) / (SIDE * SIDE)}`);
console.log(`exact bias 4N/2^50 - pi = ${bias.toExponential(6)}`);
console.log(`proven bound |bias| <= 8 / 2^${LATTICE_BITS} = ${bound.toExponential(6)}`);
console.log(`standard error of n samples = ${unitError.toFixed(6)} / sqrt(n)`);
console.log(`exact bias below the standard error for n < ${crossover.toExponential(3)} samples`);
console.log(`proven bound below the standard error for n < ${boundCrossover.toExponential(3)} samples`);
