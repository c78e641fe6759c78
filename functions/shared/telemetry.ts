/**
 * The names operators see: the metrics namespace, each function's service name, and every metric the
 * functions publish (CloudWatch EMF through Powertools). The stack's dashboard and alarms read the
 * same names from here. Dimensions stay low-cardinality: the service only, never a job id.
 */
export const METRICS_NAMESPACE = 'MonteCarloPi';

/** POWERTOOLS_SERVICE_NAME of each function: its logs' `service` and its metrics' `service` dimension. */
export const SERVICE_NAMES = { orchestrator: 'orchestrator', sampler: 'sampler', progress: 'progress' } as const;

/** Metric names, by the function that publishes them. */
export const METRICS = {
  orchestrator: {
    jobsSubmitted: 'JobsSubmitted',
    jobsRefused: 'JobsRefused',
    jobsSucceeded: 'JobsSucceeded',
    jobsFailed: 'JobsFailed',
    jobsCancelled: 'JobsCancelled',
    /** Milliseconds from a job's creation to its outcome. */
    jobDuration: 'JobDuration',
    tasksStarted: 'TasksStarted',
    tasksRestarted: 'TasksRestarted',
  },
  progress: {
    reportsAccepted: 'ReportsAccepted',
    reportsRefused: 'ReportsRefused',
    /** Sampler runs Lambda gave up on (records from the sampler's on-failure destination). */
    samplerRunsLost: 'SamplerRunsLost',
  },
  sampler: {
    samplesDone: 'SamplesDone',
    /** Samples per second of one sampler invocation (Count/Second). */
    samplerThroughput: 'SamplerThroughput',
  },
} as const;

/** Powertools' own environment variables, written by the stack for every function. */
export const POWERTOOLS_ENV = {
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  logLevel: 'POWERTOOLS_LOG_LEVEL',
} as const;
