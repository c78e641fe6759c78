// AWS's quotas as the local cloud enforces them, and the one scale that shrinks them together for
// a machine smaller than an AWS account: concurrency, throughput and throttle backoff.
import { parseNumberSetting, type NumberRange } from './settings.js';

export const QUOTAS_ENV = 'LOCAL_CLOUD_QUOTAS';

/** AWS's default values (scale 1). */
export const AWS_QUOTAS = {
  /** Concurrent executions of an account in a region. */
  accountConcurrency: 1_000,
  /** What reservations must leave to the functions without one. */
  unreservedMinimum: 100,
  /** DynamoDB, per partition key. */
  partitionWcuPerSecond: 1_000,
  partitionRcuPerSecond: 3_000,
  /** AWS: a throttled async event is retried after 1 s, the interval growing exponentially to 5 min. */
  throttleBackoffMinMs: 1_000,
  throttleBackoffMaxMs: 300_000,
} as const;

/** The quotas in force, or undefined when they are off. */
export type Quotas =
  | {
      scale: number;
      accountConcurrency: number;
      unreservedMinimum: number;
      partitionWcuPerSecond: number;
      partitionRcuPerSecond: number;
      throttleBackoffMinMs: number;
      throttleBackoffMaxMs: number;
    }
  | undefined;

/** From 0.001, where every scaled quota reaches its floor of 1, to 1, AWS's own values. */
const SCALE_RANGE: NumberRange = { min: 0.001, max: 1 };

/** AWS's quotas times `scale`: counts rounded and at least 1, milliseconds whole and at least 1. */
export function scaledQuotas(scale: number): NonNullable<Quotas> {
  const count = (n: number) => Math.max(1, Math.round(n * scale));
  return {
    scale,
    accountConcurrency: count(AWS_QUOTAS.accountConcurrency),
    unreservedMinimum: count(AWS_QUOTAS.unreservedMinimum),
    partitionWcuPerSecond: count(AWS_QUOTAS.partitionWcuPerSecond),
    partitionRcuPerSecond: count(AWS_QUOTAS.partitionRcuPerSecond),
    throttleBackoffMinMs: count(AWS_QUOTAS.throttleBackoffMinMs),
    throttleBackoffMaxMs: count(AWS_QUOTAS.throttleBackoffMaxMs),
  };
}

/**
 * The quotas of the option when given (`false` turns them off), else of LOCAL_CLOUD_QUOTAS (`off`, or
 * a scale), else AWS's. A scale outside 0.001..1 is an error naming where it came from.
 */
export function resolveQuotas(option?: number | false): Quotas {
  if (option === false) return undefined;
  if (option !== undefined) return scaledQuotas(checkedScale('quotas', String(option), 'false'));
  const raw = process.env[QUOTAS_ENV];
  if (raw === undefined || raw.trim() === '') return scaledQuotas(1);
  if (raw.trim().toLowerCase() === 'off') return undefined;
  return scaledQuotas(checkedScale(QUOTAS_ENV, raw, '"off"'));
}

function checkedScale(name: string, text: string, off: string): number {
  try {
    return parseNumberSetting(name, text, SCALE_RANGE);
  } catch {
    throw new Error(`${name} must be ${off} or a scale from ${SCALE_RANGE.min} to ${SCALE_RANGE.max} (a share of AWS's quotas), got "${text}"`);
  }
}
