// Fault configuration: what to break, where and how often. Read from the `faults` option of
// startLocalCloud or from the JSON named by LOCAL_CLOUD_FAULTS (a file path or inline JSON).
import { readJsonSetting } from '../settings.js';
import { isObject } from '../template.js';

/** A fraction of 0..1. */
type Rate = number;
/** A duration in ms, or a [min, max] range drawn uniformly. */
export type Millis = number | [number, number];

/**
 * Faults of one function. Rates are fractions (0..1) of the events or invocations they apply to;
 * each decision is drawn independently from the seed, so rates combine.
 */
export interface FunctionFaults {
  /** Only events whose JSON payload has these top-level values (e.g. `{"taskId": 1}`); all when absent. */
  match?: Record<string, unknown>;
  /**
   * The rule applies to the first `times` events (or invocations) it matches, counted separately at each
   * decision point (accepting an event, delivering it, an Invoke API call, an invocation); later ones
   * fall through to the next rule.
   */
  times?: number;
  // Async events (InvocationType Event, and destination deliveries), decided when accepted:
  /** Accepted with 202, never run, no destination: the event is lost. */
  drop?: Rate;
  /** Delivered twice (same request id), the copy after up to `duplicateDelayMs`. */
  duplicate?: Rate;
  /** Copy's lag. Default [0, 200]. */
  duplicateDelayMs?: Millis;
  /** Held back before delivery for `delayMs`. */
  delay?: Rate;
  /** Default [0, 1000]. */
  delayMs?: Millis;
  /** Held back until a later event of the same function has been queued (or `reorderMs` passed). */
  reorder?: Rate;
  /** Default 1000. */
  reorderMs?: number;
  /** Async events refused by a throttled function at delivery: retried (not counted as an attempt) until their maximum age. */
  throttleEvents?: Rate;
  // Every invocation (sync and async):
  /** Invoke API calls (and API Gateway's calls) answered 429 TooManyRequestsException. */
  throttle?: Rate;
  /** The invocation fails at once with an injected error (`InjectedFault`); the handler does not run. */
  throw?: Rate;
  /** The worker process is killed mid-invocation, within `crashWindowMs` of the handler's start (or as it returns, if sooner). */
  crash?: Rate;
  /** Default [0, 100]. */
  crashWindowMs?: Millis;
  /** Every worker process is killed during its (k+1)-th invocation, within `crashWindowMs` of its start. */
  crashAfter?: number;
  /** The worker freezes (SIGSTOP) within `crashWindowMs` of the start and runs into the function's timeout. */
  timeout?: Rate;
}

/** DynamoDB faults, injected in front of the DynamoDB server as fractions of requests. */
export interface DynamoDbFaults {
  /** 400 ProvisionedThroughputExceededException (a hot key). */
  throughputExceeded?: Rate;
  /** 400 ThrottlingException. */
  throttling?: Rate;
  /** 500 InternalServerError. */
  internalError?: Rate;
  /** Fraction of the 500s answered after the request was applied (an ambiguous write). Default 0.5. */
  internalErrorAfterWrite?: Rate;
  /** Only these operations (e.g. `["UpdateItem", "Query"]`); all when absent. */
  operations?: string[];
}

export interface FaultConfig {
  /** Seed of every decision. Default 1. */
  seed?: number;
  /**
   * By function: logical id, construct name (e.g. `sampler`) or `*` (every function not named).
   * A list holds rules tried in order: the first whose `match` fits the payload applies.
   */
  functions?: Record<string, FunctionFaults | FunctionFaults[]>;
  dynamodb?: DynamoDbFaults;
}

const RATE_KEYS = ['drop', 'duplicate', 'delay', 'reorder', 'throttleEvents', 'throttle', 'throw', 'crash', 'timeout'] as const;
const MILLIS_KEYS = ['duplicateDelayMs', 'delayMs', 'crashWindowMs'] as const;
const FUNCTION_KEYS = new Set<string>([...RATE_KEYS, ...MILLIS_KEYS, 'match', 'times', 'reorderMs', 'crashAfter']);
const DYNAMODB_RATE_KEYS = ['throughputExceeded', 'throttling', 'internalError', 'internalErrorAfterWrite'] as const;
const DYNAMODB_KEYS = new Set<string>([...DYNAMODB_RATE_KEYS, 'operations']);

