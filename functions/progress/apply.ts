import { emptyUsage, type FunctionUsage, type JobUsage } from '../shared/cost.js';
import { boundFailure, type ProgressReport, type ReportAnswer, type SamplerEvent } from '../shared/job.js';
import type { JobStore } from '../shared/store/port.js';
import { fixedSource, type InvocationMeter, type UsageSource } from '../shared/usage-meter.js';

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

const isUsage = (value: unknown): value is FunctionUsage => {
  const usage = value as Partial<FunctionUsage> | null;
  const amount = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  return typeof usage === 'object' && usage !== null && amount(usage.requests) && amount(usage.billedMs) && amount(usage.mbMs);
};

function checkReport(event: unknown): ProgressReport {
  const report = event as Partial<ProgressReport>;
  const count = (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  if (
    typeof report?.jobId !== 'string' ||
    !count(report.taskId) ||
    !count(report.done) ||
    !count(report.inside) ||
    report.inside! > report.done! ||
    (report.usage !== undefined && !isUsage(report.usage))
  ) {
    throw new TypeError(`not a progress report: ${JSON.stringify(event)?.slice(0, 200)}`);
  }
  const { requests, billedMs, mbMs } = report.usage ?? {};
  return {
    jobId: report.jobId,
    taskId: report.taskId!,
    done: report.done!,
    inside: report.inside!,
    ...(report.usage && { usage: { requests: requests!, billedMs: billedMs!, mbMs: mbMs! } }),
  };
}

/** What a report's write records: the sampler's usage it carries and this invocation's own. */
function reportUsage(report: ProgressReport, meter: InvocationMeter | undefined): UsageSource | undefined {
  let sampler: JobUsage | undefined;
  if (report.usage) {
    sampler = emptyUsage();
    sampler.functions.sampler = { ...report.usage };
  }
  if (meter) return meter.source({ kind: 'report' }, sampler);
  return sampler && fixedSource(sampler);
}

/**
 * Applies a sampler's report, or records a sampler run that Lambda gave up on (the sampler's
 * on-failure destination) so the task shows as failed instead of silently missing. With a meter, the
 * write records this invocation's usage (and the report's) on the task.
 */
export async function applyProgressEvent(
  event: ProgressEvent,
  store: JobStore,
  now: number,
  meter?: InvocationMeter,
): Promise<ReportAnswer | { recorded: true }> {
  if (isDestinationRecord(event)) {
    const { jobId, taskId, invocation } = event.requestPayload;
    if (typeof jobId !== 'string' || !Number.isSafeInteger(taskId) || !Number.isSafeInteger(invocation)) {
      throw new TypeError(`not a sampler event: ${JSON.stringify(event.requestPayload)?.slice(0, 200)}`);
    }
    const response = event.responsePayload as { errorType?: string; errorMessage?: string } | null | undefined;
    const why = response?.errorMessage ? `${response.errorType ?? 'Error'}: ${response.errorMessage}` : 'no response';
    const failure = `sampler gave up (${event.requestContext.condition}, ${event.requestContext.approximateInvokeCount} attempt(s)): ${why}`;
    await store.recordTaskFailure(jobId, taskId, invocation, boundFailure(failure), now, meter?.source({ kind: 'failure' }));
    return { recorded: true };
  }
  const report = checkReport(event);
  // A run's first report (asking where its task stands): a task started after its job ended (claimed
  // by a run just as the job was cancelled or failed) has no stopped item to tell it; the header does.
  // It is read first, so that its read units are known when the report's write records them.
  const header = report.done === 0 ? await store.loadHeader(report.jobId) : undefined;
  const answer = await store.applyReport(report, now, reportUsage(report, meter));
  if (report.done === 0 && !answer.cancelled) {
    const stopped = header === undefined || header.status === 'CANCELLED' || header.status === 'FAILED' || header.cancelRequestedAt !== undefined;
    if (stopped) return { ...answer, cancelled: true };
  }
  return answer;
}
