// Conformance of the local Lambda Invoke API, through the unmodified SDK client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { close, endpointOf, listen } from '../../local/http.js';
import { LambdaService } from '../../local/lambda/service.js';
import type { FunctionDef } from '../../local/stack.js';
import { FN, ITEMS_TABLE, RECORDS_TABLE, json, startFixtureCloud, text, waitFor, type TestCloud } from './helpers.js';

let t: TestCloud;

beforeAll(async () => {
  process.env.LOCAL_CLOUD_HOST_ONLY_MARKER = 'must-not-leak';
  t = await startFixtureCloud();
});

afterAll(async () => {
  await t?.stop();
});

const invoke = (input: ConstructorParameters<typeof InvokeCommand>[0]) => t.lambda.send(new InvokeCommand(input));

async function invokeError(input: ConstructorParameters<typeof InvokeCommand>[0]): Promise<Error & Record<string, unknown>> {
  try {
    await invoke(input);
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected the invocation to be refused');
}

describe('Lambda Invoke API', () => {
  it('answers a RequestResponse invocation with the function result', async () => {
    const out = await invoke({ FunctionName: FN.echo, Payload: JSON.stringify({ hello: 'world' }) });
    expect(out.StatusCode).toBe(200);
    expect(out.ExecutedVersion).toBe('$LATEST');
    expect(out.FunctionError).toBeUndefined();
    expect(out.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const body = json(out.Payload);
    expect(body.event).toEqual({ hello: 'world' });
    expect(body.awsRequestId).toBe(out.$metadata.requestId);
    expect(body.functionName).toBe(FN.echo);
    expect(body.functionVersion).toBe('$LATEST');
    expect(body.invokedFunctionArn).toBe(`arn:aws:lambda:us-east-1:123456789012:function:${FN.echo}`);
    expect(body.memoryLimitInMB).toBe('256');
    expect(body.logGroupName).toBe(`/aws/lambda/${FN.echo}`);
    expect(body.remainingMs).toBeGreaterThan(2000);
    expect(body.remainingMs).toBeLessThanOrEqual(3000);
  });

  it('queues an Event invocation with 202 and runs it', async () => {
    const key = `event-${Date.now()}`;
    const out = await invoke({ FunctionName: FN.recorder, InvocationType: 'Event', Payload: JSON.stringify({ key }) });
    expect(out.StatusCode).toBe(202);
    expect(out.Payload?.length ?? 0).toBe(0);
    const item = await waitFor(async () => {
      const r = await t.dynamodb.send(new GetItemCommand({ TableName: RECORDS_TABLE, Key: { pk: { S: `record#${key}` }, sk: { S: out.$metadata.requestId! } } }));
      return r.Item;
    }, 10_000, 'the async event to run');
    expect(JSON.parse(item.body!.S!)).toEqual({ key });
  });

  it('answers DryRun with 204 without running the function', async () => {
    const before = t.logs.filter((l) => l.includes(`[${FN.slow}] START`)).length;
    const out = await invoke({ FunctionName: FN.slow, InvocationType: 'DryRun', Payload: '{}' });
    expect(out.StatusCode).toBe(204);
    expect(t.logs.filter((l) => l.includes(`[${FN.slow}] START`)).length).toBe(before);
  });

  it('resolves a function by name, ARN, partial ARN and $LATEST qualifier', async () => {
    const arn = `arn:aws:lambda:us-east-1:123456789012:function:${FN.echo}`;
    for (const input of [
      { FunctionName: FN.echo },
      { FunctionName: arn },
      { FunctionName: `123456789012:function:${FN.echo}` },
      { FunctionName: `${arn}:$LATEST` },
      { FunctionName: FN.echo, Qualifier: '$LATEST' },
    ]) {
      const out = await invoke({ ...input, Payload: '{}' });
      expect(out.StatusCode, input.FunctionName).toBe(200);
    }
  });

  it('answers 404 ResourceNotFoundException for an unknown function in any form', async () => {
    for (const FunctionName of [
      'NoSuchFunction',
      'arn:aws:lambda:us-east-1:123456789012:function:NoSuchFunction',
      '123456789012:function:NoSuchFunction',
      `arn:aws:lambda:eu-west-1:123456789012:function:${FN.echo}`,
      `999999999999:function:${FN.echo}`,
    ]) {
      const err = await invokeError({ FunctionName, Payload: '{}' });
      expect(err.name, FunctionName).toBe('ResourceNotFoundException');
      expect((err.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(404);
      expect(err.Type).toBe('User');
      expect(err.message).toMatch(/^Function not found: arn:aws:lambda:/);
    }
    const qualified = await invokeError({ FunctionName: FN.echo, Qualifier: 'live', Payload: '{}' });
    expect(qualified.name).toBe('ResourceNotFoundException');
  });

  it('refuses a synchronous payload over 6 MB with 413', async () => {
    const payload = JSON.stringify({ pad: 'x'.repeat(6 * 1024 * 1024) });
    const err = await invokeError({ FunctionName: FN.echo, Payload: payload });
    expect(err.name).toBe('RequestTooLargeException');
    expect((err.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(413);
  });

  it('refuses an asynchronous payload over 1 MB with 413 and accepts one just under', async () => {
    const over = JSON.stringify({ pad: 'x'.repeat(1024 * 1024) });
    const err = await invokeError({ FunctionName: FN.echo, InvocationType: 'Event', Payload: over });
    expect(err.name).toBe('RequestTooLargeException');
    expect((err.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(413);
    const under = JSON.stringify({ pad: 'x'.repeat(1024 * 1024 - 100) });
    expect((await invoke({ FunctionName: FN.echo, InvocationType: 'Event', Payload: under })).StatusCode).toBe(202);
  });

  it('throttles a synchronous call with 429 when reserved concurrency is in use', async () => {
    const busy = invoke({ FunctionName: FN.slow, Payload: JSON.stringify({ ms: 700 }) });
    await waitFor(() => t.logs.some((l) => l.includes(`[${FN.slow}] START`)) || undefined, 5_000, 'the first call to start');
    const err = await invokeError({ FunctionName: FN.slow, Payload: JSON.stringify({ ms: 0 }) });
    expect(err.name).toBe('TooManyRequestsException');
    expect((err.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(429);
    expect(err.Reason).toBe('ReservedFunctionConcurrentInvocationLimitExceeded');
    expect((await busy).StatusCode).toBe(200);
  });

  it('reports a thrown error with X-Amz-Function-Error and the runtime error shape', async () => {
    const out = await invoke({ FunctionName: FN.fail, Payload: '{}' });
    expect(out.StatusCode).toBe(200);
    expect(out.FunctionError).toBe('Unhandled');
    const body = json<{ errorType: string; errorMessage: string; trace: string[] }>(out.Payload);
    expect(body.errorType).toBe('CustomError');
    expect(body.errorMessage).toBe('failing on purpose: no key');
    expect(Array.isArray(body.trace)).toBe(true);
    expect(body.trace[0]).toBe('CustomError: failing on purpose: no key');
  });

  it('reports an error thrown while the handler module loads, and initialises again on the next call', async () => {
    for (let i = 0; i < 2; i++) {
      const out = await invoke({ FunctionName: FN.broken, Payload: '{}' });
      expect(out.FunctionError).toBe('Unhandled');
      expect(json(out.Payload)).toMatchObject({ errorType: 'TypeError', errorMessage: 'cannot initialise' });
    }
    const reports = t.logs.filter((l) => l.startsWith(`[${FN.broken}] INIT_REPORT`));
    expect(reports).toHaveLength(2);
    expect(reports[0]).toContain('Status: error\tError Type: TypeError');
  });

  it('fails an invocation past its timeout and replaces the worker', async () => {
    const before = json<{ pid: number }>((await invoke({ FunctionName: FN.slow, Payload: '{"ms":0}' })).Payload).pid;
    const out = await invoke({ FunctionName: FN.slow, Payload: JSON.stringify({ ms: 5_000 }) });
    expect(out.FunctionError).toBe('Unhandled');
    const body = json<{ errorType: string; errorMessage: string }>(out.Payload);
    expect(body.errorType).toBe('Sandbox.Timedout');
    expect(body.errorMessage).toBe(`RequestId: ${out.$metadata.requestId} Error: Task timed out after 1.00 seconds`);
    const after = json<{ pid: number }>((await invoke({ FunctionName: FN.slow, Payload: '{"ms":0}' })).Payload).pid;
    expect(after).not.toBe(before);
  });

  it('returns the tail of the log with LogType Tail', async () => {
    const out = await invoke({ FunctionName: FN.echo, Payload: JSON.stringify({ tail: true }), LogType: 'Tail' });
    const log = Buffer.from(out.LogResult!, 'base64').toString('utf8');
    const id = out.$metadata.requestId!;
    expect(log).toContain(`START RequestId: ${id} Version: $LATEST`);
    expect(log).toMatch(new RegExp(`\\d{4}-\\d\\d-\\d\\dT[^\\t]+\\t${id}\\tINFO\\techo event {"tail":true}`));
    expect(log).toContain(`END RequestId: ${id}`);
    expect(log).toMatch(new RegExp(`REPORT RequestId: ${id}\\tDuration: [\\d.]+ ms\\tBilled Duration: \\d+ ms\\tMemory Size: 256 MB`));
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(4096);
    const plain = await invoke({ FunctionName: FN.echo, Payload: '{}' });
    expect(plain.LogResult).toBeUndefined();
  });

  it('fails a response over 6 MB like Lambda', async () => {
    const out = await invoke({ FunctionName: FN.echo, Payload: JSON.stringify({ responseBytes: 6 * 1024 * 1024 + 10 }) });
    expect(out.FunctionError).toBe('Unhandled');
    expect(json(out.Payload).errorType).toBe('Function.ResponseSizeTooLarge');
  });

  it('refuses a payload that is not JSON', async () => {
    const err = await invokeError({ FunctionName: FN.echo, Payload: 'not json' });
    expect(err.name).toBe('InvalidRequestContentException');
    expect((err.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(400);
  });

  it('gives the function its resolved environment, Lambda variables and the local endpoints', async () => {
    const out = await invoke({ FunctionName: FN.env, Payload: '{}' });
    expect(out.FunctionError, text(out.Payload)).toBeUndefined();
    const body = json<{ env: Record<string, string>; item: unknown; echo: { event: unknown; functionName: string }; cwd: string; remainingMs: number }>(out.Payload);
    const env = body.env;
    expect(env).toMatchObject({
      TABLE_NAME: RECORDS_TABLE,
      ITEMS_TABLE_NAME: ITEMS_TABLE,
      TABLE_ARN: `arn:aws:dynamodb:us-east-1:123456789012:table/${RECORDS_TABLE}`,
      ECHO_FUNCTION_NAME: FN.echo,
      ECHO_FUNCTION_ARN: `arn:aws:lambda:us-east-1:123456789012:function:${FN.echo}`,
      QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/FailuresQueue1F2E3D4C',
      JOINED: 'arn:aws:s3:::bucket-us-east-1-123456789012',
      SUBBED: `Fixture/${FN.echo}/arn:aws:lambda:us-east-1:123456789012:function:${FN.echo}`,
      PLAIN: '42',
      AWS_LAMBDA_FUNCTION_NAME: FN.env,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${FN.env}`,
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
      AWS_ENDPOINT_URL_LAMBDA: t.cloud.lambdaEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: t.cloud.functionsDynamodbEndpoint,
    });
    expect(env.AWS_ACCESS_KEY_ID).toBeTruthy();
    expect(env.AWS_SECRET_ACCESS_KEY).toBeTruthy();
    expect(env.AWS_SESSION_TOKEN).toBeTruthy();
    expect(env.LOCAL_CLOUD_HOST_ONLY_MARKER).toBeUndefined();
    expect(body.cwd).toBe(env.LAMBDA_TASK_ROOT);
    expect(body.remainingMs).toBeGreaterThan(5_000);
    // The handler reached DynamoDB and Lambda with the SDK's default configuration.
    expect(body.item).toEqual({ id: { S: out.$metadata.requestId }, via: { S: 'env-fn' } });
    expect(body.echo.event).toEqual({ from: 'env' });
    expect(body.echo.functionName).toBe(FN.echo);
  });
});

describe('Lambda service errors', () => {
  it('marks its own failures Type "Service" (ServiceException) and the caller\'s Type "User"', async () => {
    const def: FunctionDef = {
      logicalId: 'Stopped',
      name: 'Stopped',
      friendlyName: 'stopped',
      arn: 'arn:aws:lambda:us-east-1:123456789012:function:Stopped',
      runtime: 'nodejs20.x',
      codeDir: tmpdir(),
      handler: 'index.handler',
      timeoutSeconds: 3,
      memoryMb: 128,
      environment: {},
      async: { maxRetries: 0, maxEventAgeSeconds: 60 },
    };
    const service = new LambdaService([def], [], () => ({}), { log: () => undefined, retryDelayMs: 10, defaultConcurrency: 1 });
    await service.stop();
    const server = await listen(service.handle);
    const lambda = new LambdaClient({ endpoint: endpointOf(server), region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    try {
      const call = (FunctionName: string) => lambda.send(new InvokeCommand({ FunctionName, Payload: '{}' })).then(() => undefined, (err: Error & Record<string, unknown>) => err);
      const stopped = (await call('Stopped'))!;
      expect(stopped.name).toBe('ServiceException');
      expect(stopped.$fault).toBe('server');
      expect(stopped.Type).toBe('Service');
      const missing = (await call('Nope'))!;
      expect(missing.name).toBe('ResourceNotFoundException');
      expect(missing.$fault).toBe('client');
      expect(missing.Type).toBe('User');
    } finally {
      lambda.destroy();
      await close(server);
    }
  });
});
