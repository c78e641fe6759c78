import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { faultFreeInside } from '../helpers/job-oracle.js';
import { descendantsOf, hasStackTrace, isRunning, processesMentioning, runNpm } from './run.js';

const scratch = mkdtempSync(join(tmpdir(), 'pi-cli-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('npm start', () => {
  it('runs a small job to the exact π of its seed, prints progress, exits 0 and leaves no process behind', async () => {
    // A log file of its own marks every process of this run (npm, its shell, the CLI).
    const logFile = join(scratch, 'start-ok.log');
    // Every process started below npm while it runs, sampled every 50 ms.
    const seen = new Set<number>();
    const run = await runNpm(['start', '--', '--samples', '2e6', '--tasks', '4', '--seed', '1', '--verbose', '--log-file', logFile], {
      onTick: (pid) => descendantsOf(pid).forEach((p) => seen.add(p)),
    });
    expect(run.code, run.stderr).toBe(0);

    expect(run.stdout).toMatch(/^Progress: \d+%$/m);
    expect(run.stdout).toMatch(/^Progress: 100%$/m);
    // Deterministic streams: the estimate is exactly 4 × (the kernel's inside count) / samples.
    const samples = 2_000_000;
    const inside = faultFreeInside(1, samples);
    const printed = /^Estimated value of π is: (\S+)$/m.exec(run.stdout)?.[1];
    expect(Number(printed)).toBe((4 * inside) / samples);
    expect(run.stdout).toMatch(/Standard error: [\d.e-]+, 95% interval: \[3\.\d+, 3\.\d+\]/);
    expect(run.stdout).toMatch(/2,000,000 samples in 4 task\(s\), seed 1: wall time [\d.]+ s, [\d.]+ [kMG]? ?samples\/s/);
    // The summary from the functions' metrics: every task's samples/s, the reports, the restarts.
    expect(run.stdout).toMatch(/^Metrics: [\d.]+ [kMG]? ?samples\/s per task \(\d+ sampler run\(s\), .*; reports accepted [1-9][\d,]*, refused [\d,]+; restarts [\d,]+$/m);
    // --verbose shows the functions' logs, prefixed by function.
    expect(run.stderr).toMatch(/^\[sampler\] .*task ended/m);

    const stopped = /^Local cloud stopped \(process (\d+)\); worker processes ended: ([\d ]+)$/m.exec(run.stdout);
    const host = Number(stopped?.[1]);
    const workers = stopped?.[2]?.split(' ').map(Number) ?? [];
    expect(workers.length).toBeGreaterThanOrEqual(3); // at least one per function
    expect(workers.filter((pid) => seen.has(pid)).length).toBeGreaterThan(0);
    for (const pid of new Set([run.pid, host, ...seen, ...workers])) expect(isRunning(pid), `process ${pid} is still running`).toBe(false);
    expect(processesMentioning(logFile)).toEqual([]);
  }, 300_000);

  it('Ctrl-C cancels the job (DELETE) and then stops everything', async () => {
    const logFile = join(scratch, 'start-interrupted.log');
    const seen = new Set<number>();
    let pressed = false;
    const run = await runNpm(['start', '--', '--samples', '2e10', '--tasks', '4', '--verbose', '--log-file', logFile], {
      ownProcessGroup: true,
      onTick: (pid) => descendantsOf(pid).forEach((p) => seen.add(p)),
      onStdout: (text, pid) => {
        if (pressed || !/^Progress: \d+%/m.test(text)) return;
        pressed = true;
        // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
        setTimeout(() => process.kill(-pid, 'SIGINT'), 500);
      },
    });
    expect(pressed).toBe(true);
    expect(run.code === 130 || run.signal === 'SIGINT', `exit ${run.code} ${run.signal}`).toBe(true);
    expect(run.stdout).toMatch(/^Interrupted: cancelling job \S+ \(DELETE \/jobs\/\S+\)$/m);
    expect(run.stdout).toMatch(/^Job CANCELLED: cancelled by request$/m);
    expect(run.stdout).toMatch(/worker processes ended:/);
    for (const pid of new Set([run.pid, ...seen])) expect(isRunning(pid), `process ${pid} is still running`).toBe(false);
    expect(processesMentioning(logFile)).toEqual([]);
  }, 300_000);

  it('a request the API refuses prints its error and the request, exits non-zero, no stack trace', async () => {
    const logFile = join(scratch, 'start-bad.log');
    const run = await runNpm(['start', '--', '--samples', '1e6', '--tasks', '0', '--log-file', logFile]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/^Error: the API answered 400 InvalidRequest: "tasks" must be between 1 and 1000, got 0$/m);
    expect(run.stderr).toContain('The request was: {"samples":1000000,"tasks":0}');
    expect(hasStackTrace(run.stderr)).toBe(false);
    expect(run.stdout).not.toMatch(/Progress:/);
    expect(processesMentioning(logFile)).toEqual([]);
  }, 300_000);

  it('a value that is not a number is a usage error before anything starts', async () => {
    const run = await runNpm(['start', '--', '--samples', 'lots']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Error: --samples must be a number like 100000000 or 1e8, got "lots"');
    expect(hasStackTrace(run.stderr)).toBe(false);
    expect(run.stdout).not.toMatch(/Local cloud/);
  });

  it('an unknown option is a usage error', async () => {
    const run = await runNpm(['start', '--', '--sample', '5']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^Error: .*--sample/m);
    expect(hasStackTrace(run.stderr)).toBe(false);
  });
});
