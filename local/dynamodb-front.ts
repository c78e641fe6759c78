// The front between the functions and the DynamoDB server. It meters every request's capacity units
// by table and partition key value, throttles a hot partition the way an on-demand table does, and,
// when faults are configured, fails the requests the injector picks with DynamoDB's own error answers.
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { close, endpointOf, headerValue, listen, readAll } from './http.js';
import { warning } from './log.js';
import { ACCOUNT_ID, REGION } from './template.js';
import type { TableDef } from './stack.js';
import type { FaultInjector } from './faults/injector.js';
import {
  SCAN_PARTITION,
  ThroughputMeter,
  readUnits,
  writeUnits,
  type Access,
  type AttributeValue,
  type Charge,
  type DynamoDbQuotaCounters,
  type DynamoDbQuotas,
  type Item,
  type PartitionUnits,
} from './dynamodb-throughput.js';

export type { DynamoDbQuotas, DynamoDbQuotaCounters, PartitionCounters, PartitionUnits } from './dynamodb-throughput.js';

export interface DynamoDbFrontOptions {
  /** Tables whose key schema is known up front; any other table's is read with DescribeTable once. */
  tables?: TableDef[];
  /** Per-partition limits; undefined meters without throttling. */
  quotas?: DynamoDbQuotas;
  /** Faults to inject, decided before the quotas (so a seed makes the same decisions with or without them). */
  faults?: FaultInjector;
  log: (line: string) => void;
}

export interface DynamoDbFront {
  endpoint: string;
  /** Units and throttles so far, by partition. */
  counters(): DynamoDbQuotaCounters;
  /** Units consumed so far by each table and partition key value (reset with the counters). */
  units(): PartitionUnits[];
  /** Forgets the counters (the load of the last second still throttles). */
  reset(): void;
  stop(): Promise<void>;
}

/** DynamoDB's JSON, read field by field. */
type Json = Record<string, any>;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A request admitted: what to forward, and how to settle its units and shape the answer. */
interface Admission {
  request: Json;
  /** Settles the units from the answer and returns the answer the client gets (the same object, changed). */
  settle(status: number, answer: Json): Json;
}

/** A request refused because its partition is hot. */
interface Refusal {
  access: Access;
  table: string;
  index?: string;
}

interface KeyNames {
  hash: string;
  range?: string;
}

interface TableKeys {
  table: KeyNames;
  /** Global secondary indexes (a local one shares the table's partitions). */
  globalIndexes: Map<string, KeyNames>;
}

// AWS: what an on-demand table answers when a partition key value exceeds its partition's throughput.
const THROTTLING_TYPE = 'com.amazonaws.dynamodb.v20120810#ThrottlingException';
const HOT_KEY_MESSAGE =
  'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html';
const CONDITIONAL_CHECK_FAILED = '#ConditionalCheckFailedException';

/** DynamoDB request ids are 52 upper-case letters and digits. */
const requestId = () =>
  Array.from(randomBytes(52), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[b % 36]).join('');

/** DynamoDB's checksum header (zlib.crc32 arrived in Node 20.15; the header is informational for the JS SDK). */
const crc32Header = (body: string | Buffer) => (typeof zlib.crc32 === 'function' ? { 'x-amz-crc32': String(zlib.crc32(body)) } : {});

function sendError(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.0',
    'Content-Length': String(Buffer.byteLength(body)),
    'x-amzn-RequestId': requestId(),
    ...crc32Header(body),
  });
  res.end(body);
}

function throttlingBody({ access, table, index }: Refusal): string {
  const resource = `arn:aws:dynamodb:${REGION}:${ACCOUNT_ID}:table/${table}${index ? `/index/${index}` : ''}`;
  const reason = `${index ? 'Index' : 'Table'}${access === 'read' ? 'Read' : 'Write'}KeyRangeThroughputExceeded`;
  // The SDK's ThrottlingException reads its reasons from `throttlingReasons`.
  return JSON.stringify({ __type: THROTTLING_TYPE, message: HOT_KEY_MESSAGE, throttlingReasons: [{ reason, resource }] });
}

