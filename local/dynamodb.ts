// DynamoDB on 127.0.0.1: dynalite, with the template's tables, in memory or in a
// folder, and a TTL sweeper (dynalite never expires items; DynamoDB does).
import { mkdirSync } from 'node:fs';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import dynalite from 'dynalite';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ScanCommand,
  type AttributeValue,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import type { TableDef } from './stack.js';
import { close, endpointOf, listen } from './http.js';
import { warning } from './log.js';

/** How long stop() lets requests in progress finish. */
const STOP_DRAIN_MS = 2_000;
/** DynamoDB ignores TTL values more than five years in the past. */
const TTL_IGNORE_OLDER_THAN_S = 5 * 365 * 24 * 60 * 60;

export interface DynamoDbOptions {
  tables: TableDef[];
  /** LevelDB folder; in memory when absent. */
  path?: string;
  port: number;
  /** 127.0.0.1 unless given (0.0.0.0 lets Docker containers reach it). */
  host?: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  ttlSweepIntervalMs: number;
  log: (line: string) => void;
}

export interface LocalDynamoDb {
  endpoint: string;
  /** Deletes the expired items of every table with TTL; returns how many. */
  sweepExpired(): Promise<number>;
  stop(): Promise<void>;
}

export async function startDynamoDb(opts: DynamoDbOptions): Promise<LocalDynamoDb> {
  if (opts.path) mkdirSync(opts.path, { recursive: true });
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(opts.path ? { path: opts.path } : {}) });
  await listen(server, opts.port, opts.host);
  const endpoint = endpointOf(server);
  const client = new DynamoDBClient({ endpoint, region: opts.region, credentials: opts.credentials, maxAttempts: 1 });

  // Requests being answered. dynalite closes its database once the server has closed, and throws
  // (from inside, uncaught) at any request still at work then; so stop() refuses new requests, lets
  // those at work finish, and only then closes the server. A request counts from the moment dynalite
  // takes it until it answers, not until its socket closes: a caller that died (a killed worker)
  // closes its socket while dynalite is still working for it.
  let inFlight = 0;
  let stopping = false;
  let drained: (() => void) | undefined;
  const [dynaliteHandler] = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (stopping) {
      const body = JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'The local DynamoDB is stopping' });
      res.writeHead(500, { 'Content-Type': 'application/x-amz-json-1.0', 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
      return;
    }
    inFlight++;
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      if (--inFlight === 0) setImmediate(() => drained?.());
    };
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      done();
      return end(...args);
    }) as ServerResponse['end'];
    // A body that never completed never reached dynalite's actions.
    res.once('close', () => {
      if (!req.complete) done();
    });
    dynaliteHandler!(req, res);
  });

  const stopServer = async (): Promise<void> => {
    client.destroy();
    stopping = true;
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
        setTimeout(resolve, STOP_DRAIN_MS).unref();
      });
    }
    await close(server);
  };

  try {
    for (const table of opts.tables) await createTable(client, table, opts.log);
  } catch (err) {
    await stopServer();
    throw err;
  }

  const ttlTables = opts.tables.filter((t) => t.ttlAttribute);
  let sweeping: Promise<number> | undefined;
  const sweepExpired = (): Promise<number> => {
    sweeping ??= (async () => {
      let deleted = 0;
      for (const table of ttlTables) deleted += await sweepTable(client, table);
      return deleted;
    })().finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  };

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (): void => {
    if (stopped || ttlTables.length === 0) return;
    timer = setTimeout(() => {
      sweepExpired()
        .then((n) => {
          if (n > 0) opts.log(`[dynamodb] TTL removed ${n} expired item(s)`);
        })
        .catch((err: unknown) => opts.log(warning(`dynamodb: TTL sweep failed: ${String(err)}`)))
        .finally(schedule);
    }, opts.ttlSweepIntervalMs);
  };
  schedule();

  return {
    endpoint,
    sweepExpired,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await sweeping?.catch(() => undefined);
      await stopServer();
    },
  };
}

async function createTable(client: DynamoDBClient, table: TableDef, log: (line: string) => void): Promise<void> {
  try {
    await client.send(new CreateTableCommand(table.createTableInput as unknown as CreateTableCommandInput));
    log(`[dynamodb] table ${table.name} created`);
  } catch (err) {
    // Kept from an earlier run (stateDir): the data stays.
    if ((err as Error).name !== 'ResourceInUseException') throw err;
    log(`[dynamodb] table ${table.name} kept from the state folder`);
  }
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table.name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function sweepTable(client: DynamoDBClient, table: TableDef): Promise<number> {
  const keys = ((table.createTableInput.KeySchema ?? []) as { AttributeName: string }[]).map((k) => k.AttributeName);
  const now = Math.floor(Date.now() / 1000);
  const names: Record<string, string> = { '#ttl': table.ttlAttribute! };
  keys.forEach((k, i) => (names[`#k${i}`] = k));
  let deleted = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: table.name,
        FilterExpression: '#ttl < :now AND #ttl > :floor',
        ProjectionExpression: keys.map((_, i) => `#k${i}`).join(', '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':now': { N: String(now) }, ':floor': { N: String(now - TTL_IGNORE_OLDER_THAN_S) } },
        ExclusiveStartKey: start,
      }),
    );
    for (const key of page.Items ?? []) {
      try {
        // Conditional, so an item whose TTL was just extended survives.
        await client.send(
          new DeleteItemCommand({
            TableName: table.name,
            Key: key,
            ConditionExpression: '#ttl < :now',
            ExpressionAttributeNames: { '#ttl': table.ttlAttribute! },
            ExpressionAttributeValues: { ':now': { N: String(now) } },
          }),
        );
        deleted++;
      } catch (err) {
        if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return deleted;
}
