import { describe, expect, it } from 'vitest';
import { runNpm } from '../cli/run.js';

// `npm start -- --ui` as a user runs it: the dashboard's URL first, the job, then serving until Ctrl-C.

describe('npm start -- --ui', () => {
  it('prints the dashboard URL before the job, lists the job there, keeps serving after it and stops on Ctrl-C', async () => {
    let url: URL | undefined;
    let listed: unknown;
    let pressed = false;
    const run = await runNpm(['start', '--', '--samples', '1e7', '--tasks', '2', '--seed', '3', '--ui'], {
      ownProcessGroup: true,
      timeoutMs: 120_000,
      onStdout: (text, pid) => {
        if (pressed || !/^Dashboard still serving at /m.test(text)) return;
        pressed = true;
        url = new URL(/^Dashboard: (\S+)$/m.exec(text)![1]!);
        void (async () => {
          // The token in the URL lets the page in; the page's API calls send it as a header.
          const token = url!.searchParams.get('token')!;
          expect((await fetch(url!)).status).toBe(200);
          listed = await (await fetch(new URL('/api/jobs', url), { headers: { 'x-dashboard-token': token } })).json();
          process.kill(-pid, 'SIGINT');
        })();
      },
    });
    expect(pressed, run.stdout + run.stderr).toBe(true);
    // npm itself ends by the signal; the CLI under it exits 0 (the job succeeded).
    expect(run.code === 0 || run.signal === 'SIGINT', `exit ${run.code} ${run.signal}\n${run.stderr}`).toBe(true);
    expect(run.stderr).not.toMatch(/Error/);
    const lines = run.stdout.split('\n');
    const dashboardLine = lines.findIndex((line) => line.startsWith('Dashboard: http://127.0.0.1:'));
    const jobLine = lines.findIndex((line) => /^Job \S+: 10,000,000 samples in 2 task\(s\), seed 3$/.test(line));
    expect(dashboardLine).toBeGreaterThanOrEqual(0);
    expect(jobLine).toBeGreaterThan(dashboardLine);
    expect(url!.hostname).toBe('127.0.0.1');
    expect(url!.searchParams.get('token')).toMatch(/^[\w-]{43}$/);
    const jobId = /^Job (\S+):/.exec(lines[jobLine]!)![1];
    expect(listed).toMatchObject({ jobs: [{ jobId, status: 'SUCCEEDED', done: 10_000_000 }] });
    // Stopped: nothing listens there any more.
    await expect(fetch(url!)).rejects.toThrow();
  }, 150_000);
});
