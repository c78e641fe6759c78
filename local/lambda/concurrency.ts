// Lambda's concurrency quotas: a function's reserved concurrency, the account's pool that the
// functions without one share, and what the account ran at once.
import type { FunctionDef } from '../stack.js';
import type { Quotas } from '../quotas.js';

/** The `Reason` of a 429 TooManyRequestsException, by the limit that was full. */
export type ThrottleReason = 'ReservedFunctionConcurrentInvocationLimitExceeded' | 'ConcurrentInvocationLimitExceeded';

export interface ConcurrencyCounters {
  /** Most invocations admitted and not ended at once. */
  peakConcurrency: number;
  /** Invocations refused for want of concurrency: sync 429s, and async events sent back to wait. */
  throttles: number;
}

/**
 * Concurrent executions that invocations share, at most `max`. A limit with a `reason` is one of
 * AWS's (a sync caller past it gets a 429); without, it is a local cap that sync callers wait at.
 */
export class ConcurrencyLimit {
  private used = 0;

  constructor(
    readonly max: number,
    readonly reason?: ThrottleReason,
  ) {}

  hasRoom(): boolean {
    return this.used < this.max;
  }

  take(): boolean {
    if (!this.hasRoom()) return false;
    this.used++;
    return true;
  }

  give(): void {
    this.used--;
  }
}

/** The account: with quotas, the pool of unreserved concurrency; always, what all its functions ran at once. */
export class Account {
  /** Shared by the functions without reserved concurrency (quotas on only). */
  readonly unreserved?: ConcurrencyLimit;
  counters: ConcurrencyCounters = { peakConcurrency: 0, throttles: 0 };
  private inFlight = 0;

  constructor(
    readonly quotas: Quotas,
    functions: readonly FunctionDef[],
  ) {
    if (quotas) this.unreserved = new ConcurrencyLimit(unreservedConcurrency(quotas, functions), 'ConcurrentInvocationLimitExceeded');
  }

  /** The limit a function's invocations count against: its reservation, the shared pool, or (quotas off) a local cap. */
  limitFor(def: FunctionDef, defaultConcurrency: number): ConcurrencyLimit {
    if (def.reservedConcurrency !== undefined) return new ConcurrencyLimit(def.reservedConcurrency, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    return this.unreserved ?? new ConcurrencyLimit(defaultConcurrency);
  }

  admitted(): void {
    this.inFlight++;
    this.counters.peakConcurrency = Math.max(this.counters.peakConcurrency, this.inFlight);
  }

  ended(): void {
    this.inFlight--;
  }

  throttled(): void {
    this.counters.throttles++;
  }

  /** Starts counting anew: the peak from what runs now. */
  reset(): void {
    this.counters = { peakConcurrency: this.inFlight, throttles: 0 };
  }
}

/**
 * What reservations leave the other functions: the account's concurrency minus every reservation.
 * AWS refuses a reservation that would leave less than the unreserved minimum, with this message.
 */
export function unreservedConcurrency(quotas: NonNullable<Quotas>, functions: readonly FunctionDef[]): number {
  const reserved = functions.filter((f) => f.reservedConcurrency !== undefined);
  const left = quotas.accountConcurrency - reserved.reduce((n, f) => n + f.reservedConcurrency!, 0);
  if (left >= quotas.unreservedMinimum) return left;
  const list = reserved.map((f) => `${f.friendlyName} ${f.reservedConcurrency}`).join(', ');
  throw new Error(
    `Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [${quotas.unreservedMinimum}]. ` +
      `(account concurrency ${quotas.accountConcurrency} at quotas scale ${quotas.scale}; reserved: ${list})`,
  );
}
