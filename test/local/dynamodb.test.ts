// DynamoDB: tables from the template, TTL expiry, and state kept across restarts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeTableCommand, GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { ITEMS_TABLE, RECORDS_TABLE, startFixtureCloud, waitFor, type TestCloud } from './helpers.js';

describe('DynamoDB', () => {
  let t: TestCloud;

  beforeAll(async () => {
    t = await startFixtureCloud({ ttlSweepIntervalMs: 100 });
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('creates the template tables with their names and keys', async () => {
    expect(t.cloud.tableNames).toEqual({ RecordsTableB1C2D3E4: RECORDS_TABLE, ItemsTable5A6B7C8D: ITEMS_TABLE });
    const records = await t.dynamodb.send(new DescribeTableCommand({ TableName: RECORDS_TABLE }));
    expect(records.Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    const items = await t.dynamodb.send(new DescribeTableCommand({ TableName: ITEMS_TABLE }));
    expect(items.Table?.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
  });

  it('deletes items whose TTL attribute has passed, and only those', async () => {
    const now = Math.floor(Date.now() / 1000);
    const put = (sk: string, expiresAt?: AttributeValue) =>
      t.dynamodb.send(new PutItemCommand({ TableName: RECORDS_TABLE, Item: { pk: { S: 'ttl' }, sk: { S: sk }, ...(expiresAt ? { expiresAt } : {}) } }));
    const exists = async (sk: string) =>
      (await t.dynamodb.send(new GetItemCommand({ TableName: RECORDS_TABLE, Key: { pk: { S: 'ttl' }, sk: { S: sk } }, ConsistentRead: true }))).Item !== undefined;
    await put('expired', { N: String(now - 60) });
    await put('future', { N: String(now + 3600) });
    await put('no-ttl');
    await put('not-a-number', { S: String(now - 60) });
    // DynamoDB ignores TTL values more than five years old.
    await put('ancient', { N: String(now - 6 * 365 * 24 * 3600) });
    await waitFor(async () => !(await exists('expired')) || undefined, 5_000, 'the expired item to go');
    expect(await exists('future')).toBe(true);
    expect(await exists('no-ttl')).toBe(true);
    expect(await exists('not-a-number')).toBe(true);
    expect(await exists('ancient')).toBe(true);
  });
});

describe('state folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'local-cloud-state-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const item = { id: { S: 'kept' }, value: { N: '7' } };
  const read = (t: TestCloud) => t.dynamodb.send(new GetItemCommand({ TableName: ITEMS_TABLE, Key: { id: { S: 'kept' } }, ConsistentRead: true }));

  it('keeps DynamoDB data across a restart with stateDir', async () => {
    const first = await startFixtureCloud({ stateDir: dir });
    await first.dynamodb.send(new PutItemCommand({ TableName: ITEMS_TABLE, Item: item }));
    await first.stop();
    const second = await startFixtureCloud({ stateDir: dir });
    try {
      expect((await read(second)).Item).toEqual(item);
    } finally {
      await second.stop();
    }
  });

  it('starts empty without stateDir', async () => {
    const first = await startFixtureCloud();
    await first.dynamodb.send(new PutItemCommand({ TableName: ITEMS_TABLE, Item: item }));
    await first.stop();
    const second = await startFixtureCloud();
    try {
      expect((await read(second)).Item).toBeUndefined();
    } finally {
      await second.stop();
    }
  });
});
