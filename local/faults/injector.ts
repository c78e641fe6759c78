// The fault injector: decides, from a seed, which events, invocations and DynamoDB requests to
// break, and counts what it broke. The Lambda service, the worker runtime and the DynamoDB front
// ask it at their decision points; the handlers never know.
import { createHash } from 'node:crypto';
import type { FunctionDef } from '../stack.js';
import { findFunction, noSuchFunction } from '../settings.js';
import { isObject } from '../template.js';
import { FaultConfigError, parseFaultConfig, type DynamoDbFaults, type FaultConfig, type FunctionFaults, type Millis } from './config.js';
import { Newest } from '../newest.js';

export type FunctionFaultKind =
  | 'drop'
  | 'duplicate'
  | 'delay'
  | 'reorder'
  | 'throttleEvents'
  | 'throttle'
  | 'throw'
  | 'crash'
  | 'crashAfter'
  | 'timeout';
export type DynamoDbFaultKind = 'ProvisionedThroughputExceededException' | 'ThrottlingException' | 'InternalServerError';
export type FaultKind = FunctionFaultKind | DynamoDbFaultKind;

/** One injected fault: its kind, where (a function's logical id, or `dynamodb`), and what it hit. */
export interface FaultEvent {
  kind: FaultKind;
  target: string;
  /** The event's payload, the API request (`METHOD path body`) or the DynamoDB request (`Operation body`), cut at 400 characters. */
  subject: string;
  at: number;
}

export interface EventCopy {
  delayMs: number;
  /** Hold until a later event of the function has been queued, or `reorderMs` passed. */
  reorderMs?: number;
}

/** What happens to an accepted async event: lost, or delivered as these copies. */
export interface EventPlan {
  drop: boolean;
  copies: EventCopy[];
}

export type InvocationFault = { kind: 'throw' } | { kind: 'crash' | 'crashAfter' | 'timeout'; atMs: number };

export interface DynamoDbFault {
  kind: DynamoDbFaultKind;
  status: number;
  body: string;
  /** Answer the error after the request was applied (an ambiguous write). */
  afterWrite: boolean;
}

/** The error bodies DynamoDB sends (awsJson1_0, `__type` names the error), so SDKs classify and retry them as on AWS. */
const DYNAMODB_ERRORS: Record<DynamoDbFaultKind, { status: number; body: string }> = {
  ProvisionedThroughputExceededException: {
    status: 400,
    body: JSON.stringify({
      __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
      message:
        'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html',
    }),
  },
  ThrottlingException: {
    status: 400,
    body: JSON.stringify({ __type: 'com.amazon.coral.availability#ThrottlingException', message: 'Rate of requests exceeds the allowed throughput.' }),
  },
  InternalServerError: {
    status: 500,
    body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'Internal server error' }),
  },
};

const MAX_EVENTS = 100_000;
const SUBJECT_CHARS = 400;

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What identifies a payload across runs: an API request by method, path and body (not its request id or clock). */
function subjectOf(text: string, parsed: unknown): string {
  if (isObject(parsed) && typeof parsed.httpMethod === 'string' && isObject(parsed.requestContext)) {
    return `${parsed.httpMethod} ${String(parsed.path)} ${typeof parsed.body === 'string' ? parsed.body : ''}`;
  }
  if (isObject(parsed) && isObject(parsed.requestContext) && 'requestPayload' in parsed) {
    return `record ${String(parsed.requestContext.condition)} ${JSON.stringify(parsed.requestPayload)}`;
  }
  return text;
}

function matches(rule: FunctionFaults, parsed: unknown): boolean {
  if (!rule.match) return true;
  if (!isObject(parsed)) return false;
  return Object.entries(rule.match).every(([k, v]) => JSON.stringify(parsed[k]) === JSON.stringify(v));
}

function within(range: Millis | undefined, fallback: Millis, u: number): number {
  const r = range ?? fallback;
  const [lo, hi] = typeof r === 'number' ? [0, r] : r;
  return lo + (hi - lo) * u;
}

