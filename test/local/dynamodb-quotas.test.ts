// DynamoDB throughput in the local cloud: the front before dynalite charges each request's capacity
// units to its partition key and throttles a hot partition as an on-demand table does.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  ThrottlingException,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { startDynamoDbFront, type DynamoDbFront } from '../../local/dynamodb-front.js';
import { FaultInjector } from '../../local/faults/injector.js';
import { startTestTable, TEST_CREDENTIALS, type TestTable } from '../helpers/dynalite.js';
import { FN, ITEMS_TABLE, json, startFixtureCloud } from './helpers.js';

const TABLE = 'jobs';
const QUOTAS = { partitionWcuPerSecond: 20, partitionRcuPerSecond: 20 };
const THROTTLING_TYPE = 'com.amazonaws.dynamodb.v20120810#ThrottlingException';
const TABLE_ARN = `arn:aws:dynamodb:us-east-1:123456789012:table/${TABLE}`;

let table: TestTable;
let front: DynamoDbFront;
const clients: DynamoDBClient[] = [];

/** A client of the front: `maxAttempts` 1 sees every throttle; the SDK's default (3) retries them. */
function client(maxAttempts?: number): DynamoDBClient {
  const c = new DynamoDBClient({ endpoint: front.endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS, ...(maxAttempts && { maxAttempts }) });
  clients.push(c);
  return c;
}

/** An item of about `bytes` bytes (names and values, as DynamoDB sizes them). */
function item(pk: string, sk: string, bytes = 0): Record<string, AttributeValue> {
  const base = { pk: { S: pk }, sk: { S: sk } };
  const overhead = 'pk'.length + pk.length + 'sk'.length + sk.length + 'data'.length;
  return bytes > overhead ? { ...base, data: { S: 'x'.repeat(bytes - overhead) } } : base;
}

const put = (c: DynamoDBClient, pk: string, sk: string, bytes?: number) => c.send(new PutItemCommand({ TableName: TABLE, Item: item(pk, sk, bytes) }));
const partition = (pk: string) => front.counters().partitions[`${TABLE}/${pk}`];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  table = await startTestTable(TABLE);
  front = await startDynamoDbFront(table.endpoint, { quotas: QUOTAS, log: () => undefined });
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await front?.stop();
  await table?.stop();
});

