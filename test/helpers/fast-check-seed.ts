// Every fast-check property without a seed of its own runs with the seed test/helpers/seed.ts decides
// (FC_SEED, TEST_SEED, or a fixed one), so a CI run is reproducible; a failing test prints its replay.
import fc from 'fast-check';
import { suiteSeed } from './seed.js';

const { seed } = suiteSeed('FC_SEED', 20_240_613, 'test', {
  quiet: true,
  // Only a failing property depends on this seed.
  replayIf: (messages) => messages.some((m) => m.includes('Property failed')),
});
fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
