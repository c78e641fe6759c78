// Lambda's asynchronous invocation: the event queue of each function, retries with growing
// delays, throttles with their backoff (quotas on), the maximum event age, and on-success / on-failure destinations (a function, invoked
// asynchronously, or an SQS queue kept in memory), with the faults that break delivery.
import { randomUUID } from 'node:crypto';
import type { QueueDef } from '../stack.js';
import { StoppedError, type FunctionRuntime, type InvocationResult } from './runtime.js';
import type { EventCopy, FaultInjector } from '../faults/injector.js';

export interface AsyncQueueOptions {
  log: (line: string) => void;
  /** First retry delay of a failed async event; the second waits twice as long. */
  retryDelayMs: number;
  /**
   * With quotas on: an event that finds no concurrency is throttled and retried after minMs, the wait
   * doubling to maxMs. Without, it waits in the queue and runs as soon as a slot frees.
   */
  throttleBackoff?: { minMs: number; maxMs: number };
  /** Breaks chosen events. */
  faults?: FaultInjector;
  /** Finds a destination function by name or ARN. */
  find: (identifier: string) => FunctionRuntime | undefined;
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
  /** Invocations started (a throttle is not one). */
  attempts: number;
  /** Times the event found no concurrency. */
  throttles: number;
  last?: InvocationResult;
}

export class AsyncQueue {
  private readonly queues = new Map<string, AsyncEvent[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Events held back by a reorder fault, by function, until a later event overtakes them. */
  private readonly held = new Map<string, { event: AsyncEvent; timer: NodeJS.Timeout }[]>();
  private readonly letters = new Map<string, unknown[]>();
  private stopped = false;

  constructor(
    private readonly queueDefs: QueueDef[],
    private readonly opts: AsyncQueueOptions,
  ) {}

  /** Queues an asynchronous invocation (Event) and returns its request id. */
  enqueue(rt: FunctionRuntime, payload: string, requestId: string = randomUUID()): string {
    if (rt.def.reservedConcurrency === 0) {
      // Reserved concurrency 0: Lambda sends async events straight to the failure destination.
      this.fail(rt, { requestId, payload, enqueuedAt: Date.now(), attempts: 0, throttles: 0 }, 'RetriesExhausted');
      return requestId;
    }
    const plan = this.opts.faults?.planEvent(rt.def, payload) ?? { drop: false, copies: [{ delayMs: 0 }] };
    if (plan.drop) {
      this.opts.log(`[${rt.def.name}] ${requestId} async event lost (injected fault)`);
      return requestId;
    }
    const enqueuedAt = Date.now();
    for (const copy of plan.copies) this.admit(rt, { requestId, payload, enqueuedAt, attempts: 0, throttles: 0 }, copy);
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
          this.queueOf(rt).push(event);
          this.pump(rt);
        }, copy.reorderMs),
      };
      held.push(entry);
      return;
    }
    const queue = this.queueOf(rt);
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

  /** Drops every queued, delayed or held event; nothing is delivered after this. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const h of this.held.values()) for (const entry of h.splice(0)) clearTimeout(entry.timer);
  }

  private queueOf(rt: FunctionRuntime): AsyncEvent[] {
    let queue = this.queues.get(rt.def.name);
    if (!queue) this.queues.set(rt.def.name, (queue = []));
    return queue;
  }

  /**
   * Starts queued events of a function while it has free slots. With quotas on, an event that finds
   * none is throttled and comes back after its backoff; without, events wait here for a slot.
   */
  pump(rt: FunctionRuntime): void {
    const queue = this.queueOf(rt);
    while (!this.stopped && queue.length > 0) {
      if (!rt.hasFreeSlot() && !this.opts.throttleBackoff) return;
      const event = queue.shift()!;
      if (Date.now() - event.enqueuedAt > rt.def.async.maxEventAgeSeconds * 1000) {
        this.fail(rt, event, 'EventAgeExceeded');
        continue;
      }
      if (!rt.hasFreeSlot()) {
        this.throttled(rt, event);
        continue;
      }
      if (this.opts.faults?.throttleEvent(rt.def, event.payload)) {
        // A throttled event goes back to the queue without spending an attempt, until its maximum age.
        this.requeueAfter(rt, event, this.opts.retryDelayMs);
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

  /**
   * AWS: a throttled event returns to the queue, without spending an attempt, and is retried after
   * 1 s, the wait doubling to 5 min (scaled), until its maximum age; it comes back when it reaches
   * that age, at the latest, to be discarded on time.
   */
  private throttled(rt: FunctionRuntime, event: AsyncEvent): void {
    const { minMs, maxMs } = this.opts.throttleBackoff!;
    rt.throttled();
    event.throttles++;
    const backoff = Math.min(maxMs, minMs * 2 ** (event.throttles - 1));
    const untilTooOld = event.enqueuedAt + rt.def.async.maxEventAgeSeconds * 1000 + 1 - Date.now();
    this.requeueAfter(rt, event, Math.max(0, Math.min(backoff, untilTooOld)));
  }

  /** Puts an event back in its function's queue after `delayMs`. */
  private requeueAfter(rt: FunctionRuntime, event: AsyncEvent, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.queueOf(rt).push(event);
      this.pump(rt);
    }, delayMs);
    this.timers.add(timer);
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
      this.requeueAfter(rt, event, delay);
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
    const target = this.opts.find(destination);
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

}

/** The JSON a text holds, or the text itself when it is not JSON (as Lambda's records carry payloads). */
export function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