describe('units', () => {
  it.each([
    [500, 1],
    [1_500, 2],
    [3_000, 3],
  ])('a %i-byte item costs %i WCU to write, and the same to replace', async (bytes, wcu) => {
    const c = client(1);
    const pk = `size-${bytes}`;
    const first = await put(c, pk, 'a', bytes);
    // The front asked for the units; a client that did not ask does not see them.
    expect(first.ConsumedCapacity).toBeUndefined();
    expect(partition(pk)).toMatchObject({ wcu });
    const again = await c.send(new PutItemCommand({ TableName: TABLE, Item: item(pk, 'a', bytes), ReturnConsumedCapacity: 'TOTAL' }));
    expect(again.ConsumedCapacity).toEqual({ TableName: TABLE, CapacityUnits: wcu });
    expect(partition(pk)).toMatchObject({ wcu: 2 * wcu });
  });

  it('an update costs the larger of the item before and after it', async () => {
    const c = client(1);
    await put(c, 'update', 'a', 2_500);
    const out = await c.send(
      new UpdateItemCommand({ TableName: TABLE, Key: { pk: { S: 'update' }, sk: { S: 'a' } }, UpdateExpression: 'REMOVE #d', ExpressionAttributeNames: { '#d': 'data' } }),
    );
    expect(out.ConsumedCapacity).toBeUndefined();
    expect(partition('update')).toMatchObject({ wcu: 3 + 3 });
  });

  it('a conditional write that fails still costs write units', async () => {
    const c = client(1);
    await put(c, 'conditional', 'a');
    const failed = c.send(new PutItemCommand({ TableName: TABLE, Item: item('conditional', 'a', 1_500), ConditionExpression: 'attribute_not_exists(pk)' }));
    await expect(failed).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
    expect(partition('conditional')).toMatchObject({ wcu: 1 + 2 });
  });

  it('a Query costs its items\' summed size per 4 KB, half when eventually consistent', async () => {
    const c = client(1);
    for (const sk of ['a', 'b', 'c']) await put(c, 'query', sk, 3_000);
    const query = (consistent: boolean, expression: string, names?: Record<string, string>) =>
      c.send(
        new QueryCommand({
          TableName: TABLE,
          KeyConditionExpression: expression,
          ExpressionAttributeValues: { ':v': { S: 'query' }, ...(expression.includes(':s') && { ':s': { S: 'a' } }) },
          ...(names && { ExpressionAttributeNames: names }),
          ConsistentRead: consistent,
        }),
      );
    // 9 KB: 3 RCU strongly consistent, 1.5 eventually consistent.
    expect((await query(true, 'pk = :v')).Items).toHaveLength(3);
    expect(partition('query')).toMatchObject({ rcu: 3 });
    await query(false, '#p = :v', { '#p': 'pk' });
    expect(partition('query')).toMatchObject({ rcu: 4.5 });
    await query(true, ':v = pk AND sk >= :s');
    await query(true, '#p = :v AND begins_with(#s, :s)', { '#p': 'pk', '#s': 'sk' });
    // The second: only item 'a' (3 KB) matches, 1 RCU.
    expect(partition('query')).toMatchObject({ rcu: 4.5 + 3 + 1 });
  });

  it('a GetItem costs 1 RCU per 4 KB, half eventually consistent, and the client asking for units gets them', async () => {
    const c = client(1);
    await put(c, 'get', 'a', 6_000);
    const get = (consistent: boolean) =>
      c.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'get' }, sk: { S: 'a' } }, ConsistentRead: consistent, ReturnConsumedCapacity: 'TOTAL' }));
    expect((await get(true)).ConsumedCapacity).toEqual({ TableName: TABLE, CapacityUnits: 2 });
    expect((await get(false)).ConsumedCapacity).toEqual({ TableName: TABLE, CapacityUnits: 1 });
    expect(partition('get')).toMatchObject({ rcu: 3, peakRcuPerSecond: 3 });
  });

  it('scans are charged to their own bucket, never throttled', async () => {
    const c = client(1);
    // A scan reads the whole table: at least this item's 10 RCU each time.
    await put(c, 'scanned', 'a', 40_000);
    for (let i = 0; i < 3; i++) await c.send(new ScanCommand({ TableName: TABLE, ConsistentRead: true }));
    expect(front.counters().partitions[`${TABLE}/*scan*`]!.rcu).toBeGreaterThan(QUOTAS.partitionRcuPerSecond);
    expect(front.counters().throttles.read).toBe(0);
  });
});

describe('requests the front cannot read', () => {
  it.each([
    ['PutItem', { TableName: TABLE, Item: { pk: { S: 'odd' }, sk: { S: 'a' }, list: { L: 'not a list' } } }],
    ['BatchWriteItem', { RequestItems: { [TABLE]: 'not a list' } }],
    ['BatchGetItem', { RequestItems: { [TABLE]: { Keys: 'not a list' } } }],
  ])('%s: get DynamoDB\'s own validation error', async (operation, body) => {
    const answer = await fetch(front.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': `DynamoDB_20120810.${operation}`,
        // The server checks the signature's form, not its value.
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0',
        'x-amz-date': '20250101T000000Z',
      },
      body: JSON.stringify(body),
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ __type: expect.stringMatching(/ValidationException|SerializationException/) });
  });
});

