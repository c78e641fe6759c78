// The Lambda service: the Invoke API over HTTP (what @aws-sdk/client-lambda
// calls through AWS_ENDPOINT_URL_LAMBDA), the asynchronous event queue with
// retries, maximum event age and destinations.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ACCOUNT_ID, REGION, lambdaArn } from '../template.js';
import type { FunctionDef, QueueDef } from '../stack.js';
import { FunctionRuntime, StoppedError, ThrottledError, type InvocationResult } from './runtime.js';
import type { EventCopy, FaultInjector } from '../faults/injector.js';

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
  /** Concurrency cap of functions without reserved concurrency. */
  defaultConcurrency: number;
  /** Worker processes of a function at most; invocations admitted beyond it wait for a worker. */
  maxWorkersPerFunction?: (def: FunctionDef) => number;
  /** Breaks chosen events and invocations. */
  faults?: FaultInjector;
}

/** What an on-failure or on-success destination receives. */
export interface DestinationRecord {
  version: '1.0';
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'Success' | 'RetriesExhausted' | 'EventAgeExceeded';
    approximateInvokeCount: number;
  };
  requestPayload: unknown;
  responseContext?: { statusCode: number; executedVersion: string; functionError?: string };
  responsePayload?: unknown;
}

interface AsyncEvent {
  requestId: string;
  payload: string;
  enqueuedAt: number;
  attempts: number;
  last?: InvocationResult;
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
  private readonly queues = new Map<string, AsyncEvent[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Events held back by a reorder fault, by function, until a later event overtakes them. */
  private readonly held = new Map<string, { event: AsyncEvent; timer: NodeJS.Timeout }[]>();
  private readonly letters = new Map<string, unknown[]>();
  private readonly queueDefs: QueueDef[];
  private stopped = false;

  constructor(
    functions: FunctionDef[],
    queues: QueueDef[],
    envFor: (def: FunctionDef) => Record<string, string>,
    private readonly opts: LambdaServiceOptions,
  ) {
    this.queueDefs = queues;
    for (const def of functions) {
      const rt = new FunctionRuntime(def, envFor(def), opts.log, opts.defaultConcurrency, opts.maxWorkersPerFunction?.(def));
      rt.onSlotFree = () => this.pump(rt);
      if (opts.faults) rt.faults = opts.faults;
      this.runtimes.set(def.name, rt);
      this.queues.set(def.name, []);
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
      // A function with reserved concurrency throttles sync callers; an unreserved one only has
      // the local cap, which AWS would not enforce, so callers wait for a worker instead.
      throttleWhenFull: rt.def.reservedConcurrency !== undefined,
    });
  }

  /** Queues an asynchronous invocation (Event) and returns its request id. */
  enqueue(rt: FunctionRuntime, payload: string, requestId: string = randomUUID()): string {
    if (rt.capacity === 0) {
      // Reserved concurrency 0: Lambda sends async events straight to the failure destination.
      this.fail(rt, { requestId, payload, enqueuedAt: Date.now(), attempts: 0 }, 'RetriesExhausted');
      return requestId;
    }
    const plan = this.opts.faults?.planEvent(rt.def, payload) ?? { drop: false, copies: [{ delayMs: 0 }] };
    if (plan.drop) {
      this.opts.log(`[${rt.def.name}] ${requestId} async event lost (injected fault)`);
      return requestId;
    }
    const enqueuedAt = Date.now();
    for (const copy of plan.copies) this.admit(rt, { requestId, payload, enqueuedAt, attempts: 0 }, copy);
    return requestId;
  }

