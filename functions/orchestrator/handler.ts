import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { documentClient } from '../shared/clients/dynamodb.js';
import { invokeAsync } from '../shared/clients/lambda.js';
import { DynamoDbJobStore } from '../shared/store/dynamodb.js';
import { observability, recordJobEvent, recordJobRefused, type JobKeys } from '../shared/observability.js';
import { SERVICE_NAMES } from '../shared/telemetry.js';
import { parseJobId } from '../shared/validation.js';
import { SandboxMeter, type InvocationMeter } from '../shared/usage-meter.js';
import { handleApiEvent, type ApiDeps } from './api.js';
import { orchestratorConfig } from './config.js';
import { runJob } from './jobs.js';

/** The orchestrator's own async invocation: fan out and poll one job. */
export interface RunEvent {
  kind: 'run';
  jobId: string;
}

const config = orchestratorConfig.read();
const obs = observability(SERVICE_NAMES.orchestrator);

const deps: ApiDeps = {
  store: new DynamoDbJobStore(documentClient, config.tableName, { onConsumed: (units) => usage.consumed(units) }),
  startSampler: (event) => invokeAsync(config.samplerFunctionName, event),
  startRun: (jobId) => invokeAsync(config.functionName, { kind: 'run', jobId } satisfies RunEvent),
  now: Date.now,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  jobTimeoutMs: config.jobTimeoutSeconds * 1000,
  ttlSeconds: config.jobTtlDays * 86_400,
  pollIntervalMs: config.pollIntervalMs,
  taskRestarts: config.taskRestarts,
  stallMs: config.stallSeconds * 1000,
  // Lambda runs or discards an event within its maximum age; past that, silence is silence.
  unheardMs: (config.samplerMaxEventAgeSeconds + config.stallSeconds) * 1000,
  samplerConcurrency: config.samplerConcurrency,
  reportIntervalMs: config.reportIntervalMs,
  maxRunningJobs: config.maxRunningJobs,
  maxRunningJobsPerCaller: config.maxRunningJobsPerCaller,
  partitionWriteUnitsPerSecond: config.partitionWriteUnitsPerSecond,
  estimateWaitMs: config.estimateWaitSeconds * 1000,
  limits: {
    maxTasks: config.maxTasks,
    maxSamples: config.maxSamples,
    maxSamplesPerTask: config.maxSamplesPerTask,
  },
  observe: (event) => recordJobEvent(obs, event),
};

const isRunEvent = (event: unknown): event is RunEvent =>
  typeof event === 'object' && event !== null && (event as RunEvent).kind === 'run' && typeof (event as RunEvent).jobId === 'string';

/** The job an event names: a run's, or the one in the request's path (when it is a job id at all: the path is the caller's text). */
function jobKeysOf(event: APIGatewayProxyEvent | RunEvent): JobKeys {
  if (isRunEvent(event)) return { jobId: event.jobId };
  try {
    return { jobId: parseJobId(event.pathParameters?.id) };
  } catch {
    return {};
  }
}

export async function handler(event: APIGatewayProxyEvent | RunEvent, context: Context): Promise<APIGatewayProxyResult | void> {
  // Each invocation's usage is recorded on its job (see JobDeps.meter); the meter spans the whole
  // invocation, so what the sandbox learns of an invocation's tail includes publishing its metrics.
  const meter = usage.start();
  const keys = jobKeysOf(event);
  if (keys.jobId !== undefined) meter.forJob(keys.jobId);
  try {
    return await obs.invocation(context, keys, async () => {
      if (isRunEvent(event)) {
        const view = await runJob(event.jobId, { ...deps, meter }, () => context.getRemainingTimeInMillis());
        obs.logger.info('run ended', { status: view.status, done: view.done });
        return;
      }
      const response = await handleApiEvent(event, { ...deps, meter });
      observeResponse(event, response, meter);
      return response;
    });
  } finally {
    meter.end();
  }
}

/** A created job's id goes on the rest of the invocation's lines; a 429 is a refused job. */
function observeResponse(event: APIGatewayProxyEvent, response: APIGatewayProxyResult, meter: InvocationMeter): void {
  if (response.statusCode === 429) recordJobRefused(obs);
  const created = event.httpMethod === 'POST' && response.statusCode < 300;
  const jobId = created ? (JSON.parse(response.body) as { jobId?: unknown }).jobId : undefined;
  if (typeof jobId === 'string') {
    obs.tagJob({ jobId });
    meter.forJob(jobId);
  }
  obs.logger.info('request handled', { method: event.httpMethod, resource: event.resource, statusCode: response.statusCode });
}

// Last: its creation time is the sandbox's init duration.
const usage = new SandboxMeter({ function: 'orchestrator' });