describe('throttling', () => {
  beforeEach(() => front.reset());

  it('refuses a burst to one key with ThrottlingException and its reason, while another key still writes', async () => {
    const c = client(1);
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => put(c, 'hot', `s${i}`)));
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as ThrottlingException);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toBeInstanceOf(ThrottlingException);
    expect(refused[0]).toMatchObject({
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400, attempts: 1 },
      throttlingReasons: [{ reason: 'TableWriteKeyRangeThroughputExceeded', resource: TABLE_ARN }],
    });
    expect(refused[0]!.message).toMatch(/hot key/);
    // The wire answer, as DynamoDB sends it.
    const raw = await fetch(front.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.PutItem' },
      body: JSON.stringify({ TableName: TABLE, Item: item('hot', 'raw') }),
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ __type: THROTTLING_TYPE, throttlingReasons: [{ reason: 'TableWriteKeyRangeThroughputExceeded', resource: TABLE_ARN }] });
    // Another partition key of the same table is not hot.
    await put(c, 'cool', 'a');
    const counters = front.counters();
    expect(counters.throttles.write).toBe(refused.length + 1);
    expect(counters.partitions[`${TABLE}/hot`]!.wcu).toBe(40 - refused.length);
    // At most one request's units past the limit.
    expect(counters.partitions[`${TABLE}/hot`]!.peakWcuPerSecond).toBeLessThanOrEqual(QUOTAS.partitionWcuPerSecond + 1);
    // Nothing refused was written.
    const written = await c.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'hot' } }, Select: 'COUNT' }));
    expect(written.Count).toBe(40 - refused.length);
  });

  it('reads throttle on their own limit, with the read reason', async () => {
    const c = client(1);
    // 19 WCU to write, 5 RCU to read: the fifth read finds 20 used.
    await put(c, 'read-hot', 'a', 19_000);
    const get = () => c.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'read-hot' }, sk: { S: 'a' } }, ConsistentRead: true }));
    for (let i = 0; i < 4; i++) await get();
    await expect(get()).rejects.toMatchObject({ name: 'ThrottlingException', throttlingReasons: [{ reason: 'TableReadKeyRangeThroughputExceeded', resource: TABLE_ARN }] });
    // The partition's writes are not throttled by its reads.
    await put(c, 'read-hot', 'b');
    expect(front.counters().throttles).toEqual({ read: 1, write: 0 });
  });

  it('the SDK\'s own retries get through a short throttle', async () => {
    // Fill the partition with one 20 WCU write at the start of a 100 ms bucket; it leaves the
    // sliding second about 1 s later. A write 880 ms in is throttled, and retried once it has left
    // (the SDK's throttling backoff is random, up to 1 s then 2 s: both retries falling within the
    // ~120 ms left happens about once in 300 runs).
    while (Date.now() % 100 > 10) await sleep(1);
    const start = Date.now();
    await put(client(1), 'short', 'fill', 19_900);
    await sleep(start + 880 - Date.now());
    const out = await put(client(), 'short', 'retried');
    expect(out.$metadata.attempts).toBeGreaterThan(1);
    expect(front.counters().throttles.write).toBe(out.$metadata.attempts! - 1);
  });

  it('a batch write returns the items of a hot partition as UnprocessedItems and writes the others', async () => {
    const c = client(1);
    await put(c, 'batch-hot', 'fill', 19_900);
    const writes = ['batch-hot', 'batch-cool'].flatMap((pk) => ['a', 'b'].map((sk) => ({ PutRequest: { Item: item(pk, sk) } })));
    const out = await c.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: writes } }));
    expect(out.UnprocessedItems).toEqual({ [TABLE]: writes.slice(0, 2) });
    expect(partition('batch-cool')).toMatchObject({ wcu: 2 });
    expect(front.counters().throttles.write).toBe(2);
    // Every item of the batch on hot partitions: the batch is throttled.
    const allHot = c.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: writes.slice(0, 2) } }));
    await expect(allHot).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('a batch get returns the keys of a hot partition as UnprocessedKeys and reads the others', async () => {
    const c = client(1);
    await put(c, 'bget-hot', 'a', 40_000);
    await put(c, 'bget-cool', 'a', 5_000);
    const key = (pk: string) => ({ pk: { S: pk }, sk: { S: 'a' } });
    const batch = () => c.send(new BatchGetItemCommand({ RequestItems: { [TABLE]: { Keys: [key('bget-hot'), key('bget-cool')], ConsistentRead: true } } }));
    await batch();
    // bget-hot: 10 RCU per read; bget-cool: 2.
    expect(partition('bget-hot')).toMatchObject({ rcu: 10 });
    expect(partition('bget-cool')).toMatchObject({ rcu: 2 });
    await batch();
    const out = await batch();
    expect(out.UnprocessedKeys).toEqual({ [TABLE]: { Keys: [key('bget-hot')], ConsistentRead: true } });
    expect(out.Responses?.[TABLE]).toEqual([item('bget-cool', 'a', 5_000)]);
    expect(partition('bget-cool')).toMatchObject({ rcu: 6 });
  });
});

