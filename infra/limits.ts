// The stack's limits: the properties a deployment may choose, their defaults, and the checks that
// make a bad value fail `cdk synth` instead of a job.

import { orchestratorConfig } from '../functions/orchestrator/config.js';
import { samplerConfig } from '../functions/sampler/config.js';
import { describeRange, isInRange } from '../functions/shared/env.js';

/** Lambda's hard limit; the orchestrator gets all of it to outlive any job. */
export const ORCHESTRATOR_TIMEOUT_SECONDS = 900;
/** API Gateway cuts a REST request at 29 s. */
export const API_GATEWAY_TIMEOUT_SECONDS = 29;
export const SAMPLER_TIMEOUT_SECONDS = 300;
/**
 * Worst case sampling speed: the plain TypeScript kernel on one arm64 vCPU does about 50 M
 * samples/s (the WebAssembly kernel is faster). A task must finish inside the sampler timeout
 * even at that speed, with room for a cold start and its progress reports.
 */
const SLOWEST_SAMPLES_PER_SECOND = 50_000_000;

/** Limits and capacity of the stack, chosen per deployment. Every property has a safe default. */
export interface PiLimitProps {
  /**
   * Largest `tasks` a job may ask for: one sampler invocation and one DynamoDB item per task; at
   * most 10,000 (task items are keyed by a four-digit task id).
   * @default 1000
   */
  readonly maxTasks?: number;
  /**
   * Largest `samples` a job may ask for (at most 2^53 - 1, the API carries JSON numbers).
   * @default 1e12
   */
  readonly maxSamples?: number;
  /**
   * Largest number of samples one task (one sampler invocation) may draw. Bounded so a task
   * finishes inside the sampler's 300 s timeout at the slowest kernel's ~50 M samples/s:
   * 1e10 / 5e7 = 200 s, leaving 100 s for a cold start and reporting.
   * @default 1e10
   */
  readonly maxSamplesPerTask?: number;
  /**
   * Reserved concurrency of the sampler: how many tasks run at once across all jobs, and a cap
   * on what one burst of jobs can spend. Lambda keeps it out of the account's unreserved pool.
   * @default 100
   */
  readonly samplerReservedConcurrency?: number;
  /**
   * A job that has not finished this many seconds after it was created fails. Also the maximum
   * age of the sampler's and the orchestrator's async events: an event older than its job is
   * dropped (and a dropped sampler event is reported to the progress function). Must be at least
   * 60 s (Lambda's smallest event age) and below the orchestrator's 900 s timeout, so the
   * orchestrator that watches a job outlives it.
   * @default 600
   */
  readonly jobTimeoutSeconds?: number;
  /**
   * How long `POST /estimate` waits for the result before answering 202 with the job's location.
   * Must stay below API Gateway's 29 s integration timeout.
   * @default 25
   */
  readonly estimateWaitSeconds?: number;
  /**
   * Steady-state request rate of the API stage, requests per second, across all callers.
   * @default 10
   */
  readonly apiThrottlingRateLimit?: number;
  /**
   * Burst capacity of the API stage, requests.
   * @default 20
   */
  readonly apiThrottlingBurstLimit?: number;
  /**
   * A task with no accepted report for this long (its event lost, its run dead without a retry,
   * or its event waiting in Lambda's queue) is started again, at most `taskRestarts` times; a
   * job's run silent this long is started again by the next `GET`. Must exceed the report
   * interval by 10 s, span three polls, and stay below the job timeout.
   * @default 60
   */
  readonly stallSeconds?: number;
  /**
   * How often a task may be started again after it failed or went silent, 0 to 10.
   * @default 2
   */
  readonly taskRestarts?: number;
  /**
   * How often a job's run polls the table (one consistent Query of the job), 100 ms to 10 s: it
   * starts the next tasks of a paced fan-out and notices the job's end at this pace.
   * @default 1000
   */
  readonly pollIntervalMs?: number;
  /**
   * Least time between two progress reports of a sampler, 100 ms to 60 s. Each report is one
   * invocation of the progress function and one write; a cancelled job's samplers stop at their
   * next report.
   * @default 1000
   */
  readonly reportIntervalMs?: number;
  /**
   * Days a job's items are kept (DynamoDB TTL, counted from the job's creation), 1 to 365.
   * @default 7
   */
  readonly jobTtlDays?: number;
}

/** Resolved limits, as the functions receive them. */
export type PiLimits = { readonly [K in keyof PiLimitProps]-?: number };

export const DEFAULT_LIMITS: PiLimits = {
  maxTasks: 1000,
  maxSamples: 1e12,
  maxSamplesPerTask: 1e10,
  samplerReservedConcurrency: 100,
  jobTimeoutSeconds: 600,
  estimateWaitSeconds: 25,
  apiThrottlingRateLimit: 10,
  apiThrottlingBurstLimit: 20,
  stallSeconds: 60,
  taskRestarts: 2,
  pollIntervalMs: 1000,
  reportIntervalMs: 1000,
  jobTtlDays: 7,
};

