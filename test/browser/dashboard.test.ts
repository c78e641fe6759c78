import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../cli/dashboard/server.js';
import { describeResult } from '../../cli/output.js';
import { ROOT } from '../../cli/synth.js';
import { usePiCloud } from '../helpers/pi-cloud.js';
import { taskAt, traceMainThread } from './main-thread.js';

// The dashboard in a real browser (Debian's Chromium driven by playwright-core) on the local cloud.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_BROWSER = existsSync(CHROMIUM);
const REQUIRED = process.env.REQUIRE_BROWSER === '1';
const HOW_TO_INSTALL = `no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`;
const SCREENSHOT = join(ROOT, 'docs', 'dashboard.png');
const FAULTY_SEED = 424242;

// Straight to stderr: the test runner keeps console output of skipped files to itself.
if (!HAVE_BROWSER && !REQUIRED) process.stderr.write(`Browser tests skipped: ${HOW_TO_INSTALL}\n`);

describe.runIf(REQUIRED && !HAVE_BROWSER)('browser', () => {
  it('is installed (REQUIRE_BROWSER=1)', () => {
    expect.fail(HOW_TO_INSTALL);
  });
});

describe.runIf(HAVE_BROWSER)('dashboard in a browser', () => {
  // Real deadlines and stall limits: a 1,000-task job on a loaded machine must not be taken for stuck.
  const env = usePiCloud({
    env: { orchestrator: { stallSeconds: 120, jobTimeoutSeconds: 600, samplerMaxEventAgeSeconds: 60 } },
    // Only the job of seed FAULTY_SEED meets faults: its task 1 fails its first invocation (every Lambda
    // attempt of it) and is restarted; its task 2 fails every time, which fails the job.
    faults: {
      functions: {
        sampler: [
          { match: { seed: FAULTY_SEED, taskId: 1 }, throw: 1, times: 3 },
          { match: { seed: FAULTY_SEED, taskId: 2 }, throw: 1 },
        ],
      },
    },
  });
  let dashboard: Dashboard;
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    dashboard = await startDashboard({ client: env.client, apiLabel: 'local cloud' });
    profile = mkdtempSync(join(tmpdir(), 'pi-dashboard-browser-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 800 },
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await dashboard?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const openDashboard = async (): Promise<Page> => {
    const page = await context.newPage();
    await page.goto(dashboard.url);
    await page.locator('#submit-form').waitFor();
    return page;
  };

  const submit = async (page: Page, fields: { samples: string; tasks: string; seed?: string }) => {
    await page.fill('#samples', fields.samples);
    await page.fill('#tasks', fields.tasks);
    await page.fill('#seed', fields.seed ?? '');
    await page.click('#submit-button');
  };

  const jobIdOf = async (page: Page) => {
    await page.waitForURL(/#job\/[\w-]+$/, { timeout: 30_000 });
    return /#job\/([\w-]+)$/.exec(page.url())![1]!;
  };

  const statusIs = (page: Page, status: string, timeout = 120_000) =>
    page.waitForFunction((s) => document.querySelector('#job-status')?.textContent === s, status, { timeout, polling: 200 });

  /** What the job view shows now: its status, the cells' fill levels, the plot's points. */
  const snapshot = (page: Page) =>
    page.evaluate(() => {
      const cells = Array.from(document.querySelectorAll<HTMLElement>('#task-grid .task'));
      return {
        status: document.querySelector('#job-status')?.textContent ?? '',
        cells: cells.length,
        filled: cells.reduce((sum, cell) => sum + (cell.classList.contains('done') ? 1 : Number(cell.style.getPropertyValue('--p') || 0)), 0),
        points: Number(document.querySelector<HTMLElement>('#plot')?.dataset.points ?? 0),
      };
    });

  it('submits a job from the form and shows its tasks and plot advancing to SUCCEEDED with the π the CLI prints', async () => {
    const page = await openDashboard();
    await submit(page, { samples: '3e9', tasks: '4', seed: '7' });
    const jobId = await jobIdOf(page);

    const seen: Awaited<ReturnType<typeof snapshot>>[] = [];
    const watching = (async () => {
      for (;;) {
        const now = await snapshot(page);
        seen.push(now);
        if (now.status !== 'RUNNING' && now.status !== 'connecting…') return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    await statusIs(page, 'SUCCEEDED', 180_000);
    await watching;

    const last = seen.at(-1)!;
    expect(last.cells).toBe(4);
    expect(last.filled).toBe(4);
    // Seen partway: some tasks partly filled, and the plot already drawn, then more points by the end.
    const partway = seen.find((s) => s.status === 'RUNNING' && s.filled > 0 && s.filled < 4 && s.points > 0);
    expect(partway, JSON.stringify(seen)).toBeDefined();
    expect(last.points).toBeGreaterThan(partway!.points);

    // The same π the CLI prints for this job, digit for digit.
    const final = await env.client.getJob(jobId);
    const printed = /^Estimated value of π is: (\S+)$/m.exec(describeResult(final, 0).join('\n'))![1];
    expect(await page.textContent('#stat-pi')).toBe(printed);
    expect(await page.textContent('#stat-samples')).toBe('3,000,000,000 of 3,000,000,000 (100 %)');
    expect(await page.textContent('#stat-cost')).toMatch(/^\$\d/);

    // The jobs list shows it, with its π and cost.
    const row = page.locator(`#jobs-table tr[data-job="${jobId}"]`);
    await row.locator('td.status', { hasText: 'SUCCEEDED' }).waitFor({ timeout: 10_000 });
    expect(await row.locator('td').nth(3).textContent()).toMatch(new RegExp(`^${final.estimate!.pi.toFixed(5)} ± `));

    // A finished job is never read again: a second page gets the kept view and the plot's points, and
    // the job's own count of API requests grows only by this test's reads.
    const requestsBefore = (await env.client.getJob(jobId)).cost.apiRequests;
    const second = await openDashboard();
    await second.goto(`${dashboard.url}#job/${jobId}`);
    await statusIs(second, 'SUCCEEDED', 10_000);
    expect(await second.textContent('#stat-pi')).toBe(printed);
    expect((await snapshot(second)).points).toBe(last.points);
    await new Promise((resolve) => setTimeout(resolve, 3000)); // a jobs-list refresh or more
    expect((await env.client.getJob(jobId)).cost.apiRequests).toBe(requestsBefore + 1);
    await second.close();
    await page.close();
  }, 240_000);

  it('shows the API\'s validation message in place, tied to its field, and creates nothing', async () => {
    const page = await openDashboard();
    const before = (await env.scanItems()).length;
    const expected = await env.client.request('POST', 'jobs', { body: { samples: 1e6, tasks: 0 } });
    expect(expected.status).toBe(400);

    await submit(page, { samples: '1e6', tasks: '0' });
    const error = page.locator('#submit-error');
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toBe((expected.body as { error: { message: string } }).error.message);
    expect(await error.getAttribute('role')).toBe('alert');
    expect(await page.getAttribute('#tasks', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#tasks', 'aria-describedby')).toContain('submit-error');
    expect(page.url()).not.toMatch(/#job\//);
    expect((await env.scanItems()).length).toBe(before);
    await page.close();
  }, 60_000);

  it('a 1,000-task job: every update under 100 ms of main-thread time, readable at 1280×800 and 375 px, then cancelled', async () => {
    const page = await openDashboard();
    // Every update from the first (which builds the grid) until six or more updates into the steady
    // state, with the main thread's CPU time from Chromium's trace, so a busy machine's waits for a core
    // don't count.
    let jobId = '';
    let before = 0;
    const trace = await traceMainThread(page, async () => {
      await submit(page, { samples: '2e10', tasks: '1000' });
      jobId = await jobIdOf(page);
      await page.waitForFunction(() => document.querySelectorAll('#task-grid .task').length === 1000, null, { timeout: 30_000 });
      // Wait for tasks to advance: updates that change cells are the ones worth measuring.
      await page.waitForFunction(
        () => Array.from(document.querySelectorAll<HTMLElement>('#task-grid .task')).filter((c) => Number(c.style.getPropertyValue('--p') || 0) > 0).length >= 10,
        null,
        { timeout: 120_000, polling: 250 },
      );
      before = await page.evaluate(() => performance.getEntriesByName('dashboard-update').length);
      await page.waitForFunction((n) => performance.getEntriesByName('dashboard-update').length >= n + 6, before, {
        timeout: 60_000,
        polling: 500,
      });
    });
    const updates = (trace.marks.get('dashboard-update-start') ?? []).map((at) => taskAt(trace, at));
    const updateMs = updates.map((task) => task?.cpu ?? Infinity);
    const wallMs = await page.evaluate(() => performance.getEntriesByName('dashboard-update').map((e) => e.duration));
    const traced = trace.tasks.at(-1)!.end - trace.tasks[0]!.start;
    const totalMs = trace.tasks.reduce((sum, task) => sum + task.cpu, 0);
    console.log(
      `1,000-task job: ${updateMs.length} updates, main-thread CPU ${updateMs.map((ms) => ms.toFixed(1)).join(', ')} ms ` +
        `(wall ${wallMs.map((ms) => ms.toFixed(0)).join(', ')} ms); all tasks ${totalMs.toFixed(0)} ms in ${traced.toFixed(0)} ms`,
    );
    expect(updateMs.length).toBeGreaterThanOrEqual(before + 6);
    // Each update's task (its script and the plot's redraw; the first also builds the grid): under 100 ms.
    for (const ms of updateMs) expect(ms).toBeLessThan(100);
    // Everything else the main thread did meanwhile (style, layout, paint, the event stream, collection)
    // stays under 100 ms per update on the whole.
    expect(totalMs).toBeLessThan(100 * updateMs.length);

    // The README's picture of a running 1,000-task job, rewritten only when asked (the tree stays clean in CI).
    if (process.env.UPDATE_SCREENSHOT === '1') {
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: SCREENSHOT });
    }

    // A task's numbers from the keyboard: the grid is one tab stop, the arrow keys move.
    await page.focus('#task-grid');
    await page.keyboard.press('ArrowRight');
    expect(await page.textContent('#task-detail')).toMatch(/^Task 1: [\d,]+ of [\d,]+ samples \([\d.]+ %\) · \d+ invocations?/);
    await page.keyboard.press('End');
    expect(await page.textContent('#task-detail')).toMatch(/^Task 999: /);
    await page.locator('#task-grid').blur();

    // Phone width: nothing wider than the screen but the jobs table, which scrolls in its own box.
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.click('#cancel-button');
    await statusIs(page, 'CANCELLED', 60_000);
    expect(await page.isHidden('#cancel-button')).toBe(true);
    expect((await env.client.getJob(jobId)).status).toBe('CANCELLED');
    await page.close();
  }, 300_000);

  it('marks a restarted task and a failed one beyond colour, and shows why the job failed', async () => {
    const page = await openDashboard();
    await submit(page, { samples: String(4 * 16384 * 20), tasks: '4', seed: String(FAULTY_SEED) });
    const jobId = await jobIdOf(page);
    await statusIs(page, 'FAILED', 120_000);
    const final = await env.client.getJob(jobId);
    expect(final.failedTasks).toEqual([2]);

    expect(await page.getAttribute('#task-1', 'class')).toBe('task done restarted');
    expect(await page.getAttribute('#task-2', 'class')).toBe('task failed restarted');
    // The cross is content, not colour.
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('#task-2')!, '::after').content)).toBe('"✕"');
    expect(await page.textContent('#stat-tasks')).toBe('3 of 4 done, 2 restarted, 1 failed');
    expect(await page.isVisible('#job-failure')).toBe(true);
    expect(await page.textContent('#job-reason')).toBe(final.reason);
    expect(await page.textContent('#job-failed-tasks')).toBe('Failed tasks: 2');
    expect(await page.isHidden('#cancel-button')).toBe(true);

    // Pointing at the failed task tells its story.
    await page.hover('#task-2');
    expect(await page.textContent('#task-detail')).toBe(
      `Task 2: 0 of ${(16384 * 20).toLocaleString('en-US')} samples (0 %) · 3 invocations (restarted) · failed: ${final.taskProgress[2]!.failure}`,
    );
    await page.close();
  }, 180_000);

  it('refuses a request without the token, with a wrong one, from another Host or another Origin', async () => {
    const getHeaders = (path: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: dashboard.port, path }, (res) => {
          res.resume();
          resolve(res.headers);
        });
        req.on('error', reject);
        req.end();
      });
    const get = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: dashboard.port, path, headers }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const withToken = { 'x-dashboard-token': dashboard.token };
    expect((await get('/api/jobs', withToken)).status).toBe(200);
    expect((await get(`/api/jobs?token=${dashboard.token}`)).status).toBe(200);
    expect((await get(`/?token=${dashboard.token}`, { host: `localhost:${dashboard.port}` })).status).toBe(200);
    // No cookie is ever set: every port of 127.0.0.1 would receive it.
    expect((await getHeaders(`/?token=${dashboard.token}`))['set-cookie']).toBeUndefined();

    const refused = [
      await get('/'),
      await get('/api/jobs'),
      await get('/app.js'),
      await get('/?token=not-the-token'),
      await get('/api/jobs', { 'x-dashboard-token': `${dashboard.token.slice(1)}x` }),
      await get('/api/jobs', { cookie: `pi_dashboard_${dashboard.port}=${dashboard.token}` }),
      // DNS rebinding: another name that resolves to 127.0.0.1.
      await get('/api/jobs', { ...withToken, host: `attacker.example:${dashboard.port}` }),
      await get(`/?token=${dashboard.token}`, { host: `attacker.example:${dashboard.port}` }),
      // Another site's page.
      await get('/api/jobs', { ...withToken, origin: 'http://attacker.example' }),
      await get('/api/jobs', { ...withToken, origin: `http://127.0.0.1:${dashboard.port + 1}` }),
    ];
    for (const answer of refused) expect(answer).toEqual({ status: 403, body: 'Forbidden' });
    // A target that is not a path (absolute, or malformed) is refused without taking the server down.
    for (const target of ['http://[', '//[', '*']) expect((await get(target, withToken)).status).toBe(400);
    expect((await get('/api/jobs', withToken)).status).toBe(200);
  });
});
