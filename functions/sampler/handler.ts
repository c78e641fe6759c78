import type { Context } from 'aws-lambda';
import { invokeSync } from '../shared/clients/lambda.js';
import type { ProgressReport, ReportAnswer, SamplerEvent } from '../shared/job.js';
import { kernel } from '../shared/kernel/index.js';
import { observability, recordSamples } from '../shared/observability.js';
import { SERVICE_NAMES } from '../shared/telemetry.js';
import { SandboxMeter } from '../shared/usage-meter.js';
import { samplerConfig } from './config.js';
import { runTask, type TaskResult } from './task.js';

const config = samplerConfig.read();
const obs = observability(SERVICE_NAMES.sampler);

export async function handler(event: SamplerEvent, context: Context): Promise<TaskResult> {
  const { jobId, taskId, invocation } = event;
  // The meter spans the whole invocation (see the orchestrator's handler).
  const meter = usage.start();
  meter.forJob(jobId);
  return obs.invocation(context, { jobId, taskId, invocation }, async () => {
    const started = Date.now();
    // What the store accepted: where this run resumed from (its first answer) and where it stands.
    let resumedAt: number | undefined;
    let accepted = 0;
    const report = async (progress: ProgressReport) => {
      const answer = await invokeSync<ReportAnswer>(config.progressFunctionName, progress);
      resumedAt ??= answer.done;
      accepted = Math.max(accepted, answer.done);
      return answer;
    };
    try {
      const result = await runTask(event, {
        kernel,
        report,
        now: Date.now,
        // The orchestrator lengthens the interval for a job with many tasks at once (its write budget).
        reportIntervalMs: event.reportIntervalMs ?? config.reportIntervalMs,
        remainingMs: () => context.getRemainingTimeInMillis(),
        reportFailed: (failed, error) => obs.logger.warn('progress report failed', { done: failed.done, error: String(error) }),
        meter,
      });
      obs.logger.info('task ended', { kernel: kernel.name, done: result.done, inside: result.inside, cancelled: result.cancelled });
      return result;
    } finally {
      if (resumedAt !== undefined) recordSamples(obs, accepted - resumedAt, Date.now() - started);
    }
  }).finally(() => meter.end());
}

// Last: its creation time is the sandbox's init duration.
const usage = new SandboxMeter({ function: 'sampler' });
