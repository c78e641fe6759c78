import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { documentClient } from '../shared/clients/dynamodb.js';
import { invokeAsync } from '../shared/clients/lambda.js';
import { getIntFromEnv, getStringFromEnv } from '../shared/env.js';
import { DynamoDbJobStore } from '../shared/store/dynamodb.js';
import { handleApiEvent, type ApiDeps } from './api.js';
import { runJob } from './jobs.js';

/** The orchestrator's own async invocation: fan out and poll one job. */
export interface RunEvent {
  kind: 'run';
  jobId: string;
}

const samplerFunction = getStringFromEnv('SAMPLER_FUNCTION_NAME');
const selfFunction = getStringFromEnv('AWS_LAMBDA_FUNCTION_NAME');
const samplerConcurrency = getIntFromEnv('SAMPLER_CONCURRENCY');
if (samplerConcurrency < 1) throw new Error('SAMPLER_CONCURRENCY must be at least 1: no task could ever start');

const deps: ApiDeps = {
  store: new DynamoDbJobStore(documentClient, getStringFromEnv('TABLE_NAME')),
  startSampler: (event) => invokeAsync(samplerFunction, event),
  startRun: (jobId) => invokeAsync(selfFunction, { kind: 'run', jobId } satisfies RunEvent),
  now: Date.now,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  jobTimeoutMs: getIntFromEnv('JOB_TIMEOUT_SECONDS') * 1000,
  ttlSeconds: getIntFromEnv('JOB_TTL_DAYS', 7) * 86_400,
  pollIntervalMs: getIntFromEnv('POLL_INTERVAL_MS', 1000),
  taskRestarts: getIntFromEnv('TASK_RESTARTS', 2),
  stallMs: getIntFromEnv('STALL_SECONDS', 60) * 1000,
  samplerConcurrency,
  estimateWaitMs: getIntFromEnv('ESTIMATE_WAIT_SECONDS') * 1000,
  limits: {
    maxTasks: getIntFromEnv('MAX_TASKS'),
    maxSamples: getIntFromEnv('MAX_SAMPLES'),
    maxSamplesPerTask: getIntFromEnv('MAX_SAMPLES_PER_TASK'),
  },
};

const isRunEvent = (event: unknown): event is RunEvent =>
  typeof event === 'object' && event !== null && (event as RunEvent).kind === 'run' && typeof (event as RunEvent).jobId === 'string';

export async function handler(event: APIGatewayProxyEvent | RunEvent, context: Context): Promise<APIGatewayProxyResult | void> {
  if (isRunEvent(event)) {
    const view = await runJob(event.jobId, deps, () => context.getRemainingTimeInMillis());
    console.log(JSON.stringify({ message: 'run ended', jobId: view.jobId, status: view.status, done: view.done }));
    return;
  }
  return handleApiEvent(event, deps);
}
