// The stack's limits: the properties a deployment may choose, their defaults, and the checks that
// make a bad value fail `cdk synth` instead of a job.

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
   * Largest `tasks` a job may ask for: one sampler invocation and one DynamoDB item per task.
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
}

/** Resolved limits, as the functions receive them. */
export interface PiLimits {
  readonly maxTasks: number;
  readonly maxSamples: number;
  readonly maxSamplesPerTask: number;
  readonly samplerReservedConcurrency: number;
  readonly jobTimeoutSeconds: number;
  readonly estimateWaitSeconds: number;
  readonly apiThrottlingRateLimit: number;
  readonly apiThrottlingBurstLimit: number;
}

export const DEFAULT_LIMITS: PiLimits = {
  maxTasks: 1000,
  maxSamples: 1e12,
  maxSamplesPerTask: 1e10,
  samplerReservedConcurrency: 100,
  jobTimeoutSeconds: 600,
  estimateWaitSeconds: 25,
  apiThrottlingRateLimit: 10,
  apiThrottlingBurstLimit: 20,
};

/** Checks the limits at synth time, so a bad value fails `cdk synth`, not a job. */
export function resolveLimits(props: PiLimitProps = {}): PiLimits {
  const limits: PiLimits = {
    maxTasks: props.maxTasks ?? DEFAULT_LIMITS.maxTasks,
    maxSamples: props.maxSamples ?? DEFAULT_LIMITS.maxSamples,
    maxSamplesPerTask: props.maxSamplesPerTask ?? DEFAULT_LIMITS.maxSamplesPerTask,
    samplerReservedConcurrency: props.samplerReservedConcurrency ?? DEFAULT_LIMITS.samplerReservedConcurrency,
    jobTimeoutSeconds: props.jobTimeoutSeconds ?? DEFAULT_LIMITS.jobTimeoutSeconds,
    estimateWaitSeconds: props.estimateWaitSeconds ?? DEFAULT_LIMITS.estimateWaitSeconds,
    apiThrottlingRateLimit: props.apiThrottlingRateLimit ?? DEFAULT_LIMITS.apiThrottlingRateLimit,
    apiThrottlingBurstLimit: props.apiThrottlingBurstLimit ?? DEFAULT_LIMITS.apiThrottlingBurstLimit,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`PiStack: ${name} must be a positive integer, got ${value}`);
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
  if (limits.jobTimeoutSeconds < 60 || limits.jobTimeoutSeconds >= ORCHESTRATOR_TIMEOUT_SECONDS) {
    throw new Error(
      `PiStack: jobTimeoutSeconds must be between 60 and ${ORCHESTRATOR_TIMEOUT_SECONDS - 1}, got ${limits.jobTimeoutSeconds}`,
    );
  }
  if (limits.estimateWaitSeconds >= API_GATEWAY_TIMEOUT_SECONDS) {
    throw new Error(
      `PiStack: estimateWaitSeconds must be below API Gateway's ${API_GATEWAY_TIMEOUT_SECONDS} s timeout, ` +
        `got ${limits.estimateWaitSeconds}`,
    );
  }
  return limits;
}
