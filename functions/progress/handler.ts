import { documentClient } from '../shared/clients/dynamodb.js';
import { getStringFromEnv } from '../shared/env.js';
import type { ReportAnswer } from '../shared/job.js';
import { DynamoDbJobStore } from '../shared/store/dynamodb.js';
import { applyProgressEvent, type ProgressEvent } from './apply.js';

const store = new DynamoDbJobStore(documentClient, getStringFromEnv('TABLE_NAME'));

export async function handler(event: ProgressEvent): Promise<ReportAnswer | { recorded: true }> {
  return applyProgressEvent(event, store, Date.now());
}
