// AWS's Lambda quotas in the local cloud (account concurrency, its unreserved minimum, the 429
// reasons, the throttle backoff of async events), their counters, the LOCAL_CLOUD_QUOTAS scale,
// and worker processes sized to the machine rather than to the concurrency.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { WARNING_PREFIX, startLocalCloud, type DestinationRecord } from '../../local/index.js';
import { AWS_QUOTAS, QUOTAS_ENV, resolveQuotas } from '../../local/quotas.js';
import { json, startFixtureCloud, waitFor, type TestCloud } from './helpers.js';
import { mapLimited } from '../helpers/pool.js';

const TEMPLATE = fileURLToPath(new URL('./fixtures/quotas/Quotas.template.json', import.meta.url));
/** Logical ids in the quotas template: two unreserved functions, reservations of 2, 1 and 1. */
const Q = {
  holdA: 'HoldAFn1A1A1A1A',
  holdB: 'HoldBFn2B2B2B2B',
  reserved: 'ReservedFn3C3C3C3C',
  backoff: 'BackoffFn4D4D4D4D',
  shortAge: 'ShortAgeFn5E5E5E5E',
} as const;
const QUEUE = 'FailuresQueue6F6F6F6F';

let t: TestCloud | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const start = async (opts: Parameters<typeof startFixtureCloud>[0]) => (t = await startFixtureCloud({ templatePath: TEMPLATE, ...opts }));

/** A sync call; resolves to the error when it fails. */
function call(cloud: TestCloud, fn: string, event: object) {
  return cloud.lambda.send(new InvokeCommand({ FunctionName: fn, Payload: JSON.stringify(event) })).catch((err: Error & Record<string, unknown>) => err);
}

function event(cloud: TestCloud, fn: string, payload: object) {
  return cloud.lambda.send(new InvokeCommand({ FunctionName: fn, InvocationType: 'Event', Payload: JSON.stringify(payload) }));
}