export class FaultConfigError extends Error {
  override name = 'FaultConfigError';
}


function checkRate(where: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new FaultConfigError(`${where} must be a fraction between 0 and 1, got ${JSON.stringify(value)}`);
}

function checkMillis(where: string, value: unknown): void {
  if (value === undefined) return;
  const ok = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (ok(value)) return;
  if (Array.isArray(value) && value.length === 2 && ok(value[0]) && ok(value[1]) && (value[0] as number) <= (value[1] as number)) return;
  throw new FaultConfigError(`${where} must be milliseconds or a [min, max] range, got ${JSON.stringify(value)}`);
}

function checkUnknown(where: string, value: Record<string, unknown>, known: Set<string>): void {
  const unknown = Object.keys(value).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new FaultConfigError(`${where}: unknown setting(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
}

/** Checks a configuration (a typo must not silently disable a fault) and returns it typed. */
export function parseFaultConfig(value: unknown, where = 'faults'): FaultConfig {
  if (!isObject(value)) throw new FaultConfigError(`${where} must be a JSON object`);
  checkUnknown(where, value, new Set(['seed', 'functions', 'dynamodb']));
  if (value.seed !== undefined && !(typeof value.seed === 'number' && Number.isSafeInteger(value.seed))) {
    throw new FaultConfigError(`${where}.seed must be an integer`);
  }
  if (value.functions !== undefined) {
    if (!isObject(value.functions)) throw new FaultConfigError(`${where}.functions must be an object`);
    for (const [name, rules] of Object.entries(value.functions)) {
      const list = Array.isArray(rules) ? rules : [rules];
      list.forEach((rule, i) => {
        const at = `${where}.functions.${name}${Array.isArray(rules) ? `[${i}]` : ''}`;
        if (!isObject(rule)) throw new FaultConfigError(`${at} must be an object`);
        checkUnknown(at, rule, FUNCTION_KEYS);
        for (const key of RATE_KEYS) checkRate(`${at}.${key}`, rule[key]);
        for (const key of MILLIS_KEYS) checkMillis(`${at}.${key}`, rule[key]);
        checkMillis(`${at}.reorderMs`, rule.reorderMs);
        if (rule.crashAfter !== undefined && !(typeof rule.crashAfter === 'number' && Number.isSafeInteger(rule.crashAfter) && rule.crashAfter >= 0)) {
          throw new FaultConfigError(`${at}.crashAfter must be a non-negative integer`);
        }
        if (rule.match !== undefined && !isObject(rule.match)) throw new FaultConfigError(`${at}.match must be an object`);
        if (rule.times !== undefined && !(typeof rule.times === 'number' && Number.isSafeInteger(rule.times) && rule.times >= 0)) {
          throw new FaultConfigError(`${at}.times must be a non-negative integer`);
        }
      });
    }
  }
  if (value.dynamodb !== undefined) {
    if (!isObject(value.dynamodb)) throw new FaultConfigError(`${where}.dynamodb must be an object`);
    checkUnknown(`${where}.dynamodb`, value.dynamodb, DYNAMODB_KEYS);
    for (const key of DYNAMODB_RATE_KEYS) checkRate(`${where}.dynamodb.${key}`, value.dynamodb[key]);
    const ops = value.dynamodb.operations;
    if (ops !== undefined && !(Array.isArray(ops) && ops.every((o) => typeof o === 'string'))) {
      throw new FaultConfigError(`${where}.dynamodb.operations must be a list of operation names`);
    }
  }
  return value as FaultConfig;
}

/** The configuration from the option, else from LOCAL_CLOUD_FAULTS; undefined when neither is set. */
export function loadFaultConfig(option: FaultConfig | undefined): FaultConfig | undefined {
  if (option !== undefined) return parseFaultConfig(option);
  const fromEnv = readJsonSetting('LOCAL_CLOUD_FAULTS');
  return fromEnv === undefined ? undefined : parseFaultConfig(fromEnv, 'LOCAL_CLOUD_FAULTS');
}
