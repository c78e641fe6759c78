// Runs jobs through the API of a faulty local cloud and judges how each one ended.
import { ApiError, type ApiClient, type JobRequest, type JobView } from '../../cli/api-client.js';
import { blockCount } from '../../functions/shared/kernel/stream-rule.js';
import type { FaultEvent } from '../../local/index.js';
import { countProblems, faultFreeInside } from './job-oracle.js';
import type { PiCloud } from './pi-cloud.js';
import { sleep } from './pool.js';

/** A small seeded generator (mulberry32) for job parameters, so a chaos run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random small jobs: up to ~2M samples, 1–8 tasks (never more tasks than blocks), a 48-bit seed. */
export function randomJobs(count: number, seed: number, samples: [number, number] = [50_000, 2_000_000]): JobRequest[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const n = Math.floor(samples[0] + random() * (samples[1] - samples[0]));
    const tasks = 1 + Math.floor(random() * Math.min(8, blockCount(n)));
    return { samples: n, tasks, seed: Math.floor(random() * 2 ** 48) };
  });
}

const retriable = (error: unknown) =>
  !(error instanceof ApiError) || error.status === 429 || error.status >= 500;

/**
 * Calls `fn` until it answers, backing off (with jitter) on throttling, 5xx and network errors, the
 * way a careful client does; gives up at `untilMs` (epoch ms).
 */
export async function persist<T>(fn: () => Promise<T>, untilMs: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!retriable(error) || Date.now() > untilMs) throw error;
      await sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2));
    }
  }
}

export interface JobOutcome {
  request: JobRequest;
  jobId: string;
  view: JobView;
  /** When the client first saw the job end. */
  seenEndAt: number;
  /** The fault-free inside count (tsKernel). */
  readonly oracle: number;
  /** How long after its deadline a request was still answered RUNNING (it must never be). */
  runningPastDeadlineMs?: number;
}

/** Submits (with an Idempotency-Key, so retries never make a second job) and follows one job to its end. */
export async function runJob(client: ApiClient, request: JobRequest, key: string, opts: { giveUpAt: number; pollMs?: number }): Promise<JobOutcome> {
  const submitted = await persist(() => client.submitJob(request, { idempotencyKey: key }), opts.giveUpAt);
  return followJob(client, request, submitted.jobId, opts);
}

/** Polls a submitted job until it ends (or `giveUpAt` passes), noting any read that said RUNNING past its deadline. */
export async function followJob(client: ApiClient, request: JobRequest, jobId: string, opts: { giveUpAt: number; pollMs?: number }): Promise<JobOutcome> {
  let runningPastDeadlineMs: number | undefined;
  for (;;) {
    let sentAt = 0;
    const view = await persist(() => {
      sentAt = Date.now();
      return client.getJob(jobId);
    }, opts.giveUpAt);
    // The outcome is derived when the job is read: once the deadline has passed, no read may say RUNNING.
    const late = sentAt - Date.parse(view.deadlineAt);
    if (view.status === 'RUNNING' && late > 0) runningPastDeadlineMs = Math.max(late, runningPastDeadlineMs ?? 0);
    if (view.status !== 'RUNNING' || Date.now() > opts.giveUpAt) {
      const seenEndAt = Date.now();
      return {
        request,
        jobId,
        view,
        seenEndAt,
        // Computed when first asked (and remembered by the oracle): a big job's count takes a while.
        get oracle() {
          return faultFreeInside(request.seed!, request.samples);
        },
        ...(runningPastDeadlineMs !== undefined && { runningPastDeadlineMs }),
      };
    }
    await sleep(opts.pollMs ?? 250);
  }
}

export interface Verdict {
  succeeded: number;
  failed: number;
  other: number;
  /** Everything that breaks the contract, one line each; empty when every job ended as it must. */
  problems: string[];
}

/**
 * Judges finished jobs against the table: SUCCEEDED with exactly the fault-free count, or FAILED with
 * a reason and failing tasks that faults touched; never RUNNING past the deadline, and settled in the
 * table; each task's count an exact prefix of its blocks; nothing moved after the end.
 */
export async function judge(env: PiCloud, outcomes: readonly JobOutcome[], faults: readonly FaultEvent[]): Promise<Verdict> {
  const verdict: Verdict = { succeeded: 0, failed: 0, other: 0, problems: [] };
  const stored = await env.scanJobs();
  for (const o of outcomes) {
    const say = (what: string) => verdict.problems.push(`job ${o.jobId} (${JSON.stringify(o.request)}): ${what}`);
    const { view } = o;
    if (view.status === 'SUCCEEDED') verdict.succeeded++;
    else if (view.status === 'FAILED') verdict.failed++;
    else verdict.other++;
    const items = stored.get(o.jobId);
    if (!items?.header) {
      say('no job header in the table');
      continue;
    }
    const { header, tasks } = items;
    if (view.status === 'SUCCEEDED') {
      if (view.done !== o.request.samples) say(`SUCCEEDED with ${view.done} of ${o.request.samples} samples`);
      if (view.inside !== o.oracle) say(`SUCCEEDED with inside ${view.inside}, the fault-free run gives ${o.oracle}`);
    } else if (view.status === 'FAILED') {
      if (!view.reason) say('FAILED without a reason');
      if (!view.failedTasks?.length) say(`FAILED without naming tasks: ${view.reason}`);
      const touched = faults.some((f) => f.subject.includes(o.jobId));
      if (!touched) say(`FAILED though no fault touched it: ${view.reason}`);
    } else {
      say(`ended ${view.status}`);
    }
    if (header.status !== view.status) say(`the table says ${header.status}, the API said ${view.status}`);
    if (header.finishedAt === undefined) say('no finishedAt in the table');
    if (o.runningPastDeadlineMs !== undefined) say(`answered RUNNING ${o.runningPastDeadlineMs} ms after its deadline`);
    if (view.status === 'SUCCEEDED' && header.finishedAt !== undefined && header.finishedAt > header.deadlineAt) {
      // Tasks may complete just before the deadline and be noticed just after; more would mean the deadline was ignored.
      if (header.finishedAt - header.deadlineAt > 5_000) say(`SUCCEEDED ${header.finishedAt - header.deadlineAt} ms after its deadline`);
    }
    if (header.done !== view.done || header.inside !== view.inside) {
      say(`counts moved after the end: API said ${view.done}/${view.inside}, the table now says ${header.done}/${header.inside}`);
    }
    for (const p of countProblems(header, tasks)) say(p);
    const expiry = Math.ceil(header.createdAt / 1000);
    if ([header, ...tasks].some((item) => typeof item.expiresAt !== 'number' || item.expiresAt <= expiry)) {
      say('an item without a TTL in the future');
    }
  }
  return verdict;
}

/**
 * Prints an aligned table. Written to stdout directly: the test runner hides console output of
 * passing tests, and these tables are the point of the run.
 */
export function printTable(title: string, header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const text = [title, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
  process.stdout.write(`\n${text}\n\n`);
  return text;
}
