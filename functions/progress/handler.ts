import type { Context } from 'aws-lambda';
import { documentClient } from '../shared/clients/dynamodb.js';
import type { ProgressReport, ReportAnswer, SamplerEvent } from '../shared/job.js';
import { observability, recordReport, recordSamplerRunLost, type JobKeys } from '../shared/observability.js';
import { DynamoDbJobStore } from '../shared/store/dynamodb.js';
import { SERVICE_NAMES } from '../shared/telemetry.js';
import { SandboxMeter } from '../shared/usage-meter.js';
import { applyProgressEvent, type ProgressEvent } from './apply.js';
import { progressConfig } from './config.js';

const config = progressConfig.read();
const store = new DynamoDbJobStore(documentClient, config.tableName, { onConsumed: (units) => usage.consumed(units) });
const obs = observability(SERVICE_NAMES.progress);

/** The task a report is about, or the sampler run a failure record names. */
const jobKeysOf = (event: ProgressEvent): JobKeys => {
  const about: Partial<SamplerEvent> | null = event !== null && typeof event === 'object' && 'requestPayload' in event ? event.requestPayload : event;
  if (about === null || typeof about !== 'object') return {};
  return { jobId: about.jobId, taskId: about.taskId, invocation: about.invocation };
};

export async function handler(event: ProgressEvent, context: Context): Promise<ReportAnswer | { recorded: true }> {
  // The meter spans the whole invocation (see the orchestrator's handler).
  const meter = usage.start();
  const keys = jobKeysOf(event);
  if (typeof keys.jobId === 'string') meter.forJob(keys.jobId);
  try {
    return await obs.invocation(context, keys, async () => {
      const answer = await applyProgressEvent(event, store, Date.now(), meter);
      if ('recorded' in answer) {
        recordSamplerRunLost(obs);
        obs.logger.warn('sampler run lost', { condition: 'requestContext' in event ? event.requestContext.condition : undefined });
      } else {
        recordReport(obs, event as ProgressReport, answer);
        obs.logger.debug('report answered', { reported: (event as ProgressReport).done, ...answer });
      }
      return answer;
    });
  } finally {
    meter.end();
  }
}

// Last: its creation time is the sandbox's init duration.
const usage = new SandboxMeter({ function: 'progress' });
