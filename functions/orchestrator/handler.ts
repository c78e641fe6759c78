import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { documentClient } from '../shared/clients/dynamodb.js';
import { invokeAsync } from '../shared/clients/lambda.js';
import { DynamoDbJobStore } from '../shared/store/dynamodb.js';
import { SandboxMeter } from '../shared/usage-meter.js';
import { handleApiEvent, type ApiDeps } from './api.js';
import { orchestratorConfig } from './config.js';
import { runJob } from './jobs.js';

/** The orchestrator's own async invocation: fan out and poll one job. */
export interface RunEvent {
  kind: 'run';
  jobId: string;
}

const config = orchestratorConfig.read();

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
};

const isRunEvent = (event: unknown): event is RunEvent =>
  typeof event === 'object' && event !== null && (event as RunEvent).kind === 'run' && typeof (event as RunEvent).jobId === 'string';

export async function handler(event: APIGatewayProxyEvent | RunEvent, context: Context): Promise<APIGatewayProxyResult | void> {
  // Each invocation's usage is recorded on its job (see JobDeps.meter).
  const meter = usage.start();
  try {
    if (isRunEvent(event)) {
      const view = await runJob(event.jobId, { ...deps, meter }, () => context.getRemainingTimeInMillis());
      console.log(JSON.stringify({ message: 'run ended', jobId: view.jobId, status: view.status, done: view.done }));
      return;
    }
    return await handleApiEvent(event, { ...deps, meter });
  } finally {
    meter.end();
  }
}

// Last: its creation time is the sandbox's init duration.
const usage = new SandboxMeter({ function: 'orchestrator' });