export class FaultInjector {
  private seed = 1;
  private rules = new Map<string, FunctionFaults[]>();
  private dynamodb: DynamoDbFaults | undefined;
  private readonly occurrences = new Map<string, number>();
  /** How often each rule with `times` applied, by decision point. */
  private readonly applied = new Map<FunctionFaults, Map<string, number>>();
  private readonly tally = new Map<FaultKind, number>();
  private readonly log = new Newest<FaultEvent>(MAX_EVENTS);

  constructor(
    config: FaultConfig,
    private readonly functions: readonly FunctionDef[],
    private readonly logLine: (line: string) => void,
  ) {
    this.configure(config);
  }

  /** Replaces the configuration (counts and the log are kept). */
  configure(config: FaultConfig): void {
    const checked = parseFaultConfig(config);
    const rules = new Map<string, FunctionFaults[]>();
    const named = new Set<string>();
    let fallback: FunctionFaults[] | undefined;
    for (const [key, value] of Object.entries(checked.functions ?? {})) {
      const list = Array.isArray(value) ? value : [value];
      if (key === '*') {
        fallback = list;
        continue;
      }
      const fn = findFunction(this.functions, key);
      if (!fn) throw new FaultConfigError(`faults.functions: ${noSuchFunction(key, this.functions)}`);
      rules.set(fn.logicalId, list);
      named.add(fn.logicalId);
    }
    if (fallback) for (const fn of this.functions) if (!named.has(fn.logicalId)) rules.set(fn.logicalId, fallback);
    this.seed = checked.seed ?? 1;
    this.rules = rules;
    this.dynamodb = checked.dynamodb;
    this.occurrences.clear();
    this.applied.clear();
  }

  /** Faults injected so far, by kind. */
  counts(): Partial<Record<FaultKind, number>> {
    return Object.fromEntries(this.tally);
  }

  /** Every fault injected so far (the newest 100,000). */
  events(): FaultEvent[] {
    return this.log.toArray();
  }

  /** Forgets counts and the log (the configuration stays). */
  clear(): void {
    this.tally.clear();
    this.log.clear();
  }

  // ---- decision points ----

  /** An async event was accepted: lose it, or deliver it (late, out of order, twice). */
  planEvent(def: FunctionDef, payload: string): EventPlan {
    const hit = this.rule(def, payload, 'event');
    if (!hit) return { drop: false, copies: [{ delayMs: 0 }] };
    const { rule, subject } = hit;
    if (this.chance(def, 'drop', rule.drop, subject)) return { drop: true, copies: [] };
    const copy = (): EventCopy => {
      const c: EventCopy = { delayMs: 0 };
      const [delayed, u] = this.draw(def, 'delay', rule.delay, subject);
      if (delayed) {
        c.delayMs = within(rule.delayMs, [0, 1000], u);
        this.record('delay', def.logicalId, subject);
      }
      if (this.chance(def, 'reorder', rule.reorder, subject)) c.reorderMs = rule.reorderMs ?? 1000;
      return c;
    };
    const copies = [copy()];
    const [twice, u] = this.draw(def, 'duplicate', rule.duplicate, subject);
    if (twice) {
      this.record('duplicate', def.logicalId, subject);
      const second = copy();
      second.delayMs += within(rule.duplicateDelayMs, [0, 200], u);
      copies.push(second);
    }
    return { drop: false, copies };
  }

  /** A queued async event is about to run: is the function throttled for it? */
  throttleEvent(def: FunctionDef, payload: string): boolean {
    const hit = this.rule(def, payload, 'delivery');
    return hit !== undefined && this.chance(def, 'throttleEvents', hit.rule.throttleEvents, hit.subject);
  }

  /** An Invoke API call (or API Gateway's call): answer 429? */
  throttleInvoke(def: FunctionDef, payload: string): boolean {
    const hit = this.rule(def, payload, 'invoke');
    return hit !== undefined && this.chance(def, 'throttle', hit.rule.throttle, hit.subject);
  }

