// The Lambda service: the functions' runtimes and the Invoke API over HTTP (what
// @aws-sdk/client-lambda calls through AWS_ENDPOINT_URL_LAMBDA); asynchronous events
// go through the event queue (async-queue.ts).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ACCOUNT_ID, REGION, lambdaArn } from '../template.js';
import type { FunctionDef, QueueDef } from '../stack.js';
import { headerValue as header, readBody } from '../http.js';
import { FunctionRuntime, StoppedError, ThrottledError, type InvocationResult } from './runtime.js';
import { AsyncQueue, parseOr } from './async-queue.js';
import { Account, type ConcurrencyCounters, type ThrottleReason } from './concurrency.js';
import type { FaultInjector } from '../faults/injector.js';
import { warning } from '../log.js';
import { LocalMetrics } from './emf.js';

export type { DestinationRecord } from './async-queue.js';

export const SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024;
export const ASYNC_PAYLOAD_LIMIT = 1024 * 1024;
/** Lambda's limit on a synchronous response. */
const RESPONSE_PAYLOAD_LIMIT = 6 * 1024 * 1024;
/** Reading stops keeping bytes past this; the request still gets its 413. */
const READ_LIMIT = SYNC_PAYLOAD_LIMIT + 1;
const LOG_TAIL_BYTES = 4096;
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;

export interface LambdaServiceOptions {
  log: (line: string) => void;
  /** First retry delay of a failed async event; the second waits twice as long. */
  retryDelayMs: number;
  /** Concurrency cap of functions without reserved concurrency, when quotas are off (with quotas, they share the account's pool). */
  defaultConcurrency: number;
  /** The account, with its quotas (none by default: no account-wide limit, no throttle backoff). */
  account?: Account;
  /** Worker processes of a function (beyond which invocations admitted wait for one); DEFAULT_MAX_WORKERS by default. */
  maxWorkersPerFunction?: (def: FunctionDef) => number;
  /** Breaks chosen events and invocations. */
  faults?: FaultInjector;
  /** The Node.js binary a function's workers run on; the host's by default. */
  nodeFor?: (def: FunctionDef) => string;
}

class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class LambdaService {
  readonly runtimes = new Map<string, FunctionRuntime>();
  readonly account: Account;
  /** The metrics the functions wrote as EMF lines. */
  readonly metrics: LocalMetrics;
  private readonly events: AsyncQueue;

  constructor(
    functions: FunctionDef[],
    queues: QueueDef[],
    envFor: (def: FunctionDef) => Record<string, string>,
    private readonly opts: LambdaServiceOptions,
  ) {
    this.account = opts.account ?? new Account(undefined, functions);
    const quotas = this.account.quotas;
    this.events = new AsyncQueue(queues, {
      log: opts.log,
      retryDelayMs: opts.retryDelayMs,
      ...(quotas && { throttleBackoff: { minMs: quotas.throttleBackoffMinMs, maxMs: quotas.throttleBackoffMaxMs } }),
      ...(opts.faults && { faults: opts.faults }),
      find: (identifier) => this.find(identifier),
    });
    this.metrics = new LocalMetrics((text) => opts.log(warning(text)));
    for (const def of functions) {
      const rt = new FunctionRuntime(def, envFor(def), opts.log, opts.defaultConcurrency, opts.maxWorkersPerFunction?.(def), this.account);
      rt.metrics = this.metrics;
      rt.onSlotFree = () => this.events.pump(rt);
      if (opts.faults) rt.faults = opts.faults;
      if (opts.nodeFor) rt.nodePath = opts.nodeFor(def);
      this.runtimes.set(def.name, rt);
    }
  }

  /** Finds a function by name, full ARN or partial ARN (`123456789012:function:name`), optionally qualified. */
  find(identifier: string, qualifier?: string): FunctionRuntime | undefined {
    const m = /^(?:(?:arn:[a-z-]+:lambda:([a-z0-9-]+):)?(\d{12}):function:)?([A-Za-z0-9_.-]+)(?::([$A-Za-z0-9_-]+))?$/.exec(identifier);
    if (!m) return undefined;
    const [, region, account, name, suffix] = m;
    if (region !== undefined && region !== REGION) return undefined;
    if (account !== undefined && account !== ACCOUNT_ID) return undefined;
    if (suffix !== undefined && qualifier !== undefined && suffix !== qualifier) return undefined;
    const version = suffix ?? qualifier;
    if (version !== undefined && version !== '$LATEST') return undefined;
    return this.runtimes.get(name!);
  }

  /** Runs a synchronous invocation (RequestResponse). */
  invokeSync(rt: FunctionRuntime, payload: string, opts: { clientContext?: unknown; requestId?: string } = {}): Promise<InvocationResult> {
    if (this.opts.faults?.throttleInvoke(rt.def, payload)) return Promise.reject(new ThrottledError('Rate Exceeded.'));
    return rt.invoke({
      requestId: opts.requestId ?? randomUUID(),
      payload,
      clientContext: opts.clientContext,
      throttleWhenFull: true,
    });
  }

  /** Peak concurrency and throttles of the account and of each function (by logical id), since the last reset. */
  quotaCounters(): { account: ConcurrencyCounters; functions: Record<string, ConcurrencyCounters & { invocations: number }> } {
    const functions = Object.fromEntries([...this.runtimes.values()].map((rt) => [rt.def.logicalId, { ...rt.counters }]));
    return { account: { ...this.account.counters }, functions };
  }

  resetQuotaCounters(): void {
    this.account.reset();
    for (const rt of this.runtimes.values()) rt.resetCounters();
  }

  /** Queues an asynchronous invocation (Event) and returns its request id. */
  enqueue(rt: FunctionRuntime, payload: string, requestId: string = randomUUID()): string {
    return this.events.enqueue(rt, payload, requestId);
  }