describe('account concurrency', () => {
  it('throttles sync calls with each reason: the unreserved pool shared by functions, a full reservation beside it; counts peaks and throttles', async () => {
    // Scale 0.01: account concurrency 10; reservations take 4, the unreserved functions share 6.
    // defaultConcurrency is no second cap with quotas on: it only warns.
    const c = await start({ quotas: 0.01, defaultConcurrency: 2 });
    expect(c.logs).toContain(
      `${WARNING_PREFIX}defaultConcurrency (LOCAL_CLOUD_DEFAULT_CONCURRENCY) applies only with quotas off (LOCAL_CLOUD_QUOTAS=off); functions without reserved concurrency share the account's unreserved concurrency (6)`,
    );
    const pool = [Q.holdA, Q.holdA, Q.holdA, Q.holdB, Q.holdB, Q.holdB].map((fn) => call(c, fn, { ms: 1_500 }));
    await waitFor(() => c.cloud.invocationsInFlight() === 6, 5_000, 'six admitted invocations');
    for (const fn of [Q.holdA, Q.holdB]) {
      expect(await call(c, fn, {})).toMatchObject({ name: 'TooManyRequestsException', $metadata: { httpStatusCode: 429 }, Reason: 'ConcurrentInvocationLimitExceeded' });
    }
    // The reserved function is untouched by the full pool: its own two run, a third is throttled.
    const reserved = [call(c, Q.reserved, { ms: 1_000 }), call(c, Q.reserved, { ms: 1_000 })];
    await waitFor(() => c.cloud.invocationsInFlight(Q.reserved) === 2, 5_000, 'two reserved invocations');
    expect(await call(c, Q.reserved, {})).toMatchObject({ name: 'TooManyRequestsException', Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
    for (const out of await Promise.all([...pool, ...reserved])) expect(out).toMatchObject({ StatusCode: 200 });

    const counters = c.cloud.quotaCounters();
    expect(counters.quotas).toMatchObject({ scale: 0.01, accountConcurrency: 10, unreservedMinimum: 1 });
    expect(counters.account).toEqual({ peakConcurrency: 8, throttles: 3 });
    expect(counters.functions[Q.holdA]).toEqual({ peakConcurrency: 3, throttles: 1, invocations: 3 });
    expect(counters.functions[Q.holdB]).toEqual({ peakConcurrency: 3, throttles: 1, invocations: 3 });
    expect(counters.functions[Q.reserved]).toEqual({ peakConcurrency: 2, throttles: 1, invocations: 2 });
    c.cloud.resetQuotaCounters();
    expect(c.cloud.quotaCounters().account).toEqual({ peakConcurrency: 0, throttles: 0 });
    expect(c.cloud.quotaCounters().functions[Q.holdA]).toEqual({ peakConcurrency: 0, throttles: 0, invocations: 0 });
  });

  it('refuses to start when reservations leave less than the unreserved minimum, with AWS\'s message', async () => {
    // Scale 0.004: account concurrency 4, all of it reserved; the minimum left unreserved is 1.
    const refused = await startLocalCloud({ templatePath: TEMPLATE, quotas: 0.004 }).then(
      (cloud) => cloud.stop().then(() => undefined),
      (err: Error) => err,
    );
    expect(refused?.message).toMatch(
      /^Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of \[1\]\. \(account concurrency 4 at quotas scale 0\.004; reserved: reserved 2, backoff 1, shortAge 1\)$/,
    );
  });
});

describe('throttled async events', () => {
  it('wait their backoff without spending an attempt, and age out to the failure destination', async () => {
    // Scale 0.5: a throttled event comes back after 500 ms, then 1 s, 2 s...
    const c = await start({ quotas: 0.5 });
    const hold = call(c, Q.backoff, { ms: 1_000 });
    await waitFor(() => c.cloud.invocationsInFlight(Q.backoff) === 1, 5_000, 'the hold');
    const sent = Date.now();
    await event(c, Q.backoff, { key: 'throttled', fail: true });
    expect(await hold).toMatchObject({ StatusCode: 200 });
    const letter = await waitFor(() => c.cloud.deadLetters(QUEUE)[0] as DestinationRecord | undefined, 8_000, 'the failure record');
    // It did not run when the slot freed, but after each of its backoffs.
    const throttles = c.cloud.quotaCounters().functions[Q.backoff]!.throttles;
    expect(throttles).toBeGreaterThanOrEqual(1);
    const run = c.cloud.invocations(Q.backoff).find((r) => r.payload.includes('throttled'))!;
    expect(run.startedAt - sent).toBeGreaterThanOrEqual(500 * (2 ** throttles - 1) - 5);
    // MaximumRetryAttempts 0: the one attempt it had was its run, not the throttles.
    expect(letter.requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 1 });

    // MaximumEventAgeInSeconds 1: still throttled at 1 s, the event is discarded unrun.
    void call(c, Q.shortAge, { ms: 2_500 }); // still running when the cloud stops
    await waitFor(() => c.cloud.invocationsInFlight(Q.shortAge) === 1, 5_000, 'the hold');
    await event(c, Q.shortAge, { key: 'too-old' });
    const aged = await waitFor(() => (c.cloud.deadLetters(QUEUE) as DestinationRecord[]).find((r) => r.requestContext.condition === 'EventAgeExceeded'), 5_000, 'the aged-out record');
    expect(aged).toMatchObject({ requestContext: { approximateInvokeCount: 0 }, requestPayload: { key: 'too-old' } });
    expect(c.cloud.invocations(Q.shortAge).some((r) => r.payload.includes('too-old'))).toBe(false);
    expect(c.cloud.pendingEvents()).toBe(0);
  });
});

describe('worker processes', () => {
  it('serve many short invocations with at most the cap, and grow past it only while long invocations hold them', async () => {
    const cap = Math.max(4, 2 * availableParallelism());
    const c = await start({ maxWorkersPerFunction: { [Q.holdB]: 2 } });
    const initsOf = (fn: string) => c.logs.filter((l) => l.startsWith(`[${fn}] INIT_START`)).length;

    // 200 events of ~5 ms, all admitted at once: they wait for the capped workers, which never grow.
    await mapLimited([...Array(200).keys()], 20, () => event(c, Q.holdA, { ms: 5 }));
    await waitFor(() => c.cloud.invocations(Q.holdA).filter((r) => r.endedAt).length === 200 || undefined, 15_000, '200 invocations');
    const pids = new Set(c.cloud.invocations(Q.holdA).map((r) => (JSON.parse(r.result!) as { pid: number }).pid));
    expect(pids.size).toBeLessThanOrEqual(cap);
    expect(initsOf(Q.holdA)).toBe(pids.size);

    // Three times the cap of invocations holding their workers for 2.5 s: all complete, on more workers than the cap.
    const outs = await Promise.all([...Array(6).keys()].map(() => call(c, Q.holdB, { ms: 2_500 })));
    expect(outs.map((o) => (o as { StatusCode?: number }).StatusCode)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(c.cloud.quotaCounters().functions[Q.holdB]!.peakConcurrency).toBe(6);
    const served = new Set(outs.map((o) => json<{ pid: number }>((o as { Payload: Uint8Array }).Payload).pid));
    expect(served.size).toBeGreaterThan(2);
    // The extra workers exit after 5 s idle, down to the cap.
    const holdBPids = () => c.cloud.workerPids().filter((pid) => served.has(pid));
    await waitFor(() => holdBPids().length <= 2 || undefined, 9_000, 'the extra workers to exit');
    expect(holdBPids()).toHaveLength(2);
  });
});

describe(QUOTAS_ENV, () => {
  const withEnv = (value: string | undefined, fn: () => void) => {
    const saved = process.env[QUOTAS_ENV];
    if (value === undefined) delete process.env[QUOTAS_ENV];
    else process.env[QUOTAS_ENV] = value;
    try {
      fn();
    } finally {
      if (saved === undefined) delete process.env[QUOTAS_ENV];
      else process.env[QUOTAS_ENV] = saved;
    }
  };

  it('defaults to AWS\'s values, scales them together, turns them off, and names itself in errors', () => {
    withEnv(undefined, () => expect(resolveQuotas()).toEqual({ scale: 1, ...AWS_QUOTAS }));
    withEnv(' off ', () => expect(resolveQuotas()).toBeUndefined());
    withEnv('0.01', () =>
      expect(resolveQuotas()).toEqual({
        scale: 0.01,
        accountConcurrency: 10,
        unreservedMinimum: 1,
        partitionWcuPerSecond: 10,
        partitionRcuPerSecond: 30,
        throttleBackoffMinMs: 10,
        throttleBackoffMaxMs: 3_000,
      }),
    );
    // The smallest scale: every quota at its floor of 1.
    withEnv('1e-3', () => expect(resolveQuotas()).toMatchObject({ accountConcurrency: 1, unreservedMinimum: 1, throttleBackoffMinMs: 1 }));
    for (const bad of ['0', '2', 'on', '1%', '0.0001']) {
      withEnv(bad, () => expect(() => resolveQuotas()).toThrow(`LOCAL_CLOUD_QUOTAS must be "off" or a scale from 0.001 to 1 (a share of AWS's quotas), got "${bad}"`));
    }
    // The option wins over the variable.
    withEnv('off', () => expect(resolveQuotas(0.5)).toMatchObject({ scale: 0.5, accountConcurrency: 500 }));
    withEnv('0.5', () => expect(resolveQuotas(false)).toBeUndefined());
    expect(() => resolveQuotas(0)).toThrow('quotas must be false or a scale from 0.001 to 1');
  });
});