describe('global secondary indexes', () => {
  it('a Query of an index is charged to the index\'s partition, and throttled with the index\'s reason', async () => {
    const raw = new DynamoDBClient({ endpoint: table.endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS });
    clients.push(raw);
    await raw.send(
      new CreateTableCommand({
        TableName: 'indexed',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'id', AttributeType: 'S' },
          { AttributeName: 'ownerId', AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [{ IndexName: 'byOwner', KeySchema: [{ AttributeName: 'ownerId', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' } }],
      }),
    );
    const c = client(1);
    // 8 items of 10 KB: 20 RCU to read them all strongly consistent.
    for (let i = 0; i < 8; i++) await c.send(new PutItemCommand({ TableName: 'indexed', Item: { id: { S: `i${i}` }, ownerId: { S: 'ann' }, data: { S: 'x'.repeat(10_000) } } }));
    const query = () =>
      c.send(new QueryCommand({ TableName: 'indexed', IndexName: 'byOwner', KeyConditionExpression: 'ownerId = :o', ExpressionAttributeValues: { ':o': { S: 'ann' } } }));
    // Eventually consistent (an index's only kind): 10 RCU each.
    await query();
    await query();
    expect(front.counters().partitions['indexed:byOwner/ann']).toMatchObject({ rcu: 20 });
    await expect(query()).rejects.toMatchObject({
      name: 'ThrottlingException',
      throttlingReasons: [{ reason: 'IndexReadKeyRangeThroughputExceeded', resource: 'arn:aws:dynamodb:us-east-1:123456789012:table/indexed/index/byOwner' }],
    });
    // The table's own partitions are others.
    expect(front.counters().partitions['indexed/i0']).toMatchObject({ wcu: 10 });
  });
});

describe('with faults', () => {
  it('the same front injects the configured faults and meters what it forwards', async () => {
    const faults = new FaultInjector({ dynamodb: { throttling: 1, operations: ['GetItem'] } }, [], () => undefined);
    const faulty = await startDynamoDbFront(table.endpoint, { quotas: QUOTAS, faults, log: () => undefined });
    const c = new DynamoDBClient({ endpoint: faulty.endpoint, region: 'us-east-1', credentials: TEST_CREDENTIALS, maxAttempts: 1 });
    try {
      await c.send(new PutItemCommand({ TableName: TABLE, Item: item('faults', 'a', 1_500) }));
      const get = c.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'faults' }, sk: { S: 'a' } } }));
      await expect(get).rejects.toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
      expect(faults.counts()).toEqual({ ThrottlingException: 1 });
      // The injected error was not a quota's, and consumed nothing.
      expect(faulty.counters()).toEqual({
        throttles: { read: 0, write: 0 },
        partitions: { [`${TABLE}/faults`]: { peakWcuPerSecond: 2, peakRcuPerSecond: 0, wcu: 2, rcu: 0 } },
        totals: { wcu: 2, rcu: 0 },
      });
    } finally {
      c.destroy();
      await faulty.stop();
    }
  });
});

describe('in the local cloud', () => {
  it('meters the functions\' DynamoDB requests by partition key, and throttles at the scaled limit', async () => {
    // Scale 0.01: 10 WCU/s per partition key.
    const t = await startFixtureCloud({ quotas: 0.01 });
    const functionsDb = new DynamoDBClient({ endpoint: t.cloud.functionsDynamodbEndpoint, region: t.cloud.region, credentials: t.cloud.credentials, maxAttempts: 1 });
    try {
      // The env function writes an item keyed by its request id, then reads it back strongly consistent.
      const out = await t.lambda.send(new InvokeCommand({ FunctionName: FN.env, Payload: JSON.stringify({}) }));
      const id = json<{ item: { id: { S: string } } }>(out.Payload).item.id.S;
      expect(t.cloud.quotaCounters().dynamodb.partitions[`${ITEMS_TABLE}/${id}`]).toEqual({ peakWcuPerSecond: 1, peakRcuPerSecond: 1, wcu: 1, rcu: 1 });
      // The tests' own client talks to DynamoDB itself, unmetered.
      await t.dynamodb.send(new GetItemCommand({ TableName: ITEMS_TABLE, Key: { id: { S: id } } }));
      expect(t.cloud.quotaCounters().dynamodb.totals).toEqual({ wcu: 1, rcu: 1 });

      t.cloud.resetQuotaCounters();
      const big = { S: 'x'.repeat(3_000) };
      const writes = await Promise.allSettled(Array.from({ length: 8 }, () => functionsDb.send(new PutItemCommand({ TableName: ITEMS_TABLE, Item: { id: { S: 'hot' }, big } }))));
      // 3 WCU each: the fifth write finds 12 used.
      expect(writes.filter((w) => w.status === 'rejected').length).toBeGreaterThanOrEqual(4);
      const counters = t.cloud.quotaCounters().dynamodb;
      expect(counters.throttles.write).toBeGreaterThanOrEqual(4);
      expect(counters.partitions[`${ITEMS_TABLE}/hot`]!.peakWcuPerSecond).toBeLessThanOrEqual(10 + 3);
    } finally {
      functionsDb.destroy();
      await t.stop();
    }
  });
});
