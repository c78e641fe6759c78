import { availableParallelism } from 'node:os';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

// Which test file runs in which loop. This is the one place that says so.
//
//   npm run test:unit   the "unit" project: pure logic, no servers, no child processes, no synth.
//   npm test            "unit" + "integration": dynalite, the local cloud, the CLI, the stack, the
//                       dashboard in a browser (test/browser: Chromium at CHROMIUM_PATH or
//                       /usr/bin/chromium, skipped without it unless REQUIRE_BROWSER=1), and a
//                       chaos smoke (chaos.test.ts with CHAOS_JOBS_PER_KIND small).
//   npm run test:chaos  the "chaos" project: the full campaigns (chaos.test.ts at full size, fuzz, load).
//
// A file matching no list runs in "integration": a new test is in `npm test` unless it says otherwise.

const UNIT = [
  'test/unit/**/*.test.ts',
  'test/kernel/build.test.ts',
  'test/kernel/determinism.test.ts',
  'test/kernel/kernels-agree.test.ts',
  'test/kernel/selection.test.ts',
  'test/kernel/statistics.test.ts',
  'test/local/newest.test.ts',
  'test/local/proxy-event.test.ts',
  'test/cli/units.test.ts',
  'test/cli/cost.test.ts',
];

/** The randomized campaign that also runs, small, in `npm test` as a smoke. */
const CHAOS_SUITE = '{test/chaos/chaos,test/scale/scale}.test.ts';

/** Only in the campaign loop. */
const CAMPAIGN_ONLY = ['test/fuzz/**/*.test.ts', 'test/load/**/*.test.ts'];

/** Jobs per fault kind in the chaos smoke (npm test) and in the campaign (npm run test:chaos); the shell may override. */
const CHAOS_JOBS_PER_KIND = { smoke: '2', campaign: '20' };

/** Most integration files wait (on servers, worker processes, polls): two at a time even on two cores. */
const TWO_AT_LEAST = Math.max(2, availableParallelism() - 1);

const shared = {
  pool: 'forks',
  testTimeout: 60_000,
  hookTimeout: 120_000,
  silent: 'passed-only',
  // fast-check properties run with a decided seed (test/helpers/seed.ts), like every randomized suite.
  setupFiles: ['test/helpers/fast-check-seed.ts'] as string[],
} as const;

/** Settings every test process sees; `TEST_LOOP` names the npm script that reruns a failing file. */
const env = (loop: string, extra: Record<string, string> = {}) => ({
  TEST_LOOP: loop,
  ...extra,
});

const projects: TestProjectInlineConfiguration[] = [
  {
    extends: true,
    test: { name: 'unit', include: UNIT, env: env('test:unit'), maxWorkers: TWO_AT_LEAST },
  },
  {
    extends: true,
    test: {
      name: 'integration',
      include: ['test/**/*.test.ts'],
      exclude: [...UNIT, ...CAMPAIGN_ONLY],
      maxWorkers: TWO_AT_LEAST,
      env: env('test', { CHAOS_JOBS_PER_KIND: process.env.CHAOS_JOBS_PER_KIND ?? CHAOS_JOBS_PER_KIND.smoke }),
    },
  },
  {
    extends: true,
    test: {
      name: 'chaos',
      include: [CHAOS_SUITE, ...CAMPAIGN_ONLY],
      // Each campaign sizes its load for the whole machine: one at a time, after the other projects.
      maxWorkers: 1,
      sequence: { groupOrder: 1 },
      env: env('test:chaos', { CHAOS_JOBS_PER_KIND: process.env.CHAOS_JOBS_PER_KIND ?? CHAOS_JOBS_PER_KIND.campaign }),
    },
  },
];

export default defineConfig({
  test: { ...shared, projects },
});
