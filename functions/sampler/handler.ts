import type { Context } from 'aws-lambda';
import { invokeSync } from '../shared/clients/lambda.js';
import { getIntFromEnv, getStringFromEnv } from '../shared/env.js';
import type { ReportAnswer, SamplerEvent } from '../shared/job.js';
import { kernel } from '../shared/kernel/index.js';
import { runTask, type TaskResult } from './task.js';

const progressFunction = getStringFromEnv('PROGRESS_FUNCTION_NAME');
const reportIntervalMs = getIntFromEnv('REPORT_INTERVAL_MS', 1000);

export async function handler(event: SamplerEvent, context: Context): Promise<TaskResult> {
  const result = await runTask(event, {
    kernel,
    report: (report) => invokeSync<ReportAnswer>(progressFunction, report),
    now: Date.now,
    reportIntervalMs,
    remainingMs: () => context.getRemainingTimeInMillis(),
  });
  console.log(JSON.stringify({ message: 'task ended', kernel: kernel.name, ...result }));
  return result;
}