interface Range {
  readonly min: number;
  readonly max: number;
  /** Why the range is what it is, when that is not obvious. */
  readonly why?: string;
}

const V = orchestratorConfig.variables;

/**
 * The values each limit may take. Where the deployment may use everything the function accepts,
 * the range is the function's own (its environment variable's); elsewhere it is narrower, for a
 * reason of the deployment's.
 */
const RANGES: { readonly [K in keyof PiLimits]: Range } = {
  maxTasks: { ...V.maxTasks, why: 'task items are keyed by a four-digit task id' },
  maxSamples: { ...V.maxSamples, why: 'the API carries JSON numbers' },
  maxSamplesPerTask: V.maxSamplesPerTask,
  samplerReservedConcurrency: V.samplerConcurrency,
  jobTimeoutSeconds: {
    min: 60,
    max: ORCHESTRATOR_TIMEOUT_SECONDS - 1,
    why: `it is the maximum age of async events, which Lambda allows from 60 s, and the orchestrator's ${ORCHESTRATOR_TIMEOUT_SECONDS} s timeout must outlive it`,
  },
  estimateWaitSeconds: {
    min: 1,
    max: API_GATEWAY_TIMEOUT_SECONDS - 1,
    why: `below API Gateway's ${API_GATEWAY_TIMEOUT_SECONDS} s timeout`,
  },
  apiThrottlingRateLimit: { min: 1, max: Number.MAX_SAFE_INTEGER },
  apiThrottlingBurstLimit: { min: 1, max: Number.MAX_SAFE_INTEGER },
  stallSeconds: V.stallSeconds,
  taskRestarts: V.taskRestarts,
  pollIntervalMs: { min: 100, max: 10_000, why: 'each poll is a consistent Query of the whole job' },
  reportIntervalMs: { min: 100, max: samplerConfig.variables.reportIntervalMs.max, why: 'each report is an invocation and a write' },
  jobTtlDays: { min: 1, max: V.jobTtlDays.max, why: "items must outlive their job's run" },
};

/**
 * How much longer than the report interval a running sampler may stay silent before it is taken
 * for a lost one: its cold start, and a report's round trip through a busy progress function.
 */
const STALL_MARGIN_SECONDS = 10;

/** Checks the limits at synth time, so a bad value fails `cdk synth`, not a job. */
export function resolveLimits(props: PiLimitProps = {}): PiLimits {
  const limits = Object.fromEntries(
    (Object.keys(DEFAULT_LIMITS) as (keyof PiLimits)[]).map((name) => [name, props[name] ?? DEFAULT_LIMITS[name]]),
  ) as PiLimits;
  for (const [name, value] of Object.entries(limits) as [keyof PiLimits, number][]) {
    const range = RANGES[name];
    if (!isInRange(value, range)) {
      throw new Error(`PiStack: ${name} must be ${describeRange(range)}${range.why ? ` (${range.why})` : ''}, got ${value}`);
    }
  }
  const maxPerTaskForTimeout = SLOWEST_SAMPLES_PER_SECOND * SAMPLER_TIMEOUT_SECONDS;
  if (limits.maxSamplesPerTask > maxPerTaskForTimeout) {
    throw new Error(
      `PiStack: maxSamplesPerTask (${limits.maxSamplesPerTask}) cannot finish within the sampler's ` +
        `${SAMPLER_TIMEOUT_SECONDS} s timeout at ${SLOWEST_SAMPLES_PER_SECOND} samples/s; ` +
        `use at most ${maxPerTaskForTimeout}`,
    );
  }
  if (limits.maxTasks * limits.maxSamplesPerTask < limits.maxSamples) {
    throw new Error(
      `PiStack: maxSamples (${limits.maxSamples}) is unreachable: maxTasks × maxSamplesPerTask is only ` +
        `${limits.maxTasks * limits.maxSamplesPerTask}`,
    );
  }
  const stallMs = limits.stallSeconds * 1000;
  if (stallMs < limits.reportIntervalMs + STALL_MARGIN_SECONDS * 1000) {
    throw new Error(
      `PiStack: stallSeconds (${limits.stallSeconds}) must exceed reportIntervalMs (${limits.reportIntervalMs}) by at least ` +
        `${STALL_MARGIN_SECONDS} s, or a sampler that is starting or reporting would be taken for a lost one`,
    );
  }
  if (stallMs < 3 * limits.pollIntervalMs) {
    throw new Error(
      `PiStack: stallSeconds (${limits.stallSeconds}) must span at least three polls (pollIntervalMs ${limits.pollIntervalMs}): ` +
        `a job's run writes its heartbeat at most once a poll, and a reader that sees none for stallSeconds starts another run`,
    );
  }
  if (limits.stallSeconds >= limits.jobTimeoutSeconds) {
    throw new Error(
      `PiStack: stallSeconds (${limits.stallSeconds}) must be below jobTimeoutSeconds (${limits.jobTimeoutSeconds}), ` +
        `or a silent task could never be started again before its job's deadline`,
    );
  }
  return limits;
}
