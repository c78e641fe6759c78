import type { Context } from 'aws-lambda';
import { invokeSync } from '../shared/clients/lambda.js';
import type { ReportAnswer, SamplerEvent } from '../shared/job.js';
import { kernel } from '../shared/kernel/index.js';
import { SandboxMeter } from '../shared/usage-meter.js';
import { samplerConfig } from './config.js';
import { runTask, type TaskResult } from './task.js';

const config = samplerConfig.read();

export async function handler(event: SamplerEvent, context: Context): Promise<TaskResult> {
  const meter = usage.start();
  const result = await runTask(event, {
    kernel,
    report: (report) => invokeSync<ReportAnswer>(config.progressFunctionName, report),
    now: Date.now,
    // The orchestrator lengthens the interval for a job with many tasks at once (its write budget).
    reportIntervalMs: event.reportIntervalMs ?? config.reportIntervalMs,
    remainingMs: () => context.getRemainingTimeInMillis(),
    meter,
  }).finally(() => meter.end());
  console.log(JSON.stringify({ message: 'task ended', kernel: kernel.name, ...result }));
  return result;
}

// Last: its creation time is the sandbox's init duration.
const usage = new SandboxMeter({ function: 'sampler' });
