import { documentClient } from '../shared/clients/dynamodb.js';
import type { ReportAnswer } from '../shared/job.js';
import { DynamoDbJobStore } from '../shared/store/dynamodb.js';
import { SandboxMeter } from '../shared/usage-meter.js';
import { applyProgressEvent, type ProgressEvent } from './apply.js';
import { progressConfig } from './config.js';

const config = progressConfig.read();
const store = new DynamoDbJobStore(documentClient, config.tableName, { onConsumed: (units) => usage.consumed(units) });

export async function handler(event: ProgressEvent): Promise<ReportAnswer | { recorded: true }> {
  const meter = usage.start();
  try {
    return await applyProgressEvent(event, store, Date.now(), meter);
  } finally {
    meter.end();
  }
}

// Last: its creation time is the sandbox's init duration.
const usage = new SandboxMeter({ function: 'progress' });
