import { documentClient } from '../shared/clients/dynamodb.js';
import type { ReportAnswer } from '../shared/job.js';
import { DynamoDbJobStore } from '../shared/store/dynamodb.js';
import { applyProgressEvent, type ProgressEvent } from './apply.js';
import { progressConfig } from './config.js';

const config = progressConfig.read();
const store = new DynamoDbJobStore(documentClient, config.tableName);

export async function handler(event: ProgressEvent): Promise<ReportAnswer | { recorded: true }> {
  return applyProgressEvent(event, store, Date.now());
}