function keyNamesOf(schema: unknown): KeyNames | undefined {
  if (!Array.isArray(schema)) return undefined;
  const name = (type: string) => (schema as { AttributeName: string; KeyType: string }[]).find((k) => k.KeyType === type)?.AttributeName;
  const [hash, range] = [name('HASH'), name('RANGE')];
  return hash === undefined ? undefined : { hash, ...(range !== undefined && { range }) };
}

/** Key names from a CreateTable input or a DescribeTable answer (the same field names). */
function tableKeysOf(description: Json): TableKeys | undefined {
  const table = keyNamesOf(description.KeySchema);
  if (!table) return undefined;
  const globalIndexes = new Map<string, KeyNames>();
  for (const index of (description.GlobalSecondaryIndexes ?? []) as Json[]) {
    const names = keyNamesOf(index.KeySchema);
    if (names) globalIndexes.set(index.IndexName as string, names);
  }
  return { table, globalIndexes };
}

/** A partition key value as text (a key attribute is a string, a number or binary). */
function valueText(value: AttributeValue | undefined): string {
  if (!value) return '?';
  const v = value.S ?? value.N ?? value.B;
  return typeof v === 'string' ? v : JSON.stringify(value);
}

/**
 * The partition key value a Query names: `name = :v` (or `:v = name`, `#n = :v`) in its
 * KeyConditionExpression, or the legacy KeyConditions' EQ.
 */