  /** Queues an accepted event, late or held back when a fault says so. */
  private admit(rt: FunctionRuntime, event: AsyncEvent, copy: EventCopy): void {
    if (this.stopped) return;
    if (copy.delayMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.admit(rt, event, { ...copy, delayMs: 0 });
      }, copy.delayMs);
      this.timers.add(timer);
      return;
    }
    const held = this.held.get(rt.def.name) ?? [];
    this.held.set(rt.def.name, held);
    if (copy.reorderMs !== undefined) {
      const entry = {
        event,
        timer: setTimeout(() => {
          const i = held.indexOf(entry);
          if (i < 0) return;
          held.splice(i, 1);
          this.queues.get(rt.def.name)!.push(event);
          this.pump(rt);
        }, copy.reorderMs),
      };
      held.push(entry);
      return;
    }
    const queue = this.queues.get(rt.def.name)!;
    queue.push(event);
    // Events held back go after the one that overtook them.
    for (const entry of held.splice(0)) {
      clearTimeout(entry.timer);
      queue.push(entry.event);
    }
    this.pump(rt);
  }

  /** Messages recorded for an SQS queue (on-failure destination or dead-letter queue), by logical id or name. */
  deadLetters(queue: string): unknown[] {
    const def = this.queueDefs.find((q) => q.logicalId === queue || q.name === queue || q.arn === queue);
    return [...(this.letters.get(def?.arn ?? queue) ?? [])];
  }

  /** Number of async events waiting or scheduled for a retry, across functions. */
  pendingEvents(): number {
    let n = this.timers.size;
    for (const q of this.queues.values()) n += q.length;
    for (const h of this.held.values()) n += h.length;
    return n;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const h of this.held.values()) for (const entry of h.splice(0)) clearTimeout(entry.timer);
    await Promise.all([...this.runtimes.values()].map((rt) => rt.stop()));
  }

  // ---- async delivery ----

  private pump(rt: FunctionRuntime): void {
    const queue = this.queues.get(rt.def.name)!;
    while (!this.stopped && queue.length > 0 && rt.hasFreeSlot()) {
      const event = queue.shift()!;
      if (Date.now() - event.enqueuedAt > rt.def.async.maxEventAgeSeconds * 1000) {
        this.fail(rt, event, 'EventAgeExceeded');
        continue;
      }
      if (this.opts.faults?.throttleEvent(rt.def, event.payload)) {
        // A throttled event goes back to the queue without spending an attempt, until its maximum age.
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          queue.push(event);
          this.pump(rt);
        }, this.opts.retryDelayMs);
        this.timers.add(timer);
        continue;
      }
      event.attempts++;
      rt.invoke({ requestId: event.requestId, payload: event.payload, throttleWhenFull: false }).then(
        (result) => this.settled(rt, event, result),
        (err: unknown) => {
          if (!(err instanceof StoppedError)) this.opts.log(`[${rt.def.name}] ${event.requestId} async delivery failed: ${String(err)}`);
        },
      );
    }
  }

  private settled(rt: FunctionRuntime, event: AsyncEvent, result: InvocationResult): void {
    if (this.stopped) return;
    event.last = result;
    if (result.ok) {
      if (rt.def.async.onSuccess) this.deliver(rt, rt.def.async.onSuccess, this.record(rt, event, 'Success'));
      return;
    }
    if (event.attempts <= rt.def.async.maxRetries) {
      // Lambda waits longer before each retry (1 min, then 2 min); scaled down locally.
      const delay = this.opts.retryDelayMs * 2 ** (event.attempts - 1);
      this.opts.log(`[${rt.def.name}] ${event.requestId} async attempt ${event.attempts} failed, retrying in ${delay} ms`);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.queues.get(rt.def.name)!.push(event);
        this.pump(rt);
      }, delay);
      this.timers.add(timer);
      return;
    }
    this.fail(rt, event, 'RetriesExhausted');
  }

  private fail(rt: FunctionRuntime, event: AsyncEvent, condition: 'RetriesExhausted' | 'EventAgeExceeded'): void {
    this.opts.log(`[${rt.def.name}] ${event.requestId} async event discarded (${condition}) after ${event.attempts} attempt(s)`);
    if (rt.def.async.onFailure) this.deliver(rt, rt.def.async.onFailure, this.record(rt, event, condition));
    if (rt.def.deadLetterArn) this.deliverRaw(rt.def.deadLetterArn, event.payload, rt.def.name);
  }

  private record(rt: FunctionRuntime, event: AsyncEvent, condition: DestinationRecord['requestContext']['condition']): DestinationRecord {
    const rec: DestinationRecord = {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId: event.requestId,
        functionArn: `${rt.def.arn}:$LATEST`,
        condition,
        approximateInvokeCount: event.attempts,
      },
      requestPayload: parseOr(event.payload),
    };
    if (event.last) {
      rec.responseContext = event.last.ok
        ? { statusCode: 200, executedVersion: '$LATEST' }
        : { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' };
      rec.responsePayload = parseOr(event.last.payload);
    }
    return rec;
  }

  private deliver(rt: FunctionRuntime, destination: string, record: DestinationRecord): void {
    const target = this.find(destination);
    const body = JSON.stringify(record);
    if (target) {
      this.opts.log(`[${rt.def.name}] ${record.requestContext.requestId} ${record.requestContext.condition} record sent to function ${target.def.name}`);
      // Lambda invokes a function destination asynchronously.
      this.enqueue(target, body);
      return;
    }
    this.deliverRaw(destination, body, rt.def.name);
  }

  private deliverRaw(destination: string, body: string, from: string): void {
    const list = this.letters.get(destination) ?? [];
    list.push(parseOr(body));
    this.letters.set(destination, list);
    const queue = this.queueDefs.find((q) => q.arn === destination);
    this.opts.log(`[${from}] message recorded for ${queue ? `SQS queue ${queue.logicalId}` : destination}: ${truncate(body, 500)}`);
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
      await readBody(req);
      throw new ServiceError(404, 'UnknownOperationException', `Unknown operation ${req.method} ${url.pathname}`);
    }
    const identifier = decodeURIComponent(match[1]!);
    const qualifier = url.searchParams.get('Qualifier') ?? undefined;
    const { body, size } = await readBody(req);
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
      if (err instanceof ThrottledError) throw throttled();
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

function throttled(): ServiceError {
  return new ServiceError(429, 'TooManyRequestsException', 'Rate Exceeded.', { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
}

function tail(log: string): string {
  const bytes = Buffer.from(log, 'utf8');
  return bytes.subarray(Math.max(0, bytes.length - LOG_TAIL_BYTES)).toString('base64');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function readBody(req: IncomingMessage, limit = READ_LIMIT): Promise<{ body: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (size + chunk.length <= limit) chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks), size };
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
    JSON.stringify({ ...err.extra, Type: 'User', message: err.message }),
  );
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

