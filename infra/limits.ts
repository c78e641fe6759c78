// The stack's limits: the properties a deployment may choose, their defaults, and the checks that
// make a bad value fail `cdk synth` instead of a job.

import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { orchestratorConfig } from '../functions/orchestrator/config.js';
import { samplerConfig } from '../functions/sampler/config.js';
import { describeRange, isInRange } from '../functions/shared/env.js';
import { reportIntervalFor, RUN_START_MARGIN_MS } from '../functions/shared/job.js';

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
   * Sampler invocations all running jobs together start at most at once: a job running alone may use
   * all of them, several running jobs share them equally. Each is one unit of the account's Lambda
   * concurrency (1,769 MB, one vCPU), and a task's progress reports take a little of the progress
   * function's. Keep it within the account's unreserved concurrency, with room for the API.
   * @default 100
   */
  readonly maxConcurrentSamplers?: number;
  /**
   * Reserved concurrency of the sampler, if any: guarantees the samplers their concurrency and caps
   * them there. Lambda keeps it out of the account's unreserved pool, which must keep at least 100
   * (so an account whose limit is 10 cannot reserve any). At least `maxConcurrentSamplers`.
   * @default no reservation
   */
  readonly samplerReservedConcurrency?: number;
  /**
   * Jobs RUNNING at once in the stack. Past it `POST /jobs` and `POST /estimate` answer 429
   * TooManyJobs with Retry-After. Each running job holds one orchestrator invocation (512 MB) for
   * its whole life, and its share of `maxConcurrentSamplers`.
   * @default 10
   */
  readonly maxRunningJobs?: number;
  /**
   * Jobs RUNNING at once per caller (IAM principal), at most `maxRunningJobs`.
   * @default 5
   */
  readonly maxRunningJobsPerCaller?: number;
  /**
   * Maximum age of a sampler's async event: one still waiting in Lambda's queue (the account out of
   * concurrency) after this long is discarded, its task recorded as failed and started again. A
   * task never heard from for this long plus `stallSeconds` (its event lost) is started again too;
   * a task that is only waiting is not. From 60 s (Lambda's least); at or above `jobTimeoutSeconds`, a lost
   * event fails its job at the deadline.
   * @default 120
   */
  readonly samplerMaxEventAgeSeconds?: number;
  /**
   * A job that has not finished this many seconds after it was created fails. Also the maximum
   * age of the orchestrator's async events (its runs): an event older than its job is dropped. Must be at least
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
   * A running task (one that has reported) with no accepted report for this long (its run dead
   * without a retry) is started again, at most `taskRestarts` times; a job's run silent this long is
   * started again by the next `GET`. Must exceed the longest report interval by 10 s, span three
   * polls, and stay below the job timeout.
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

/** Log levels a deployment may choose for its functions (Powertools Logger's names). */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'INFO';

/** How the stack reports on itself: its functions' log level and where its alarms go. */
export interface PiObservabilityProps {
  /**
   * Least level of the functions' log lines (`POWERTOOLS_LOG_LEVEL`): DEBUG, INFO, WARN or ERROR.
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;
  /**
   * Topic every alarm of the stack notifies when it goes to ALARM. Without it the alarms only
   * change state (on the dashboard and in the console), and the stack creates no SNS resource.
   * @default no notification
   */
  readonly alarmTopic?: ITopic;
}

/** Checks the log level at synth time (it may come from the CDK context, untyped). */
export function resolveLogLevel(value: unknown = DEFAULT_LOG_LEVEL): LogLevel {
  if (!LOG_LEVELS.includes(value as LogLevel)) {
    throw new Error(`PiStack: logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as LogLevel;
}

/** Limits that have no default value: absent means "none". */
type OptionalLimit = 'samplerReservedConcurrency';

/** Resolved limits, as the functions receive them. */
export type PiLimits = { readonly [K in Exclude<keyof PiLimitProps, OptionalLimit>]-?: number } & {
  readonly [K in OptionalLimit]: number | undefined;
};

export const DEFAULT_LIMITS: PiLimits = {
  maxTasks: 1000,
  maxSamples: 1e12,
  maxSamplesPerTask: 1e10,
  maxConcurrentSamplers: 100,
  samplerReservedConcurrency: undefined,
  maxRunningJobs: 10,
  maxRunningJobsPerCaller: 5,
  samplerMaxEventAgeSeconds: 120,
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
  maxConcurrentSamplers: V.samplerConcurrency,
  samplerReservedConcurrency: V.samplerConcurrency,
  maxRunningJobs: {
    min: 1,
    max: 100,
    why: 'the running jobs are one item, about 130 bytes each, that every admission writes and every run reads',
  },
  maxRunningJobsPerCaller: V.maxRunningJobsPerCaller,
  samplerMaxEventAgeSeconds: { ...V.samplerMaxEventAgeSeconds, min: 60, why: 'Lambda allows maximum event ages from 60 s' },
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

/** How much longer than the report interval a running sampler may stay silent (see RUN_START_MARGIN_MS). */
const STALL_MARGIN_SECONDS = RUN_START_MARGIN_MS / 1000;

/** Checks the limits at synth time, so a bad value fails `cdk synth`, not a job. */
export function resolveLimits(props: PiLimitProps = {}): PiLimits {
  const limits = Object.fromEntries(
    (Object.keys(DEFAULT_LIMITS) as (keyof PiLimits)[]).map((name) => [name, props[name] ?? DEFAULT_LIMITS[name]]),
  ) as PiLimits;
  for (const [name, value] of Object.entries(limits) as [keyof PiLimits, number | undefined][]) {
    const range = RANGES[name];
    if (value === undefined && name === 'samplerReservedConcurrency') continue;
    if (value === undefined || !isInRange(value, range)) {
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
  if (limits.samplerReservedConcurrency !== undefined && limits.samplerReservedConcurrency < limits.maxConcurrentSamplers) {
    throw new Error(
      `PiStack: samplerReservedConcurrency (${limits.samplerReservedConcurrency}) must be at least maxConcurrentSamplers ` +
        `(${limits.maxConcurrentSamplers}), or tasks would wait in Lambda's throttle queue`,
    );
  }
  if (limits.maxRunningJobsPerCaller > limits.maxRunningJobs) {
    throw new Error(`PiStack: maxRunningJobsPerCaller (${limits.maxRunningJobsPerCaller}) must be at most maxRunningJobs (${limits.maxRunningJobs})`);
  }
  const stallMs = limits.stallSeconds * 1000;
  // A job running alone with every sampler reports least often: its interval is the longest.
  const longestReportIntervalMs = reportIntervalFor(limits.maxConcurrentSamplers, limits.reportIntervalMs);
  if (stallMs < longestReportIntervalMs + STALL_MARGIN_SECONDS * 1000) {
    throw new Error(
      `PiStack: stallSeconds (${limits.stallSeconds}) must exceed the longest report interval (${longestReportIntervalMs} ms, from ` +
        `reportIntervalMs and maxConcurrentSamplers) by at least ${STALL_MARGIN_SECONDS} s, or a sampler that is reporting would be taken for a lost one`,
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