function queriedKeyValue(query: Json, hash: string): AttributeValue | undefined {
  const expression = query.KeyConditionExpression;
  if (typeof expression === 'string') {
    const names = (query.ExpressionAttributeNames ?? {}) as Record<string, string>;
    const values = (query.ExpressionAttributeValues ?? {}) as Record<string, AttributeValue>;
    const nameOf = (token: string) => (token.startsWith('#') ? names[token] : token);
    for (const m of expression.matchAll(/([#:]?[\w.-]+)\s*=\s*([#:]?[\w.-]+)/g)) {
      const [left, right] = [m[1]!, m[2]!];
      if (right.startsWith(':') && nameOf(left) === hash) return values[right];
      if (left.startsWith(':') && nameOf(right) === hash) return values[left];
    }
    return undefined;
  }
  const condition = (query.KeyConditions as Json | undefined)?.[hash];
  return condition?.ComparisonOperator === 'EQ' ? condition.AttributeValueList?.[0] : undefined;
}

const asksForCapacity = (request: Json) => request.ReturnConsumedCapacity === 'TOTAL' || request.ReturnConsumedCapacity === 'INDEXES';
const consumedUnits = (answer: Json): number | undefined => answer.ConsumedCapacity?.CapacityUnits;

/** Asks the server for units the client did not ask about, and keeps them from the client's answer. */
function withCapacity(request: Json, settle: (status: number, answer: Json) => void): Admission {
  const asked = asksForCapacity(request);
  return {
    request: asked ? request : { ...request, ReturnConsumedCapacity: 'TOTAL' },
    settle(status, answer) {
      settle(status, answer);
      if (!asked) delete answer.ConsumedCapacity;
      return answer;
    },
  };
}

function partitionOf(table: string, keys: TableKeys, item: Item | undefined): string {
  return `${table}/${valueText(item?.[keys.table.hash])}`;
}

/** The key attributes of an item as one text, to match the items a batch returns to the keys it asked for. */
function keyText(keys: KeyNames, item: Item): string {
  return JSON.stringify([item[keys.hash], keys.range === undefined ? null : item[keys.range]]);
}

class Admissions {
  constructor(private readonly meter: ThroughputMeter) {}

  /** GetItem, PutItem, UpdateItem, DeleteItem: one item, one partition. */
  item(operation: string, request: Json, keys: TableKeys): Admission | Refusal {
    const table = request.TableName as string;
    const access: Access = operation === 'GetItem' ? 'read' : 'write';
    const partition = partitionOf(table, keys, operation === 'PutItem' ? request.Item : request.Key);
    if (this.refuse(partition, access)) return { access, table };
    // At least what the request will cost; a failed conditional write costs it too (AWS: the
    // existing item's size, at least 1 WCU; the front does not know that item, so it charges the item written).
    const estimate = access === 'read' ? readUnits(undefined, request.ConsistentRead === true) : operation === 'PutItem' ? writeUnits(request.Item) : 1;
    const charge = this.meter.charge(partition, access, estimate);
    return withCapacity(request, (status, answer) => {
      const conditionFailed = status === 400 && String(answer.__type).endsWith(CONDITIONAL_CHECK_FAILED);
      this.meter.settle(charge, status === 200 ? (consumedUnits(answer) ?? estimate) : conditionFailed ? estimate : 0);
    });
  }

  /** Query: the partition its key condition names (a global index's own partitions); scans and unreadable conditions go to the scan bucket. */
  read(operation: string, request: Json, keys: TableKeys): Admission | Refusal {
    const table = request.TableName as string;
    const index = request.IndexName as string | undefined;
    const globalKeys = index === undefined ? undefined : keys.globalIndexes.get(index);
    const owner = globalKeys ? `${table}:${index}` : table;
    const value = operation === 'Query' ? queriedKeyValue(request, (globalKeys ?? keys.table).hash) : undefined;
    const partition = `${owner}/${value ? valueText(value) : SCAN_PARTITION}`;
    if (this.refuse(partition, 'read')) return { access: 'read', table, ...(globalKeys && { index }) };
    const estimate = readUnits(undefined, request.ConsistentRead === true);
    const charge = this.meter.charge(partition, 'read', estimate);
    return withCapacity(request, (status, answer) => this.meter.settle(charge, status === 200 ? (consumedUnits(answer) ?? estimate) : 0));
  }

  /** BatchWriteItem: each item charged to its partition; items of hot partitions come back unprocessed. */
  batchWrite(request: Json, keysOf: (table: string) => TableKeys): Admission | Refusal {
    const kept: Record<string, Json[]> = {};
    const unprocessed: Record<string, Json[]> = {};
    const charges: Charge[] = [];
    let refusal: Refusal | undefined;
    for (const [table, writes] of Object.entries(request.RequestItems as Record<string, Json[]>)) {
      const keys = keysOf(table);
      for (const write of writes) {
        const item: Item | undefined = write.PutRequest?.Item ?? write.DeleteRequest?.Key;
        const partition = partitionOf(table, keys, item);
        if (this.refuse(partition, 'write')) {
          (unprocessed[table] ??= []).push(write);
          refusal ??= { access: 'write', table };
          continue;
        }
        (kept[table] ??= []).push(write);
        // The item replaced or deleted is unknown here: a put is charged its new item, a delete 1 WCU.
        charges.push(this.meter.charge(partition, 'write', write.PutRequest ? writeUnits(item) : 1));
      }
    }
    if (refusal && charges.length === 0) return refusal;
    return {
      request: { ...request, RequestItems: kept },
      settle: (status, answer) => {
        if (status !== 200) {
          for (const charge of charges) this.meter.settle(charge, 0);
          return answer;
        }
        const all = (answer.UnprocessedItems ??= {}) as Record<string, Json[]>;
        for (const [table, writes] of Object.entries(unprocessed)) all[table] = [...(all[table] ?? []), ...writes];
        return answer;
      },
    };
  }

  /** BatchGetItem: each key charged to its partition by the item it read; keys of hot partitions come back unprocessed. */
  batchGet(request: Json, keysOf: (table: string) => TableKeys): Admission | Refusal {
    const kept: Record<string, Json> = {};
    const unprocessed: Record<string, Json> = {};
    const pending: { table: string; key: Item; consistent: boolean; charge: Charge }[] = [];
    let refusal: Refusal | undefined;
    for (const [table, read] of Object.entries(request.RequestItems as Record<string, Json>)) {
      const keys = keysOf(table);
      const consistent = read.ConsistentRead === true;
      for (const key of read.Keys as Item[]) {
        const partition = partitionOf(table, keys, key);
        const target = this.refuse(partition, 'read') ? unprocessed : kept;
        (target[table] ??= { ...read, Keys: [] }).Keys.push(key);
        if (target === unprocessed) refusal ??= { access: 'read', table };
        else pending.push({ table, key, consistent, charge: this.meter.charge(partition, 'read', readUnits(undefined, consistent)) });
      }
    }
    if (refusal && pending.length === 0) return refusal;
    return {
      request: { ...request, RequestItems: kept },
      settle: (status, answer) => {
        const found = new Map<string, Item>();
        if (status === 200) {
          for (const [table, items] of Object.entries((answer.Responses ?? {}) as Record<string, Item[]>)) {
            for (const item of items) found.set(`${table} ${keyText(keysOf(table).table, item)}`, item);
          }
        }
        const notRead = new Set<string>();
        for (const [table, read] of Object.entries((answer.UnprocessedKeys ?? {}) as Record<string, Json>)) {
          for (const key of read.Keys as Item[]) notRead.add(`${table} ${keyText(keysOf(table).table, key)}`);
        }
        for (const { table, key, consistent, charge } of pending) {
          const id = `${table} ${keyText(keysOf(table).table, key)}`;
          this.meter.settle(charge, status !== 200 || notRead.has(id) ? 0 : readUnits(found.get(id), consistent));
        }
        if (status === 200) {
          const all = (answer.UnprocessedKeys ??= {}) as Record<string, Json>;
          for (const [table, read] of Object.entries(unprocessed)) {
            all[table] = all[table] ? { ...all[table], Keys: [...all[table].Keys, ...read.Keys] } : read;
          }
        }
        return answer;
      },
    };
  }

  /** Whether a partition is hot; counts the throttle when it is. */
  private refuse(partition: string, access: Access): boolean {
    if (!this.meter.isHot(partition, access)) return false;
    this.meter.throttled(access);
    return true;
  }
}

const isRefusal = (a: Admission | Refusal): a is Refusal => 'access' in a;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a request has the shape the admissions read; any other goes to the server as it is, for its own error. */
function isWellFormed(operation: string, request: Json): boolean {
  const batches = Object.values(isObject(request.RequestItems) ? request.RequestItems : {});
  switch (operation) {
    case 'BatchWriteItem':
      return batches.every((writes) => Array.isArray(writes) && writes.every(isObject));
    case 'BatchGetItem':
      return batches.every((read) => isObject(read) && Array.isArray(read.Keys) && read.Keys.every(isObject));
    default:
      return true;
  }
}

const SINGLE_ITEM = new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem']);
const TABLE_READS = new Set(['Query', 'Scan']);

export async function startDynamoDbFront(target: string, opts: DynamoDbFrontOptions): Promise<DynamoDbFront> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const meter = new ThroughputMeter(opts.quotas);
  const admissions = new Admissions(meter);
  const tableKeys = new Map<string, TableKeys>();
  for (const def of opts.tables ?? []) {
    const keys = tableKeysOf(def.createTableInput);
    if (keys) tableKeys.set(def.name, keys);
  }

  const forward = (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const out = request({ host: upstream.hostname, port: upstream.port, method, path, headers, agent }, (answer) => {
        readAll(answer).then((data) => resolve({ status: answer.statusCode ?? 500, headers: answer.headers, body: data }), reject);
      });
      out.on('error', reject);
      out.end(body);
    });

  /** The key names of a table not in the template, asked once (with the caller's headers, which the server accepts). */
  const describing = new Map<string, Promise<void>>();
  const describe = (table: string, headers: IncomingHttpHeaders): Promise<void> | undefined => {
    if (tableKeys.has(table)) return undefined;
    let asked = describing.get(table);
    if (!asked) {
      const body = Buffer.from(JSON.stringify({ TableName: table }));
      asked = forward('POST', '/', { ...headers, 'x-amz-target': 'DynamoDB_20120810.DescribeTable', 'content-length': String(body.length) }, body)
        .then((answer) => {
          const keys = answer.status === 200 ? tableKeysOf((JSON.parse(answer.body.toString('utf8')) as Json).Table ?? {}) : undefined;
          if (keys) tableKeys.set(table, keys);
        })
        // A table that does not exist (yet) is asked about again next time.
        .finally(() => describing.delete(table));
      describing.set(table, asked);
    }
    return asked;
  };

  /** Admits a metered request, or undefined for one forwarded as it is (other operations, unknown tables, unreadable bodies). */
  const admit = async (operation: string, body: Buffer, headers: IncomingHttpHeaders): Promise<Admission | Refusal | undefined> => {
    if (!SINGLE_ITEM.has(operation) && !TABLE_READS.has(operation) && operation !== 'BatchWriteItem' && operation !== 'BatchGetItem') return undefined;
    let parsed: Json;
    try {
      parsed = JSON.parse(body.toString('utf8')) as Json;
    } catch {
      return undefined;
    }
    const tables = typeof parsed.TableName === 'string' ? [parsed.TableName] : Object.keys(parsed.RequestItems ?? {});
    const answers = tables.map((t) => describe(t, headers)).filter((d) => d !== undefined);
    if (answers.length > 0) await Promise.all(answers);
    if (tables.length === 0 || !tables.every((t) => tableKeys.has(t)) || !isWellFormed(operation, parsed)) return undefined;
    const keysOf = (table: string) => tableKeys.get(table)!;
    try {
      if (SINGLE_ITEM.has(operation)) return admissions.item(operation, parsed, keysOf(parsed.TableName));
      if (TABLE_READS.has(operation)) return admissions.read(operation, parsed, keysOf(parsed.TableName));
      return operation === 'BatchWriteItem' ? admissions.batchWrite(parsed, keysOf) : admissions.batchGet(parsed, keysOf);
    } catch {
      // Attribute values the unit arithmetic cannot read: the server answers the request with its validation error.
      return undefined;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readAll(req);
    const operation = headerValue(req, 'x-amz-target')?.split('.').pop() ?? '';
    const fault = operation ? opts.faults?.planDynamoDb(operation, body.toString('utf8')) : undefined;
    if (fault && !fault.afterWrite) return sendError(res, fault.status, fault.body);
    const admission = await admit(operation, body, req.headers);
    if (admission && isRefusal(admission)) return sendError(res, 400, throttlingBody(admission));
    const forwarded = admission ? Buffer.from(JSON.stringify(admission.request)) : body;
    const answer = await forward(req.method ?? 'POST', req.url ?? '/', { ...req.headers, 'content-length': String(forwarded.length) }, forwarded);
    const answerBody = admission ? settledBody(admission, answer) : answer.body;
    if (fault) return sendError(res, fault.status, fault.body);
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    delete headers.connection;
    headers['content-length'] = String(answerBody.length);
    if (answerBody !== answer.body) {
      delete headers['x-amz-crc32'];
      Object.assign(headers, crc32Header(answerBody));
    }
    res.writeHead(answer.status, headers);
    res.end(answerBody);
  };

  const server = await listen((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log(warning(`dynamodb front: ${String(err)}`));
      if (!res.headersSent) sendError(res, 500, JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'Internal server error' }));
      else res.destroy();
    });
  }, 0);
  return {
    endpoint: endpointOf(server),
    counters: () => meter.counters(),
    units: () => meter.units(),
    reset: () => meter.reset(),
    stop: () => {
      agent.destroy();
      return close(server);
    },
  };
}

/** The answer's body once its units are settled and its fields are what the client asked for. */
function settledBody(admission: Admission, answer: Answer): Buffer {
  let parsed: Json;
  try {
    parsed = JSON.parse(answer.body.toString('utf8')) as Json;
  } catch {
    admission.settle(answer.status, {});
    return answer.body;
  }
  return Buffer.from(JSON.stringify(admission.settle(answer.status, parsed)));
}