  /** Messages recorded for an SQS queue (on-failure destination or dead-letter queue), by logical id or name. */
  deadLetters(queue: string): unknown[] {
    return this.events.deadLetters(queue);
  }

  /** Number of async events waiting or scheduled for a retry, across functions. */
  pendingEvents(): number {
    return this.events.pendingEvents();
  }

  async stop(): Promise<void> {
    this.events.stop();
    await Promise.all([...this.runtimes.values()].map((rt) => rt.stop()));
  }

  // ---- HTTP: the Invoke API ----

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.serve(req, res).catch((err: unknown) => {
      if (err instanceof ServiceError) {
        sendError(res, err);
      } else if (err instanceof StoppedError) {
        sendError(res, new ServiceError(503, 'ServiceException', 'The local cloud is stopping.'));
      } else {
        this.opts.log(`[lambda] internal error: ${(err as Error).stack ?? String(err)}`);
        sendError(res, new ServiceError(500, 'ServiceException', String(err)));
      }
    });
  };

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = INVOKE_PATH.exec(url.pathname);
    if (!match || req.method !== 'POST') {
      await readBody(req, 0);
      throw new ServiceError(404, 'UnknownOperationException', `Unknown operation ${req.method} ${url.pathname}`);
    }
    const identifier = decodeURIComponent(match[1]!);
    const qualifier = url.searchParams.get('Qualifier') ?? undefined;
    const { body, size } = await readBody(req, READ_LIMIT);
    const rt = this.find(identifier, qualifier);
    if (!rt) {
      const name = identifier.includes(':function:') ? identifier.split(':function:')[1]! : identifier;
      const arn = lambdaArn(name.split(':')[0]!) + (qualifier ? `:${qualifier}` : '');
      throw new ServiceError(404, 'ResourceNotFoundException', `Function not found: ${arn}`);
    }
    const type = header(req, 'x-amz-invocation-type') ?? 'RequestResponse';
    if (!['RequestResponse', 'Event', 'DryRun'].includes(type)) {
      throw new ServiceError(400, 'InvalidParameterValueException', `1 validation error detected: Value '${type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`);
    }
    const limit = type === 'Event' ? ASYNC_PAYLOAD_LIMIT : SYNC_PAYLOAD_LIMIT;
    if (size > limit) {
      throw new ServiceError(413, 'RequestTooLargeException', `Request must be smaller than ${limit} bytes for the InvokeFunction operation`);
    }
    const payload = size === 0 ? '{}' : body.toString('utf8');
    try {
      JSON.parse(payload);
    } catch (err) {
      throw new ServiceError(400, 'InvalidRequestContentException', `Could not parse request body into json: ${(err as Error).message}`);
    }
    const base = { 'X-Amz-Executed-Version': '$LATEST' };
    if (type === 'DryRun') {
      reply(res, 204, { ...base, 'x-amzn-RequestId': randomUUID() });
      return;
    }
    if (type === 'Event') {
      if (this.opts.faults?.throttleInvoke(rt.def, payload)) throw throttled();
      const requestId = this.enqueue(rt, payload);
      reply(res, 202, { ...base, 'x-amzn-RequestId': requestId });
      return;
    }
    let clientContext: unknown;
    const cc = header(req, 'x-amz-client-context');
    if (cc) clientContext = parseOr(Buffer.from(cc, 'base64').toString('utf8'));
    let result: InvocationResult;
    try {
      result = await this.invokeSync(rt, payload, { clientContext });
    } catch (err) {
      if (err instanceof ThrottledError) throw throttled(err.reason);
      throw err;
    }
    let out = result.payload;
    let functionError = !result.ok;
    if (Buffer.byteLength(out) > RESPONSE_PAYLOAD_LIMIT) {
      out = JSON.stringify({ errorType: 'Function.ResponseSizeTooLarge', errorMessage: `Response payload size exceeded maximum allowed payload size (${RESPONSE_PAYLOAD_LIMIT} bytes).` });
      functionError = true;
    }
    const headers: Record<string, string> = { ...base, 'x-amzn-RequestId': result.requestId, 'Content-Type': 'application/json' };
    if (functionError) headers['X-Amz-Function-Error'] = 'Unhandled';
    if (header(req, 'x-amz-log-type') === 'Tail') headers['X-Amz-Log-Result'] = tail(result.log);
    reply(res, 200, headers, out);
  }
}

/** AWS's 429; an injected throttle looks like a full reservation. */
function throttled(reason: ThrottleReason = 'ReservedFunctionConcurrentInvocationLimitExceeded'): ServiceError {
  return new ServiceError(429, 'TooManyRequestsException', 'Rate Exceeded.', { Reason: reason });
}

function tail(log: string): string {
  const bytes = Buffer.from(log, 'utf8');
  return bytes.subarray(Math.max(0, bytes.length - LOG_TAIL_BYTES)).toString('base64');
}

function reply(res: ServerResponse, status: number, headers: Record<string, string>, body?: string): void {
  const data = body === undefined ? undefined : Buffer.from(body, 'utf8');
  res.writeHead(status, { ...headers, 'Content-Length': String(data?.length ?? 0) });
  res.end(data);
}

function sendError(res: ServerResponse, err: ServiceError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  reply(
    res,
    err.status,
    { 'x-amzn-RequestId': randomUUID(), 'x-amzn-ErrorType': err.type, 'Content-Type': 'application/json' },
    // Lambda marks who is at fault: `User` for the caller's errors (4xx), `Service` for its own (ServiceException, 5xx).
    JSON.stringify({ ...err.extra, Type: err.status >= 500 ? 'Service' : 'User', message: err.message }),
  );
}
