import { describe, expect, it } from 'vitest';
import { addUsage, emptyUsage, type JobUsage } from '../../functions/shared/cost.js';
import { initDurationMs, memoryMbFromEnv, processAgeMs, SandboxMeter, writeWithUsage } from '../../functions/shared/usage-meter.js';

/** A sandbox of `memoryMb` on a clock the test moves. */
function sandbox(initMs: number, memoryMb = 256) {
  let t = 1000;
  const meter = new SandboxMeter({ function: 'progress', memoryMb, initMs, clock: () => t });
  return { meter, advance: (ms: number) => void (t += ms) };
}

const own = (usage: JobUsage) => usage.functions.progress;
const sum = (usages: JobUsage[]) => addUsage(...usages);

describe('InvocationMeter', () => {
  it('records ceil(init + duration) over its takes, the request once, and billed ms × memory', async () => {
    const { meter, advance } = sandbox(120.4, 256);
    const invocation = meter.start();
    advance(3.3);
    const first = invocation.take();
    advance(0.2);
    const second = invocation.take();
    advance(7.05);
    const third = invocation.take();
    // 120.4 + 3.3 = 123.7 → 124; then 123.9 → nothing new; then 130.95 → 131.
    expect([first, second, third].map((u) => own(u).billedMs)).toEqual([124, 0, 7]);
    expect([first, second, third].map((u) => own(u).requests)).toEqual([1, 0, 0]);
    expect(own(sum([first, second, third]))).toEqual({ requests: 1, billedMs: 131, mbMs: 131 * 256 });
    expect(invocation.end()).toMatchObject({ billedMs: 131, recordedMs: 131 });
    // Only its own function's share is set.
    expect(first.functions.sampler).toEqual(emptyUsage().functions.sampler);
  });

  it('bills the sandbox init with its first invocation only', () => {
    const { meter, advance } = sandbox(500);
    const cold = meter.start();
    advance(10);
    expect(own(cold.take()).billedMs).toBe(510);
    cold.end();
    const warm = meter.start();
    advance(10);
    expect(own(warm.take()).billedMs).toBe(10);
    expect(own(warm.take()).requests).toBe(0);
  });

  it("records what an invocation's prediction missed with the same job's next invocation in the sandbox, not another job's", () => {
    const { meter, advance } = sandbox(0);
    const first = meter.start();
    first.forJob('job-a');
    advance(20);
    // The last write predicts a 10 ms rest; the invocation then really ends 35 ms later.
    expect(own(first.take({ kind: 'report' })).billedMs).toBe(30);
    advance(35);
    expect(first.end()).toMatchObject({ billedMs: 55, recordedMs: 30 });

    const other = meter.start();
    other.forJob('job-b');
    advance(5);
    expect(own(other.take()).billedMs).toBe(5);
    other.end();

    const next = meter.start();
    next.forJob('job-a');
    advance(4);
    const recorded = next.take();
    // Its own 4 ms and the 25 ms the first invocation of job-a recorded too little; mbMs at the same memory.
    expect(own(recorded)).toEqual({ requests: 1, billedMs: 29, mbMs: 29 * 256 });
    // A write that was not applied gives the correction back for the next take.
    next.giveBack(recorded);
    expect(own(next.take()).billedMs).toBe(29);
  });

  it('never hands out a negative usage: an over-prediction is taken back only down to zero, the rest stays owed', () => {
    const { meter, advance } = sandbox(0);
    const first = meter.start();
    first.forJob('job-a');
    advance(5);
    // A 300 ms rest predicted for the last write, where the invocation really ends 1 ms later.
    expect(own(first.take({ restMs: 300, kind: 'answer' })).billedMs).toBe(305);
    advance(1);
    first.end(); // 299 ms too many: owed back, negative

    const next = meter.start();
    next.forJob('job-a');
    advance(100);
    const usage = next.take();
    expect(own(usage)).toEqual({ requests: 1, billedMs: 0, mbMs: 0 });
    advance(250);
    // The 199 ms still owed come off the next take: 250 - 199.
    expect(own(next.take()).billedMs).toBe(51);
  });

  it('hands out the units its store calls consumed, to the invocation running', () => {
    const { meter } = sandbox(0);
    meter.consumed({ readUnits: 5, writeUnits: 5 }); // between invocations: nobody's
    const invocation = meter.start();
    meter.consumed({ readUnits: 2, writeUnits: 1 });
    meter.consumed({ readUnits: 0.5, writeUnits: 0 });
    expect(invocation.take().dynamodb).toEqual({ readUnits: 2.5, writeUnits: 1 });
    expect(invocation.take().dynamodb).toEqual({ readUnits: 0, writeUnits: 0 });
  });

  it("predicts the last write's rest and units, and learns both from what the invocation measured at its end", () => {
    const { meter, advance } = sandbox(0);
    const first = meter.start();
    advance(20);
    // Nothing measured yet: a 10 ms rest and one write unit.
    const last = first.take({ kind: 'header' });
    expect(own(last).billedMs).toBe(30);
    expect(last.dynamodb.writeUnits).toBe(1);
    advance(4); // the write and the return took 4 ms, and the write used 2 units
    meter.consumed({ readUnits: 0, writeUnits: 2 });
    expect(first.end()).toEqual({ billedMs: 24, recordedMs: 30, unrecordedReadUnits: 0, unrecordedWriteUnits: 1 });

    const second = meter.start();
    advance(20);
    const next = second.take({ kind: 'header' });
    expect(own(next).billedMs).toBe(24);
    expect(next.dynamodb.writeUnits).toBe(2);
    advance(4);
    meter.consumed({ readUnits: 0, writeUnits: 2 });
    expect(second.end()).toEqual({ billedMs: 24, recordedMs: 24, unrecordedReadUnits: 0, unrecordedWriteUnits: 0 });
    // Another kind of write keeps its own prediction.
    const third = meter.start();
    expect(own(third.take({ kind: 'report' })).billedMs).toBe(10);
  });

  it('predicts a rest that is the running mean of the recent ones', () => {
    const { meter, advance } = sandbox(0);
    for (const restMs of [2, 4, 6]) {
      const invocation = meter.start();
      invocation.take({ kind: 'report' });
      advance(restMs);
      invocation.end();
    }
    expect(meter.predictedRestMs('report')).toBe(4);
  });

  it('hands out again what a write that was not applied gave back, and learns nothing from it', async () => {
    const { meter, advance } = sandbox(3);
    const invocation = meter.start();
    meter.consumed({ readUnits: 1, writeUnits: 0 });
    advance(5);
    const refused = await writeWithUsage(invocation.source({}), async () => false, (applied) => applied);
    expect(refused).toBe(false);
    await expect(writeWithUsage(invocation.source({}), async () => Promise.reject(new Error('throttled')))).rejects.toThrow('throttled');
    const kept = invocation.take();
    expect(own(kept)).toEqual({ requests: 1, billedMs: 8, mbMs: 8 * 256 });
    expect(kept.dynamodb.readUnits).toBe(1);
  });

  it("adds a caller's usage to a source's first take only, and again after it was given back", () => {
    const { meter } = sandbox(0);
    const invocation = meter.start();
    const extra = emptyUsage();
    extra.functions.sampler = { requests: 1, billedMs: 100, mbMs: 100 * 1769 };
    const source = invocation.source({}, extra);
    const first = source.take();
    expect(first.functions.sampler).toEqual(extra.functions.sampler);
    source.giveBack(first);
    expect(source.take().functions.sampler).toEqual(extra.functions.sampler);
    expect(source.take().functions.sampler.requests).toBe(0);
  });
});

describe('memoryMbFromEnv', () => {
  it("reads the function's memory size, and refuses a malformed one", () => {
    expect(memoryMbFromEnv({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769' })).toBe(1769);
    expect(() => memoryMbFromEnv({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: 'lots' })).toThrow(/AWS_LAMBDA_FUNCTION_MEMORY_SIZE/);
    expect(memoryMbFromEnv({})).toBe(128);
  });
});

describe('initDurationMs', () => {
  it("counts from the process's start, at least from Node's time origin", () => {
    const before = performance.now();
    const init = initDurationMs();
    expect(init).toBeGreaterThanOrEqual(before);
    // This test process has run for seconds, not hours.
    expect(init).toBeLessThan(10 * 60_000);
    if (process.platform === 'linux') {
      // The process started before Node's time origin, and not long before (10 ms ticks).
      const age = processAgeMs()!;
      expect(age).toBeGreaterThanOrEqual(performance.now() - 20);
      expect(age).toBeLessThan(performance.now() + 5_000);
    }
  });
});
