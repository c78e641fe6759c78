// The local cloud's fault injector, on the fixture stack: each fault does what AWS does when it
// happens, is counted, and is decided by the seed alone.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { startLocalCloud, type FaultConfig } from '../../local/index.js';
import { FIXTURE_TEMPLATE, FN, ITEMS_TABLE, json, signedFetch, startFixtureCloud, waitFor, type TestCloud } from '../local/helpers.js';
import { sleep } from '../helpers/pool.js';

let t: TestCloud;

beforeAll(async () => {
  t = await startFixtureCloud({ retryDelayMs: 100, faults: {}, timeoutOverrides: { [FN.slow]: 1 } });
});

afterAll(async () => {
  await t?.stop();
});

function useFaults(config: FaultConfig): void {
  t.cloud.faults!.configure(config);
  t.cloud.faults!.clear();
}

const invoke = (fn: string, payload: unknown, type: 'Event' | 'RequestResponse' = 'RequestResponse', lambda = t.lambda) =>
  lambda.send(new InvokeCommand({ FunctionName: fn, InvocationType: type, Payload: JSON.stringify(payload) }));

const runsOf = (fn: string, marker: string) => t.cloud.invocations(fn).filter((r) => r.payload.includes(marker));

describe('async event faults', () => {
  it('drop: the event is accepted (202) and never runs, nor reaches a destination', async () => {
    useFaults({ functions: { [FN.fail]: { drop: 1 } } });
    const out = await invoke(FN.fail, { key: 'dropped-1' }, 'Event');
    expect(out.StatusCode).toBe(202);
    await sleep(500);
    expect(runsOf(FN.fail, 'dropped-1')).toEqual([]);
    expect(runsOf(FN.recorder, 'dropped-1')).toEqual([]);
    expect(t.cloud.faults!.counts()).toEqual({ drop: 1 });
    expect(t.cloud.faults!.events()[0]).toMatchObject({ kind: 'drop', target: FN.fail, subject: '{"key":"dropped-1"}' });
  });

  it('duplicate: the event runs twice, with the same request id', async () => {
    useFaults({ functions: { echo: { duplicate: 1, duplicateDelayMs: [50, 50] } } });
    const out = await invoke(FN.echo, { n: 'twice' }, 'Event');
    const runs = await waitFor(() => (runsOf(FN.echo, 'twice').filter((r) => r.endedAt).length === 2 ? runsOf(FN.echo, 'twice') : undefined), 5_000, 'two runs');
    expect(runs.map((r) => r.requestId)).toEqual([out.$metadata.requestId, out.$metadata.requestId]);
    expect(t.cloud.faults!.counts()).toEqual({ duplicate: 1 });
  });

  it('delay: the event runs late', async () => {
    useFaults({ functions: { echo: { delay: 1, delayMs: [400, 400] } } });
    const sent = Date.now();
    await invoke(FN.echo, { n: 'late' }, 'Event');
    expect(t.cloud.pendingEvents()).toBe(1);
    const [run] = await waitFor(() => (runsOf(FN.echo, 'late').length ? runsOf(FN.echo, 'late') : undefined), 5_000, 'the late run');
    expect(run!.startedAt - sent).toBeGreaterThanOrEqual(390);
  });

  it('reorder: a held event runs after the next one, which overtakes it', async () => {
    useFaults({ functions: { echo: [{ match: { n: 'first' }, reorder: 1, reorderMs: 5_000 }] } });
    await invoke(FN.echo, { n: 'first' }, 'Event');
    await sleep(100);
    await invoke(FN.echo, { n: 'second' }, 'Event');
    await waitFor(() => runsOf(FN.echo, 'first').length > 0 || undefined, 3_000, 'the held event');
    const order = t.cloud.invocations(FN.echo).filter((r) => /first|second/.test(r.payload)).map((r) => JSON.parse(r.payload).n);
    expect(order).toEqual(['second', 'first']);
    expect(t.cloud.faults!.counts()).toEqual({ reorder: 1 });
  });

  it('throttleEvents: a throttled event waits and is retried without spending an attempt', async () => {
    useFaults({ seed: 3, functions: { [FN.fail]: { throttleEvents: 0.6 } } });
    await invoke(FN.fail, { key: 'throttled-events' }, 'Event');
    const record = await waitFor(() => runsOf(FN.recorder, 'throttled-events').find((r) => r.endedAt), 15_000, 'the failure record');
    expect(t.cloud.faults!.counts().throttleEvents).toBeGreaterThan(0);
    // Three attempts (Lambda's two retries), however often the event was throttled in between.
    expect(runsOf(FN.fail, 'throttled-events')).toHaveLength(3);
    expect(JSON.parse(record.payload)).toMatchObject({ requestContext: { condition: 'RetriesExhausted', approximateInvokeCount: 3 } });
  });
});