  /** An invocation starts on a worker that already served `served` invocations. */
  planInvocation(def: FunctionDef, payload: string, served: number): InvocationFault | undefined {
    const hit = this.rule(def, payload, 'invocation');
    if (!hit) return undefined;
    const { rule, subject } = hit;
    if (this.chance(def, 'throw', rule.throw, subject)) return { kind: 'throw' };
    const [crash, u] = this.draw(def, 'crash', rule.crash, subject);
    if (crash) return { kind: 'crash', atMs: within(rule.crashWindowMs, [0, 100], u) };
    if (rule.crashAfter !== undefined && served % (rule.crashAfter + 1) === rule.crashAfter) {
      const [, v] = this.draw(def, 'crashAfter', 1, subject);
      return { kind: 'crashAfter', atMs: within(rule.crashWindowMs, [0, 100], v) };
    }
    const [stall, w] = this.draw(def, 'timeout', rule.timeout, subject);
    if (stall) return { kind: 'timeout', atMs: within(rule.crashWindowMs, [0, 100], w) };
    return undefined;
  }

  /** A DynamoDB request (`operation` from X-Amz-Target): fail it? */
  planDynamoDb(operation: string, body: string): DynamoDbFault | undefined {
    const f = this.dynamodb;
    if (!f || (f.operations && !f.operations.includes(operation))) return undefined;
    const subject = `${operation} ${body}`;
    const kinds: [DynamoDbFaultKind, number | undefined][] = [
      ['ProvisionedThroughputExceededException', f.throughputExceeded],
      ['ThrottlingException', f.throttling],
      ['InternalServerError', f.internalError],
    ];
    for (const [kind, rate] of kinds) {
      const [hit, u] = this.drawFor('dynamodb', kind, rate, subject);
      if (!hit) continue;
      this.record(kind, 'dynamodb', subject);
      const afterWrite = kind === 'InternalServerError' && u < (f.internalErrorAfterWrite ?? 0.5);
      return { kind, ...DYNAMODB_ERRORS[kind], afterWrite };
    }
    return undefined;
  }

  /** Counts a fault the caller injected after asking (crashes and stalls are counted when they happen). */
  record(kind: FaultKind, target: string, subject: string): void {
    this.tally.set(kind, (this.tally.get(kind) ?? 0) + 1);
    this.log.push({ kind, target, subject: subject.slice(0, SUBJECT_CHARS), at: Date.now() });
    this.logLine(`[faults] ${kind} ${target} ${subject.slice(0, 200)}`);
  }

  /** The subject a payload is known by (for `record`). */
  subjectOf(payload: string): string {
    return subjectOf(payload, parse(payload));
  }

  // ---- internals ----

  private rule(def: FunctionDef, payload: string, point: string): { rule: FunctionFaults; subject: string } | undefined {
    const list = this.rules.get(def.logicalId);
    if (!list) return undefined;
    const parsed = parse(payload);
    const rule = list.find((r) => {
      if (!matches(r, parsed)) return false;
      if (r.times === undefined) return true;
      const counts = this.applied.get(r) ?? new Map<string, number>();
      this.applied.set(r, counts);
      const n = counts.get(point) ?? 0;
      if (n >= r.times) return false;
      counts.set(point, n + 1);
      return true;
    });
    return rule ? { rule, subject: subjectOf(payload, parsed) } : undefined;
  }

  private chance(def: FunctionDef, kind: FunctionFaultKind, rate: number | undefined, subject: string): boolean {
    const [hit] = this.draw(def, kind, rate, subject);
    // Faults the caller applies later (crashes, stalls) are recorded by the caller when they happen.
    if (hit) this.record(kind, def.logicalId, subject);
    return hit;
  }

  private draw(def: FunctionDef, kind: FunctionFaultKind, rate: number | undefined, subject: string): [boolean, number] {
    return this.drawFor(def.logicalId, kind, rate, subject);
  }

  /**
   * A decision is a hash of the seed, the target, the kind, the subject and how often that subject
   * was seen: a replay with the same seed decides the same for the same requests, whatever their timing.
   */
  private drawFor(target: string, kind: string, rate: number | undefined, subject: string): [boolean, number] {
    if (!rate) return [false, 0];
    const key = `${target}|${kind}|${createHash('sha256').update(subject).digest('base64')}`;
    const n = this.occurrences.get(key) ?? 0;
    this.occurrences.set(key, n + 1);
    const digest = createHash('sha256').update(`${this.seed}|${key}|${n}`).digest();
    const u1 = digest.readUIntBE(0, 6) / 2 ** 48;
    const u2 = digest.readUIntBE(6, 6) / 2 ** 48;
    return [u1 < rate, u2];
  }
}
