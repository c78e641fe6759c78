import { InvokeCommand, LambdaClient, type InvokeCommandInput } from '@aws-sdk/client-lambda';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { TEST_CREDENTIALS, type TestTable } from './dynalite.js';
import { variablesFor, type FunctionSettings } from './function-env.js';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/** The principal the in-process API reports when a test names none. */
export const IN_PROCESS_CALLER = 'arn:aws:iam::123456789012:user/in-process';

export interface InProcessStack {
  /** Sends an API Gateway proxy event to the orchestrator, as the REST API would. */
  /** `caller`: the IAM principal (user ARN) the request comes from; IN_PROCESS_CALLER by default. */
  api(
    method: string,
    resource: string,
    options?: { body?: string; id?: string; headers?: Record<string, string>; caller?: string },
  ): Promise<APIGatewayProxyResult & { json: any }>;
  /** Resolves when every queued async invocation (and what it started) has finished. */
  settle(): Promise<void>;
  /** Async events seen per function name. */
  asyncEvents: Record<string, unknown[]>;
  /** The most async runs of each function that were running at once. */
  peakAsyncRuns: Record<string, number>;
  /**
   * Decides the fate of an async event: 'drop' accepts it (202) and never runs it, as when Lambda loses
   * it; 'fail' sends the on-failure destination the record Lambda sends when retries are exhausted.
   */
  asyncFault: (functionName: string, payload: any) => 'drop' | 'fail' | undefined;
  restore(): void;
}

const FUNCTIONS = { orchestrator: 'orchestrator', sampler: 'sampler', progress: 'progress' } as const;

/** The stack's on-failure destinations (EventInvokeConfig): a sampler that fails for good is reported to progress. */
const ON_FAILURE: Record<string, string> = { [FUNCTIONS.sampler]: FUNCTIONS.progress };

function destinationRecord(functionName: string, payload: unknown) {
  return {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: {
      requestId: crypto.randomUUID(),
      functionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload: payload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType: 'Error', errorMessage: 'injected failure', trace: [] },
  };
}

function context(functionName: string): Context {
  return {
    functionName,
    awsRequestId: crypto.randomUUID(),
    getRemainingTimeInMillis: () => 900_000,
  } as unknown as Context;
}

/**
 * The three real handlers in one process against a real dynalite table, with Lambda's Invoke API
 * stood in for at the SDK edge: Event invocations are queued and run, RequestResponse invocations
 * call the handler and return its result or its error as Lambda would.
 */
export async function startInProcessStack(table: TestTable, settings: FunctionSettings = {}): Promise<InProcessStack> {
  // The three handlers share this process's environment: every function's settings at once.
  const functions = variablesFor({
    orchestrator: {
      tableName: table.tableName,
      samplerFunctionName: FUNCTIONS.sampler,
      maxTasks: 1000,
      maxSamples: 1e12,
      maxSamplesPerTask: 1e10,
      jobTimeoutSeconds: 60,
      estimateWaitSeconds: 20,
      samplerConcurrency: 100,
      reportIntervalMs: 1000,
      samplerMaxEventAgeSeconds: 60,
      maxRunningJobs: 50,
      maxRunningJobsPerCaller: 50,
      partitionWriteUnitsPerSecond: 1000,
      pollIntervalMs: 20,
      taskRestarts: 2,
      stallSeconds: 60,
      jobTtlDays: 7,
      functionName: FUNCTIONS.orchestrator,
      ...settings.orchestrator,
    },
    sampler: { progressFunctionName: FUNCTIONS.progress, reportIntervalMs: 1000, ...settings.sampler },
    progress: { tableName: table.tableName, ...settings.progress },
  });
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
    // Powertools writes past the test runner's console: keep its lines out of the test output (the
    // functions' logs and metrics are checked on the local cloud, test/e2e/logs.test.ts).
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...functions.orchestrator,
    ...functions.sampler,
    ...functions.progress,
  });
  const handlers: Record<string, Handler> = {
    [FUNCTIONS.orchestrator]: (await import('../../functions/orchestrator/handler.js')).handler as Handler,
    [FUNCTIONS.sampler]: (await import('../../functions/sampler/handler.js')).handler as Handler,
    [FUNCTIONS.progress]: (await import('../../functions/progress/handler.js')).handler as Handler,
  };
  const pending = new Set<Promise<unknown>>();
  const asyncEvents: Record<string, unknown[]> = {};
  const running: Record<string, number> = {};
  const peakAsyncRuns: Record<string, number> = {};
  const lambda = mockClient(LambdaClient);
  lambda.on(InvokeCommand).callsFake(async (input: InvokeCommandInput) => {
    const name = input.FunctionName!;
    const handler = handlers[name];
    if (!handler) throw Object.assign(new Error(`Function not found: ${name}`), { name: 'ResourceNotFoundException' });
    const payload = JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'));
    if (input.InvocationType === 'Event') {
      (asyncEvents[name] ??= []).push(payload);
      const fault = stack.asyncFault(name, payload);
      if (fault === 'drop') return { StatusCode: 202 };
      if (fault === 'fail') {
        const destination = ON_FAILURE[name];
        if (destination) {
          const record = destinationRecord(name, payload);
          const tracked = handlers[destination]!(record, context(destination))
            .catch((error) => console.error(`destination ${destination} failed`, error))
            .finally(() => pending.delete(tracked));
          pending.add(tracked);
        }
        return { StatusCode: 202 };
      }
      const run = new Promise((resolve) => setImmediate(resolve)).then(async () => {
        running[name] = (running[name] ?? 0) + 1;
        peakAsyncRuns[name] = Math.max(peakAsyncRuns[name] ?? 0, running[name]);
        try {
          return await handler(payload, context(name));
        } finally {
          running[name]--;
        }
      });
      const tracked = run.catch((error) => console.error(`async ${name} failed`, error)).finally(() => pending.delete(tracked));
      pending.add(tracked);
      return { StatusCode: 202 };
    }
    try {
      const result = await handler(payload, context(name));
      return { StatusCode: 200, Payload: Buffer.from(JSON.stringify(result ?? null)) };
    } catch (error) {
      const err = error as Error;
      const body = { errorType: err.name, errorMessage: err.message, trace: [] };
      return { StatusCode: 200, FunctionError: 'Unhandled', Payload: Buffer.from(JSON.stringify(body)) };
    }
  });

  const stack: InProcessStack = {
    asyncEvents,
    peakAsyncRuns,
    asyncFault: () => undefined,
    async api(method, resource, options = {}) {
      const path = resource.replace('{id}', options.id ?? '');
      const event = {
        httpMethod: method,
        resource,
        path,
        headers: options.headers ?? {},
        pathParameters: options.id === undefined ? null : { id: options.id },
        body: options.body ?? null,
        isBase64Encoded: false,
        requestContext: {
          path: `/prod${path}`,
          stage: 'prod',
          requestTimeEpoch: Date.now(),
          identity: { userArn: options.caller ?? IN_PROCESS_CALLER, caller: 'AIDAINPROCESSCALLER0' },
        },
      } as unknown as APIGatewayProxyEvent;
      const result = (await handlers[FUNCTIONS.orchestrator]!(event, context(FUNCTIONS.orchestrator))) as APIGatewayProxyResult;
      return { ...result, json: JSON.parse(result.body) };
    },
    async settle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    restore: () => lambda.restore(),
  };
  return stack;
}
