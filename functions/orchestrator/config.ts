import { functionConfig, intVariable, lambdaVariable, stringVariable } from '../shared/env.js';
// Task sort keys have four digits: a job has at most MAX_TASKS_PER_JOB tasks (the stack allows no more either).
import { MAX_TASKS_PER_JOB } from '../shared/store/items.js';

/** Every variable the orchestrator reads: its field, its name and the values it accepts. */
const VARIABLES = {
  tableName: stringVariable('TABLE_NAME'),
  samplerFunctionName: stringVariable('SAMPLER_FUNCTION_NAME'),
  maxTasks: intVariable('MAX_TASKS', 1, MAX_TASKS_PER_JOB),
  maxSamples: intVariable('MAX_SAMPLES', 1, Number.MAX_SAFE_INTEGER),
  maxSamplesPerTask: intVariable('MAX_SAMPLES_PER_TASK', 1, Number.MAX_SAFE_INTEGER),
  /** Below Lambda's 900 s maximum: the run that watches a job must outlive it. */
  jobTimeoutSeconds: intVariable('JOB_TIMEOUT_SECONDS', 1, 899),
  /** Below API Gateway's 29 s integration timeout. */
  estimateWaitSeconds: intVariable('ESTIMATE_WAIT_SECONDS', 1, 28),
  /** Sampler invocations all running jobs may have at once (each job runs its share); at least 1. */
  samplerConcurrency: intVariable('SAMPLER_CONCURRENCY', 1, 100_000),
  /** The samplers' least report interval (0: at every block boundary, for tests); a big job's is longer. */
  reportIntervalMs: intVariable('REPORT_INTERVAL_MS', 0, 60_000),
  /** The sampler's maximum event age (Lambda's EventInvokeConfig): an event not run by then is discarded. */
  samplerMaxEventAgeSeconds: intVariable('SAMPLER_MAX_EVENT_AGE_SECONDS', 1, 21_600),
  /** RUNNING jobs at most, in the stack and per IAM principal. */
  maxRunningJobs: intVariable('MAX_RUNNING_JOBS', 1, 10_000),
  maxRunningJobsPerCaller: intVariable('MAX_RUNNING_JOBS_PER_CALLER', 1, 10_000),
  /** DynamoDB's per-partition write limit, which a job's budget is cut from: AWS's 1,000, less in scaled-down local runs. */
  partitionWriteUnitsPerSecond: intVariable('PARTITION_WRITE_UNITS_PER_SECOND', 1, 1_000),
  pollIntervalMs: intVariable('POLL_INTERVAL_MS', 1, 60_000),
  /** How often a task may be started again after it failed or went silent. */
  taskRestarts: intVariable('TASK_RESTARTS', 0, 10),
  /** A task (or a job's run) silent this long is started again. */
  stallSeconds: intVariable('STALL_SECONDS', 1, 899),
  /** Items expire this many days after their job was created (0: at once, for tests). */
  jobTtlDays: intVariable('JOB_TTL_DAYS', 0, 365),
  /** Its own name, for the asynchronous run of a job; set by Lambda. */
  functionName: lambdaVariable('AWS_LAMBDA_FUNCTION_NAME'),
} as const;

export const orchestratorConfig = functionConfig(VARIABLES);
/** Field → environment variable name, e.g. `ORCHESTRATOR_ENV.stallSeconds`. */
export const ORCHESTRATOR_ENV = orchestratorConfig.names;
export type OrchestratorConfig = ReturnType<typeof orchestratorConfig.read>;