describe('invocation faults', () => {
  it('throttle: the Invoke API answers 429 TooManyRequestsException, which the SDK retries', async () => {
    useFaults({ functions: { echo: { throttle: 1 } } });
    const once = new LambdaClient({ endpoint: t.cloud.lambdaEndpoint, region: t.cloud.region, credentials: t.cloud.credentials, maxAttempts: 1 });
    try {
      for (const type of ['RequestResponse', 'Event'] as const) {
        const error = await invoke(FN.echo, { n: 'throttled' }, type, once).catch((e: unknown) => e);
        expect(error).toMatchObject({ name: 'TooManyRequestsException', $metadata: { httpStatusCode: 429 }, Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
      }
      useFaults({ seed: 11, functions: { echo: { throttle: 0.5 } } });
      const patient = new LambdaClient({ endpoint: t.cloud.lambdaEndpoint, region: t.cloud.region, credentials: t.cloud.credentials, maxAttempts: 10 });
      for (let i = 0; i < 4; i++) expect((await invoke(FN.echo, { n: `retried-${i}` }, 'RequestResponse', patient)).StatusCode).toBe(200);
      patient.destroy();
      expect(t.cloud.faults!.counts().throttle).toBeGreaterThan(0);
    } finally {
      once.destroy();
    }
  });

  it('throw: the invocation fails at once with an injected error, and the worker stays', async () => {
    useFaults({ functions: { echo: [{ match: { n: 'boom' }, throw: 1 }] } });
    const warm = json<{ pid: number }>((await invoke(FN.echo, { n: 'fine' })).Payload).pid;
    const out = await invoke(FN.echo, { n: 'boom' });
    expect(out.FunctionError).toBe('Unhandled');
    expect(json(out.Payload)).toMatchObject({ errorType: 'InjectedFault' });
    expect(json<{ pid: number }>((await invoke(FN.echo, { n: 'fine' })).Payload).pid).toBe(warm);
    expect(t.cloud.faults!.counts()).toEqual({ throw: 1 });
  });

  it('crash: the worker process dies mid-invocation (Runtime.ExitError) and a new one takes the next', async () => {
    // The handler sleeps 900 ms (the function's timeout is 1 s); the worker is killed 100 ms in.
    useFaults({ functions: { slow: [{ match: { ms: 900 }, crash: 1, crashWindowMs: [100, 100] }] } });
    const before = json<{ pid: number }>((await invoke(FN.slow, { ms: 0 })).Payload).pid;
    const out = await invoke(FN.slow, { ms: 900 });
    // Mid-invocation: the worker died before the handler could have returned (not after, losing a result).
    const [run] = runsOf(FN.slow, '"ms":900');
    const [crash] = t.cloud.faults!.events();
    expect(crash!.at - run!.startedAt).toBeLessThan(900);
    expect(out.FunctionError).toBe('Unhandled');
    expect(json(out.Payload)).toMatchObject({ errorType: 'Runtime.ExitError' });
    expect(t.cloud.workerPids()).not.toContain(before);
    expect(json<{ pid: number }>((await invoke(FN.slow, { ms: 0 })).Payload).pid).not.toBe(before);
    expect(t.cloud.faults!.counts()).toEqual({ crash: 1 });
  });

  it('crash: a handler that returns before the crash loses its result', async () => {
    useFaults({ functions: { echo: [{ match: { n: 'lost-result' }, crash: 1, crashWindowMs: [5_000, 5_000] }] } });
    const started = Date.now();
    const out = await invoke(FN.echo, { n: 'lost-result' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(json(out.Payload)).toMatchObject({ errorType: 'Runtime.ExitError' });
    expect(t.logs.some((l) => l.startsWith(`[${FN.echo}]`) && l.includes('echo event {"n":"lost-result"}'))).toBe(true);
  });

  it('crashAfter: every worker dies during its (k+1)-th invocation', async () => {
    const fresh = await startFixtureCloud({ faults: { functions: { echo: { crashAfter: 2 } } } });
    try {
      const outcomes: string[] = [];
      for (let i = 0; i < 6; i++) {
        const out = await invoke(FN.echo, { i }, 'RequestResponse', fresh.lambda);
        outcomes.push(out.FunctionError ? json<{ errorType: string }>(out.Payload).errorType : 'ok');
      }
      expect(outcomes).toEqual(['ok', 'ok', 'Runtime.ExitError', 'ok', 'ok', 'Runtime.ExitError']);
      expect(fresh.cloud.faults!.counts()).toEqual({ crashAfter: 2 });
    } finally {
      await fresh.stop();
    }
  });

  it('timeout: the worker freezes and the invocation runs into the function timeout (Sandbox.Timedout)', async () => {
    useFaults({ functions: { slow: [{ match: { ms: 10 }, timeout: 1, crashWindowMs: [0, 0] }] } });
    const started = Date.now();
    const out = await invoke(FN.slow, { ms: 10 });
    const took = Date.now() - started;
    expect(json(out.Payload)).toMatchObject({ errorType: 'Sandbox.Timedout', errorMessage: expect.stringContaining('Task timed out after 1.00 seconds') });
    // The timeout comes from timeoutOverrides (1 s), not the template's.
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(3_000);
    expect(t.cloud.faults!.counts()).toEqual({ timeout: 1 });
  });

  it('match and times: a rule applies to the payloads it matches, as often as it says', async () => {
    useFaults({ functions: { echo: [{ match: { n: 'x' }, throw: 1, times: 2 }] } });
    const errors = [];
    for (let i = 0; i < 4; i++) errors.push((await invoke(FN.echo, { n: 'x' })).FunctionError ?? 'ok');
    expect(errors).toEqual(['Unhandled', 'Unhandled', 'ok', 'ok']);
    expect((await invoke(FN.echo, { n: 'y' })).FunctionError).toBeUndefined();
  });
});

describe('DynamoDB faults', () => {
  const front = () => new DynamoDBClient({ endpoint: t.cloud.faults!.dynamodbEndpoint, region: t.cloud.region, credentials: t.cloud.credentials, maxAttempts: 1 });
  const put = (client: DynamoDBClient, id: string) => client.send(new PutItemCommand({ TableName: ITEMS_TABLE, Item: { id: { S: id } } }));

  it.each([
    ['throughputExceeded', 400, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', 'ProvisionedThroughputExceededException'],
    ['throttling', 400, 'com.amazon.coral.availability#ThrottlingException', 'ThrottlingException'],
    ['internalError', 500, 'com.amazonaws.dynamodb.v20120810#InternalServerError', 'InternalServerError'],
  ] as const)('%s: answers %i with DynamoDB\'s own error body (%s)', async (setting, status, type, name) => {
    useFaults({ dynamodb: { [setting]: 1, internalErrorAfterWrite: 0 } });
    const raw = await fetch(t.cloud.faults!.dynamodbEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' },
      body: '{}',
    });
    expect(raw.status).toBe(status);
    expect(raw.headers.get('x-amzn-requestid')).toMatch(/^[A-Z0-9]{52}$/);
    expect((await raw.json()) as unknown).toMatchObject({ __type: type, message: expect.any(String) });
    const client = front();
    try {
      const error = await put(client, `never-${setting}`).catch((e: unknown) => e);
      expect(error).toMatchObject({ name, $metadata: { httpStatusCode: status } });
      // Nothing was written.
      expect((await t.dynamodb.send(new GetItemCommand({ TableName: ITEMS_TABLE, Key: { id: { S: `never-${setting}` } } }))).Item).toBeUndefined();
    } finally {
      client.destroy();
    }
  });

  it('the SDK retries these errors as it does on AWS', async () => {
    useFaults({ seed: 4, dynamodb: { throughputExceeded: 0.25, throttling: 0.25, internalError: 0.25, internalErrorAfterWrite: 0 } });
    const client = new DynamoDBClient({ endpoint: t.cloud.faults!.dynamodbEndpoint, region: t.cloud.region, credentials: t.cloud.credentials, maxAttempts: 10 });
    try {
      let retried = 0;
      for (let i = 0; i < 6; i++) retried += (await put(client, `retried-${i}`)).$metadata.attempts! - 1;
      const counts = t.cloud.faults!.counts();
      expect(retried).toBe(Object.values(counts).reduce((a, b) => a + b, 0));
      expect(Object.keys(counts).sort()).toEqual(['InternalServerError', 'ProvisionedThroughputExceededException', 'ThrottlingException']);
    } finally {
      client.destroy();
    }
  });

  it('internalErrorAfterWrite: the write happened, the caller sees a 500 (an ambiguous write)', async () => {
    useFaults({ dynamodb: { internalError: 1, internalErrorAfterWrite: 1, operations: ['PutItem'] } });
    const client = front();
    try {
      await expect(put(client, 'ambiguous')).rejects.toMatchObject({ name: 'InternalServerError' });
      const got = await t.dynamodb.send(new GetItemCommand({ TableName: ITEMS_TABLE, Key: { id: { S: 'ambiguous' } } }));
      expect(got.Item).toEqual({ id: { S: 'ambiguous' } });
    } finally {
      client.destroy();
    }
  });

  it('functions reach DynamoDB through the faults', async () => {
    useFaults({ dynamodb: { throttling: 1, operations: ['GetItem'] } });
    const out = await invoke(FN.env, {});
    // The env function's Put works, its Get is throttled on every attempt.
    expect(json(out.Payload)).toMatchObject({ errorType: 'ThrottlingException' });
    expect(t.cloud.faults!.counts().ThrottlingException).toBeGreaterThanOrEqual(3);
  });
});

describe('seeds', () => {
  async function dropped(seed: number): Promise<string[]> {
    useFaults({ seed, functions: { echo: { drop: 0.5 } } });
    for (let i = 0; i < 16; i++) await invoke(FN.echo, { seeded: i }, 'Event');
    return t.cloud.faults!.events().map((e) => e.subject);
  }

  it('the same seed and the same events give the same faults; another seed others', async () => {
    const a = await dropped(21);
    const b = await dropped(21);
    const c = await dropped(22);
    expect(a.length).toBeGreaterThan(0);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });
});

describe('configuration', () => {
  it('rejects a setting it does not know, a rate outside 0..1 and an unknown function', async () => {
    await expect(startLocalCloud({ templatePath: FIXTURE_TEMPLATE, faults: { functions: { echo: { drpo: 1 } as never } } })).rejects.toThrow(/unknown setting\(s\) drpo/);
    await expect(startLocalCloud({ templatePath: FIXTURE_TEMPLATE, faults: { functions: { echo: { crash: 2 } } } })).rejects.toThrow(/crash must be a fraction/);
    await expect(startLocalCloud({ templatePath: FIXTURE_TEMPLATE, faults: { functions: { nope: { crash: 1 } } } })).rejects.toThrow(/no function "nope"/);
    await expect(startLocalCloud({ templatePath: FIXTURE_TEMPLATE, envOverrides: { nope: { A: 'b' } } })).rejects.toThrow(/no function "nope"/);
  });

  it('reads faults, environment overrides and timeouts from LOCAL_CLOUD_* variables (a file or inline JSON)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-cloud-'));
    const envFile = join(dir, 'env.json');
    writeFileSync(envFile, JSON.stringify({ Parameters: { SHARED: 'all' }, env: { ONLY_ENV: 'yes', ITEMS_TABLE_NAME: ITEMS_TABLE } }));
    const saved = { ...process.env };
    Object.assign(process.env, {
      LOCAL_CLOUD_ENV_VARS: envFile,
      LOCAL_CLOUD_TIMEOUTS: JSON.stringify({ env: 2 }),
      LOCAL_CLOUD_FAULTS: JSON.stringify({ functions: { echo: { throw: 1 } } }),
    });
    let fixture: TestCloud | undefined;
    try {
      fixture = await startFixtureCloud();
      const out = json<{ env: Record<string, string>; remainingMs: number }>((await invoke(FN.env, {}, 'RequestResponse', fixture.lambda)).Payload);
      expect(out.env).toMatchObject({ SHARED: 'all', ONLY_ENV: 'yes', ITEMS_TABLE_NAME: ITEMS_TABLE });
      expect(out.remainingMs).toBeLessThanOrEqual(2_000);
      expect((await invoke(FN.echo, {}, 'RequestResponse', fixture.lambda)).FunctionError).toBe('Unhandled');
    } finally {
      process.env = saved;
      await fixture?.stop();
    }
  });

  it('apiThrottling replaces the stage throttling', async () => {
    const fixture = await startFixtureCloud({ apiThrottling: { rateLimit: 1, burstLimit: 2 } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await signedFetch(fixture.cloud, 'GET', 'public/echo')).status);
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await fixture.stop();
    }
  });
});

