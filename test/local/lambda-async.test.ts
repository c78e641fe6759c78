// Asynchronous invocations: retries, destinations and queueing under reserved concurrency.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { FAILURES_QUEUE, FN, RECORDS_TABLE, startFixtureCloud, waitFor, type TestCloud } from './helpers.js';
import type { DestinationRecord } from '../../local/index.js';

let t: TestCloud;

beforeAll(async () => {
  t = await startFixtureCloud({ retryDelayMs: 150 });
});

afterAll(async () => {
  await t?.stop();
});

async function itemsUnder(pk: string): Promise<Record<string, { S?: string }>[]> {
  const r = await t.dynamodb.send(
    new QueryCommand({ TableName: RECORDS_TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: pk } }, ConsistentRead: true }),
  );
  return (r.Items ?? []) as Record<string, { S?: string }>[];
}

describe('asynchronous invocation', () => {
  it('attempts a failing event 1 + MaximumRetryAttempts times, then sends the record to the Lambda destination', async () => {
    const key = `retry-${Date.now()}`;
    const started = Date.now();
    const out = await t.lambda.send(new InvokeCommand({ FunctionName: FN.fail, InvocationType: 'Event', Payload: JSON.stringify({ key }) }));
    expect(out.StatusCode).toBe(202);
    const requestId = out.$metadata.requestId!;

    const records = await waitFor(async () => {
      const items = await itemsUnder(`record#${key}`);
      return items.length > 0 ? items : undefined;
    }, 15_000, 'the on-failure record');
    const attempts = await itemsUnder(`attempt#${key}`);
    expect(attempts).toHaveLength(3);
    // The same request id on every attempt, as Lambda retries the same event.
    expect(new Set(attempts.map((a) => a.requestId!.S))).toEqual(new Set([requestId]));
    // Backoff: 150 ms before the first retry, 300 ms before the second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);

    expect(records).toHaveLength(1);
    const record = JSON.parse(records[0]!.body!.S!) as DestinationRecord;
    expect(record).toEqual({
      version: '1.0',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      requestContext: {
        requestId,
        functionArn: `arn:aws:lambda:us-east-1:123456789012:function:${FN.fail}:$LATEST`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: 3,
      },
      requestPayload: { key },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: {
        errorType: 'CustomError',
        errorMessage: `failing on purpose: ${key}`,
        trace: expect.arrayContaining([`CustomError: failing on purpose: ${key}`]),
      },
    });
  });

  it('records the failure in the SQS destination when retries are exhausted', async () => {
    const key = `sqs-${Date.now()}`;
    const out = await t.lambda.send(new InvokeCommand({ FunctionName: FN.sqsFail, InvocationType: 'Event', Payload: JSON.stringify({ key }) }));
    const record = await waitFor(
      () => t.cloud.deadLetters(FAILURES_QUEUE).find((r) => (r as DestinationRecord).requestPayload && ((r as DestinationRecord).requestPayload as { key: string }).key === key) as DestinationRecord | undefined,
      10_000,
      'the SQS record',
    );
    expect(record.requestContext).toEqual({
      requestId: out.$metadata.requestId,
      functionArn: `arn:aws:lambda:us-east-1:123456789012:function:${FN.sqsFail}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: 1,
    });
    expect(record.responsePayload).toMatchObject({ errorType: 'CustomError' });
    expect(await itemsUnder(`attempt#${key}`)).toHaveLength(1);
    expect(t.logs.some((l) => l.includes(`SQS queue ${FAILURES_QUEUE}`))).toBe(true);
  });

  it('keeps async events queued while reserved concurrency is full, then runs them one at a time', async () => {
    const startsBefore = t.logs.filter((l) => l.includes(`[${FN.slow}] START`)).length;
    for (let i = 0; i < 3; i++) {
      const out = await t.lambda.send(new InvokeCommand({ FunctionName: FN.slow, InvocationType: 'Event', Payload: JSON.stringify({ ms: 150 }) }));
      expect(out.StatusCode).toBe(202);
    }
    await waitFor(() => t.logs.filter((l) => l.includes(`[${FN.slow}] REPORT`)).length >= startsBefore + 3 || undefined, 10_000, 'three slow runs');
    // Never two at once: each START follows the previous REPORT.
    const lines = t.logs.filter((l) => l.startsWith(`[${FN.slow}] START`) || l.startsWith(`[${FN.slow}] REPORT`)).slice(-6);
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['START', 'REPORT', 'START', 'REPORT', 'START', 'REPORT']);
    expect(t.cloud.pendingEvents()).toBe(0);
  });
});
