import { boundFailure, type ProgressReport, type ReportAnswer, type SamplerEvent } from '../shared/job.js';
import type { JobStore } from '../shared/store/port.js';

/** The record Lambda sends to an on-failure destination (AWS docs: "Capturing records of asynchronous invocations"). */
export interface LambdaDestinationRecord<Payload> {
  version: string;
  timestamp: string;
  requestContext: { requestId: string; functionArn: string; condition: string; approximateInvokeCount: number };
  requestPayload: Payload;
  responseContext?: { statusCode: number; executedVersion: string; functionError?: string };
  responsePayload?: unknown;
}

export type ProgressEvent = ProgressReport | LambdaDestinationRecord<SamplerEvent>;

const isDestinationRecord = (event: ProgressEvent): event is LambdaDestinationRecord<SamplerEvent> =>
  'requestContext' in event && 'requestPayload' in event;

function checkReport(event: unknown): ProgressReport {
  const report = event as Partial<ProgressReport>;
  const count = (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  if (
    typeof report?.jobId !== 'string' ||
    !count(report.taskId) ||
    !count(report.done) ||
    !count(report.inside) ||
    report.inside! > report.done!
  ) {
    throw new TypeError(`not a progress report: ${JSON.stringify(event)?.slice(0, 200)}`);
  }
  return { jobId: report.jobId, taskId: report.taskId!, done: report.done!, inside: report.inside! };
}

/**
 * Applies a sampler's report, or records a sampler run that Lambda gave up on (the sampler's
 * on-failure destination) so the task shows as failed instead of silently missing.
 */
export async function applyProgressEvent(event: ProgressEvent, store: JobStore, now: number): Promise<ReportAnswer | { recorded: true }> {
  if (isDestinationRecord(event)) {
    const { jobId, taskId, invocation } = event.requestPayload;
    if (typeof jobId !== 'string' || !Number.isSafeInteger(taskId) || !Number.isSafeInteger(invocation)) {
      throw new TypeError(`not a sampler event: ${JSON.stringify(event.requestPayload)?.slice(0, 200)}`);
    }
    const response = event.responsePayload as { errorType?: string; errorMessage?: string } | null | undefined;
    const why = response?.errorMessage ? `${response.errorType ?? 'Error'}: ${response.errorMessage}` : 'no response';
    const failure = `sampler gave up (${event.requestContext.condition}, ${event.requestContext.approximateInvokeCount} attempt(s)): ${why}`;
    await store.recordTaskFailure(jobId, taskId, invocation, boundFailure(failure), now);
    return { recorded: true };
  }
  const report = checkReport(event);
  const answer = await store.applyReport(report, now);
  if (report.done === 0 && !answer.cancelled) {
    // A run's first report (asking where its task stands): a task started after its job ended (claimed
    // by a run just as the job was cancelled or failed) has no stopped item to tell it; the header does.
    const header = await store.loadHeader(report.jobId);
    if (header?.status !== 'RUNNING' || header.cancelRequestedAt !== undefined) return { ...answer, cancelled: true };
  }
  return answer;
}
