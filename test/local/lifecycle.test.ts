// Worker processes: cold starts in the log, warm latency, and no orphans.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { quantile } from '../helpers/pool.js';
import { FIXTURE_TEMPLATE, FN, startFixtureCloud, waitFor } from './helpers.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('worker processes', () => {
  it('shows a cold start in the log, then reuses the warm worker', async () => {
    const t = await startFixtureCloud();
    try {
      await t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: '{}' }));
      await t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: '{}' }));
      const lines = t.logs.filter((l) => l.startsWith(`[${FN.echo}]`));
      expect(lines.filter((l) => l.includes('INIT_START'))).toHaveLength(1);
      const reports = lines.filter((l) => l.includes('REPORT RequestId:'));
      expect(reports).toHaveLength(2);
      expect(reports[0]).toMatch(/\tInit Duration: [\d.]+ ms/);
      expect(reports[1]).not.toMatch(/Init Duration/);
      expect(t.cloud.workerPids()).toHaveLength(1);
    } finally {
      await t.stop();
    }
  });

  it('measures warm no-op invocation latency through the SDK', async () => {
    const t = await startFixtureCloud();
    try {
      const call = () => t.lambda.send(new InvokeCommand({ FunctionName: FN.slow, Payload: '{"ms":0}' }));
      for (let i = 0; i < 50; i++) await call();
      const samples: number[] = [];
      for (let i = 0; i < 400; i++) {
        const started = performance.now();
        await call();
        samples.push(performance.now() - started);
      }
      const p50 = quantile(samples, 0.5);
      const p99 = quantile(samples, 0.99);
      console.log(`warm sync invoke through the SDK: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms (n=${samples.length})`);
      // Loose bounds: a regression guard, not a benchmark (that is bench:local).
      expect(p50).toBeLessThan(25);
      expect(p99).toBeLessThan(100);
    } finally {
      await t.stop();
    }
  });

  it('caps worker processes per function when asked, queueing invocations instead of failing them', async () => {
    const t = await startFixtureCloud({ maxWorkersPerFunction: 1 });
    try {
      const outs = await Promise.all(
        [1, 2, 3, 4].map(() => t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: '{}' }))),
      );
      expect(outs.map((o) => o.StatusCode)).toEqual([200, 200, 200, 200]);
      const pids = new Set(outs.map((o) => (JSON.parse(Buffer.from(o.Payload!).toString()) as { pid: number }).pid));
      expect(pids.size).toBe(1);
    } finally {
      await t.stop();
    }
  });

  it('stop() ends every worker process', async () => {
    const t = await startFixtureCloud();
    await t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: '{}' }));
    await t.lambda.send(new InvokeCommand({ FunctionName: FN.env, Payload: '{}' }));
    // A running invocation too: stop() must not wait for it or leave it behind.
    const running = t.lambda.send(new InvokeCommand({ FunctionName: FN.slow, Payload: '{"ms":900}' })).catch(() => undefined);
    await waitFor(() => t.cloud.workerPids().length >= 3 || undefined, 5_000, 'three workers');
    const pids = t.cloud.workerPids();
    expect(pids.every(alive)).toBe(true);
    await t.stop();
    await running;
    expect(pids.filter(alive)).toEqual([]);
    expect(t.cloud.workerPids()).toEqual([]);
  });

  it('stop() ends invocations in flight as stopped, not as function errors', async () => {
    const t = await startFixtureCloud({ timeoutOverrides: { [FN.slow]: 30 } });
    const sync = t.lambda.send(new InvokeCommand({ FunctionName: FN.slow, Payload: '{"ms":5000}' })).catch((err: Error) => err);
    await t.lambda.send(new InvokeCommand({ FunctionName: FN.slow, InvocationType: 'Event', Payload: '{"ms":5000}' }));
    // The function's reserved concurrency is 1: one invocation runs, the event waits in the queue.
    await waitFor(() => t.logs.some((l) => l.startsWith(`[${FN.slow}] START`)) || undefined, 10_000, 'a running invocation');
    expect(t.cloud.pendingEvents()).toBe(1);
    await t.stop();
    const error = await sync;
    const slow = t.logs.filter((l) => l.startsWith(`[${FN.slow}]`));
    const reports = slow.filter((l) => l.includes('REPORT RequestId:'));
    expect(reports).toHaveLength(1);
    for (const report of reports) expect(report).toMatch(/\tStatus: stopped$/);
    expect(slow.filter((l) => /Status: error|Runtime\.ExitError|async attempt|delivery failed|discarded/.test(l))).toEqual([]);
    const records = t.cloud.invocations(FN.slow);
    expect(records).toHaveLength(1);
    expect(records[0]!.ok).toBeUndefined();
    expect(records[0]!.endedAt).toBeTypeOf('number');
    expect(error).toBeInstanceOf(Error);
  });

  it('workers exit on their own when the process hosting the cloud dies', async () => {
    const host = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/host-process.ts', import.meta.url)), FIXTURE_TEMPLATE], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: host.stdout! }).once('line', resolve);
        host.once('exit', (code) => reject(new Error(`host exited early (${code})`)));
      });
      const { pids } = JSON.parse(line) as { pids: number[] };
      expect(pids).toHaveLength(2);
      expect(pids.every(alive)).toBe(true);
      host.kill('SIGKILL');
      await waitFor(() => pids.every((p) => !alive(p)) || undefined, 5_000, 'orphaned workers to exit');
    } finally {
      host.kill('SIGKILL');
    }
  });
});
