// What the local cloud records of each service as AWS bills it: every invocation's memory and billed
// duration (the INIT phase included on a cold start), DynamoDB units by partition key, and the API
// requests the stage answered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { FN, ITEMS_TABLE, json, signedFetch, startFixtureCloud, type TestCloud } from './helpers.js';

let t: TestCloud;
let functions: DynamoDBClient;

beforeAll(async () => {
  t = await startFixtureCloud();
  // As the functions reach DynamoDB: through the front that meters them.
  functions = new DynamoDBClient({ endpoint: t.cloud.functionsDynamodbEndpoint, region: t.cloud.region, credentials: t.cloud.credentials });
});

afterAll(async () => {
  functions?.destroy();
  await t?.stop();
});

/** The REPORT line of a tail log, field by field. */
function reportOf(logResult: string | undefined): Record<string, string> {
  const log = Buffer.from(logResult ?? '', 'base64').toString('utf8');
  const line = log.split('\n').find((l) => l.startsWith('REPORT '));
  expect(line, log).toBeDefined();
  return Object.fromEntries(line!.split('\t').map((field) => field.split(': ') as [string, string]));
}

const recordOf = (fn: string, requestId: string) => t.cloud.invocations(fn).find((r) => r.requestId === requestId)!;

describe('invocation records', () => {
  it('a cold start is billed its INIT phase plus its duration, as its REPORT line says; a warm one its duration', async () => {
    const invoke = () => t.lambda.send(new InvokeCommand({ FunctionName: FN.slow, Payload: Buffer.from('{"ms":200}'), LogType: 'Tail' }));
    const cold = await invoke();
    const warm = await invoke();
    expect(json(cold.Payload).pid).toBe(json(warm.Payload).pid);

    const first = recordOf(FN.slow, cold.$metadata.requestId!);
    const second = recordOf(FN.slow, warm.$metadata.requestId!);
    // The fixture's template gives the function no MemorySize: Lambda's default, 128 MB.
    expect(first.memoryMb).toBe(128);
    expect(first.durationMs).toBeGreaterThanOrEqual(200);
    expect(first.initMs).toBeGreaterThan(0);
    expect(first.billedMs).toBe(Math.ceil(first.initMs! + first.durationMs!));
    expect(second.initMs).toBeUndefined();
    expect(second.durationMs).toBeGreaterThanOrEqual(200);
    expect(second.billedMs).toBe(Math.ceil(second.durationMs!));

    const coldReport = reportOf(cold.LogResult);
    expect(coldReport['Billed Duration']).toBe(`${first.billedMs} ms`);
    expect(coldReport['Init Duration']).toBe(`${first.initMs!.toFixed(2)} ms`);
    expect(coldReport['Duration']).toBe(`${first.durationMs!.toFixed(2)} ms`);
    expect(coldReport['Memory Size']).toBe('128 MB');
    const warmReport = reportOf(warm.LogResult);
    expect(warmReport['Billed Duration']).toBe(`${second.billedMs} ms`);
    expect(warmReport['Init Duration']).toBeUndefined();
  });

  it('records the memory the template configures, and a failed invocation is billed too', async () => {
    const ok = await t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: Buffer.from('{}') }));
    const failed = await t.lambda.send(new InvokeCommand({ FunctionName: FN.fail, Payload: Buffer.from('{}') }));
    expect(failed.FunctionError).toBeDefined();
    const echo = recordOf(FN.echo, ok.$metadata.requestId!);
    expect(echo.memoryMb).toBe(256);
    expect(echo.billedMs).toBeGreaterThanOrEqual(1);
    const fail = recordOf(FN.fail, failed.$metadata.requestId!);
    expect(fail.ok).toBe(false);
    expect(fail.billedMs).toBe(Math.ceil((fail.initMs ?? 0) + fail.durationMs!));
  });
});

describe('DynamoDB units by partition key', () => {
  it('counts a known PutItem and GetItems in their partition, and forgets them on resetQuotaCounters', async () => {
    t.cloud.resetQuotaCounters();
    // About 1.5 KB: two write units; read back, one unit consistent, half a unit eventually consistent.
    const Item = { id: { S: 'billing-1' }, data: { S: 'x'.repeat(1_500) } };
    const put = await functions.send(new PutItemCommand({ TableName: ITEMS_TABLE, Item, ReturnConsumedCapacity: 'TOTAL' }));
    expect(put.ConsumedCapacity?.CapacityUnits).toBe(2);
    await functions.send(new GetItemCommand({ TableName: ITEMS_TABLE, Key: { id: Item.id }, ConsistentRead: true }));
    await functions.send(new GetItemCommand({ TableName: ITEMS_TABLE, Key: { id: Item.id } }));
    await functions.send(new PutItemCommand({ TableName: ITEMS_TABLE, Item: { id: { S: 'billing-2' } } }));

    const units = t.cloud.dynamodbUnits().sort((a, b) => a.partitionKey.localeCompare(b.partitionKey));
    expect(units).toEqual([
      { table: ITEMS_TABLE, partitionKey: 'billing-1', readUnits: 1.5, writeUnits: 2 },
      { table: ITEMS_TABLE, partitionKey: 'billing-2', readUnits: 0, writeUnits: 1 },
    ]);
    t.cloud.resetQuotaCounters();
    expect(t.cloud.dynamodbUnits()).toEqual([]);
  });

  it('does not count what bypasses the front (the DynamoDB endpoint itself)', async () => {
    t.cloud.resetQuotaCounters();
    await t.dynamodb.send(new PutItemCommand({ TableName: ITEMS_TABLE, Item: { id: { S: 'direct' } } }));
    expect(t.cloud.dynamodbUnits()).toEqual([]);
  });
});

describe('API requests', () => {
  it('records each request the stage answered, billed only once it passed authorization', async () => {
    const before = t.cloud.apiRequests().length;
    const ok = await signedFetch(t.cloud, 'GET', 'items/abc');
    const unsigned = await fetch(new URL('items/abc', t.cloud.apiUrl));
    const noRoute = await fetch(new URL('nowhere', t.cloud.apiUrl));
    expect([ok.status, unsigned.status, noRoute.status]).toEqual([200, 403, 403]);

    const records = t.cloud.apiRequests().slice(before);
    expect(records.map(({ method, path, status, billed }) => ({ method, path, status, billed }))).toEqual([
      { method: 'GET', path: '/prod/items/abc', status: 200, billed: true },
      { method: 'GET', path: '/prod/items/abc', status: 403, billed: false },
      { method: 'GET', path: '/prod/nowhere', status: 403, billed: false },
    ]);
  });
});
