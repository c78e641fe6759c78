// Logs, metrics and traces of every function, through Powertools for AWS Lambda (without Middy):
// JSON log lines carrying the job they belong to, CloudWatch metrics in EMF with the service as
// their only dimension, and X-Ray subsegments annotated with the job id.
import type { Context } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { JobStatus, ReportAnswer } from './job.js';
import { METRICS, METRICS_NAMESPACE, POWERTOOLS_ENV, SERVICE_NAMES } from './telemetry.js';

export type ServiceName = (typeof SERVICE_NAMES)[keyof typeof SERVICE_NAMES];

/**
 * The execution environment's tracer: the SDK clients are captured with it. It traces only in
 * Lambda with active tracing; it is off under `sam local` and the local cloud (AWS_SAM_LOCAL), and
 * with POWERTOOLS_TRACE_ENABLED=false. The SDK clients are traced, not every HTTPS request.
 */
export const tracer = new Tracer({ captureHTTPsRequests: false });

/** What ties a log line and a trace to one job: appended to every line while an invocation works for it. */
export interface JobKeys {
  jobId?: string;
  taskId?: number;
  /** The sampler run's number within its task (1 for the first run, more for restarts). */
  invocation?: number;
}

export interface Observability {
  logger: Logger;
  metrics: Metrics;
  /**
   * Runs one invocation: the Lambda context and `keys` on every log line, a `## handler` subsegment
   * annotated with the job id, and the metrics published at the end, also when `run` throws. The
   * keys are removed afterwards, so a warm environment's next invocation never carries them.
   */
  invocation<T>(context: Context, keys: JobKeys, run: () => Promise<T>): Promise<T>;
  /** Adds keys learned during the invocation (the job a POST /jobs created). */
  tagJob(keys: JobKeys): void;
}

/** Defined keys only: an absent task id is left out, not logged as null. */
const definedKeys = (keys: JobKeys): Record<string, string | number> =>
  Object.fromEntries(Object.entries(keys).filter(([, value]) => value !== undefined)) as Record<string, string | number>;

/** The logger and metrics of one function; the service name is POWERTOOLS_SERVICE_NAME's, else `service`. */
export function observability(service: ServiceName): Observability {
  const serviceName = process.env[POWERTOOLS_ENV.serviceName] || service;
  // Level from POWERTOOLS_LOG_LEVEL (Powertools reads it; INFO when unset).
  const logger = new Logger({ serviceName });
  // The namespace is the one the dashboard reads; `service` is the only dimension.
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName });

  const tagJob = (keys: JobKeys): void => {
    logger.appendKeys(definedKeys(keys));
    if (keys.jobId !== undefined) tracer.putAnnotation('jobId', keys.jobId);
  };

  const invocation = async <T>(context: Context, keys: JobKeys, run: () => Promise<T>): Promise<T> => {
    logger.addContext(context);
    // The Lambda facade segment cannot take annotations: annotate a handler subsegment instead.
    const segment = tracer.getSegment();
    const subsegment = segment?.addNewSubsegment(`## ${process.env._HANDLER ?? 'handler'}`);
    if (subsegment) tracer.setSegment(subsegment);
    tracer.annotateColdStart();
    tagJob(keys);
    try {
      return await run();
    } catch (error) {
      tracer.addErrorAsMetadata(error as Error);
      logger.error('invocation failed', error as Error);
      throw error;
    } finally {
      subsegment?.close();
      if (segment) tracer.setSegment(segment);
      // An invocation that counted nothing writes no EMF blob (and no Powertools warning about it).
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };

  return { logger, metrics, invocation, tagJob };
}

/** One of the orchestrator's job events (see `JobDeps.observe`). */
export type JobEvent =
  | { kind: 'submitted' }
  | { kind: 'finished'; status: JobStatus; durationMs: number }
  | { kind: 'taskStarted'; restart: boolean }
  | { kind: 'requestFailed'; error: unknown }
  | { kind: 'usageNotRecorded'; error: unknown };

const OUTCOME_METRICS: Record<Exclude<JobStatus, 'RUNNING'>, string> = {
  SUCCEEDED: METRICS.orchestrator.jobsSucceeded,
  FAILED: METRICS.orchestrator.jobsFailed,
  CANCELLED: METRICS.orchestrator.jobsCancelled,
};

/** The orchestrator's metrics (and its log line for a failed request) of one job event. */
export function recordJobEvent({ logger, metrics }: Observability, event: JobEvent): void {
  switch (event.kind) {
    case 'submitted':
      metrics.addMetric(METRICS.orchestrator.jobsSubmitted, MetricUnit.Count, 1);
      break;
    case 'finished':
      if (event.status === 'RUNNING') return;
      metrics.addMetric(OUTCOME_METRICS[event.status], MetricUnit.Count, 1);
      metrics.addMetric(METRICS.orchestrator.jobDuration, MetricUnit.Milliseconds, event.durationMs);
      logger.info('job finished', { status: event.status, durationMs: event.durationMs });
      break;
    case 'taskStarted':
      metrics.addMetric(event.restart ? METRICS.orchestrator.tasksRestarted : METRICS.orchestrator.tasksStarted, MetricUnit.Count, 1);
      break;
    case 'requestFailed':
      logger.error('request failed', event.error as Error);
      break;
    case 'usageNotRecorded':
      logger.warn('usage not recorded', { error: String(event.error) });
      break;
  }
}

/** A refused submit (429 TooManyJobs): the API's answer says so. */
export function recordJobRefused({ metrics }: Observability): void {
  metrics.addMetric(METRICS.orchestrator.jobsRefused, MetricUnit.Count, 1);
}

/**
 * A progress report's metric: accepted when the task now stands where the report says (it moved the
 * task forward, or repeated the move a retry already made), refused otherwise (stale, late, or the
 * task stopped). A report of nothing (done 0) is a run asking where its task stands, counted as neither.
 */
export function recordReport({ metrics }: Observability, report: { done: number }, answer: ReportAnswer): void {
  if (report.done === 0) return;
  const accepted = answer.done === report.done && !answer.cancelled;
  metrics.addMetric(accepted ? METRICS.progress.reportsAccepted : METRICS.progress.reportsRefused, MetricUnit.Count, 1);
}

/** A sampler run Lambda gave up on (a record from the sampler's on-failure destination). */
export function recordSamplerRunLost({ metrics }: Observability): void {
  metrics.addMetric(METRICS.progress.samplerRunsLost, MetricUnit.Count, 1);
}

/**
 * The samples a sampler invocation added (accepted by the store), and its rate over the invocation:
 * a run that added none (its task was already done, or stopped) has no rate to average in.
 */
export function recordSamples({ metrics }: Observability, samples: number, elapsedMs: number): void {
  metrics.addMetric(METRICS.sampler.samplesDone, MetricUnit.Count, samples);
  if (samples > 0 && elapsedMs > 0) metrics.addMetric(METRICS.sampler.samplerThroughput, MetricUnit.CountPerSecond, (samples * 1000) / elapsedMs);
}
