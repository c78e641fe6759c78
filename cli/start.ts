import { join } from 'node:path';
import type { JobRequest, JobView } from '../functions/shared/job.js';
import { METRICS, METRICS_NAMESPACE } from '../functions/shared/telemetry.js';
import type { MetricStat } from '../local/index.js';
import { ApiClient, ApiError } from './api-client.js';
import { announceDashboard, untilAborted } from './dashboard/run.js';
import { startDashboard, type Dashboard } from './dashboard/server.js';
import { watchInterrupts } from './interrupt.js';
import { connectApi, type LocalSession } from './local-session.js';
import { formatCount, formatRate } from './numbers.js';
import { describeResult, errorText } from './output.js';
import { progressDisplay, type ProgressDisplay } from './progress.js';
import { ROOT } from './synth.js';

export interface StartOptions {
  samples: number;
  tasks: number;
  seed?: number;
  /** A deployed stage's URL: run the job there instead of on the local cloud. */
  endpoint?: string;
  region?: string;
  verbose: boolean;
  /** Where function logs go when not shown; default `.local-state/start.log`. */
  logFile?: string;
  port?: number;
  /** How often to read the job (GET /jobs/{id}). */
  intervalMs?: number;
  /** Also serve the dashboard (on this port, or a free one), and keep serving it after the job until Ctrl-C. */
  ui?: { port?: number };
}

const DEFAULT_LOG_FILE = join(ROOT, '.local-state', 'start.log');

/**
 * Read a job often while it is young, so a short job's end shows at once, then settle at a few reads
 * a second: within the stage's default throttle (10 requests/s, burst 20) either way. A GET reads
 * every task item of the job (a whole-job Query, then the view over IPC and HTTP), so a big job is
 * read at most once per half a millisecond per task: every 500 ms for 1,000 tasks, as often as
 * before for 100 or fewer.
 */
export const localPollMs = (tasks: number) => (elapsedMs: number) =>
  Math.min(Math.max(250, tasks / 2), Math.max(50, elapsedMs / 10, tasks / 2));
/** A deployed stage: every read is a Lambda invocation, so back off to one a second. */
const remotePollMs = (elapsedMs: number) => Math.min(1000, Math.max(200, elapsedMs / 5));

const line = (stream: NodeJS.WriteStream) => (text: string) => stream.write(`${text}\n`);

/**
 * `npm start`: the tutorial end to end. Synthesizes if needed, starts the local cloud (or uses
 * `--endpoint`), submits the job through the signed API, shows progress, prints π, and stops
 * everything it started, whatever happens. Returns the exit code.
 */
export async function runStart(options: StartOptions): Promise<number> {
  const say = line(process.stdout);
  const warn = line(process.stderr);
  let session: LocalSession | undefined;
  let dashboard: Dashboard | undefined;
  let display: ProgressDisplay | undefined;
  const interrupt = watchInterrupts(() => {
    display?.close();
    session?.kill();
  });
  const { signal } = interrupt;
  let code = 1;
  let request: JobRequest | undefined;
  let submitted = false;
  try {
    const connection = await connectApi({ ...options, logFile: options.logFile ?? DEFAULT_LOG_FILE, signal, say, warn });
    const { client } = connection;
    session = connection.session;
    signal.throwIfAborted();
    if (options.ui) {
      dashboard = await startDashboard({ client, ...(options.ui.port !== undefined && { port: options.ui.port }) });
      announceDashboard(dashboard, say);
    }

    request = { samples: options.samples, tasks: options.tasks, ...(options.seed !== undefined && { seed: options.seed }) };
    const submittedAt = Date.now();
    const job = await client.submitJob(request, { signal });
    submitted = true;
    dashboard?.follow(job);
    say(`Job ${job.jobId}: ${formatCount(job.samples)} samples in ${job.tasks} task(s), seed ${job.seed}`);

    display = progressDisplay(process.stdout);
    // On a terminal, log lines must pass through the display so the bars stay intact.
    if (process.stdout.isTTY) session?.setShow(display.log);
    let final: JobView;
    try {
      final = await client.waitForJob(job.jobId, {
        intervalMs: options.intervalMs ?? (options.endpoint ? remotePollMs : localPollMs(job.tasks)),
        signal,
        onUpdate: (view) => display!.update(view),
      });
    } catch (error) {
      if (!signal.aborted) throw error;
      display.log(`Interrupted: cancelling job ${job.jobId} (DELETE /jobs/${job.jobId})`);
      final = await cancel(client, job.jobId);
    }
    display.finish(final);
    display.close();
    session?.setShow(warn);
    for (const text of describeResult(final, Date.now() - submittedAt)) say(text);
    for (const text of summaryLines(session ? await metricsWhenIdle(session) : undefined)) say(text);
    code = final.status === 'SUCCEEDED' ? 0 : signal.aborted ? interrupt.exitCode() : 1;
    if (dashboard && !signal.aborted) {
      say(`Dashboard still serving at ${dashboard.url} until Ctrl-C.`);
      await untilAborted(signal);
    }
  } catch (error) {
    display?.close();
    if (signal.aborted) {
      warn(`Interrupted (${interrupt.received()}): stopping`);
      code = interrupt.exitCode();
    } else {
      warn(`Error: ${errorText(error)}`);
      // The API's schema messages do not always name the field: show what was sent.
      if (error instanceof ApiError && error.status < 500 && request && !submitted) warn(`The request was: ${JSON.stringify(request)}`);
      code = 1;
    }
  } finally {
    display?.close();
    await dashboard?.close();
    if (session) {
      const pids = await session.stop();
      if (options.verbose) {
        say(`Local cloud stopped (process ${session.hostPid}); worker processes ended: ${pids.length ? pids.join(' ') : 'none'}`);
      }
    }
    interrupt.dispose();
  }
  return code;
}

/** Cancels the job; if it ended meanwhile, reads how it ended. */
async function cancel(client: ApiClient, jobId: string): Promise<JobView> {
  try {
    return await client.cancelJob(jobId);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'JobFinished') return client.getJob(jobId);
    throw error;
  }
}

/** How long the summary waits for the job's last invocations (a run's last poll, a sampler's metrics) to end. */
const IDLE_WAIT_MS = 3_000;

/** The cloud's metrics once the work the job started has ended (or after IDLE_WAIT_MS). */
async function metricsWhenIdle(session: LocalSession): Promise<MetricStat[]> {
  const until = Date.now() + IDLE_WAIT_MS;
  for (;;) {
    const { pendingEvents, invocationsInFlight } = await session.busy();
    if ((pendingEvents === 0 && invocationsInFlight === 0) || Date.now() >= until) return session.metrics();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * What the job's functions measured (the local cloud's metrics: `npm start` runs one job on a fresh
 * cloud, so they are the job's), in one line; none without a local cloud. The job's cost is printed
 * with its result.
 */
export function summaryLines(metrics: MetricStat[] | undefined): string[] {
  const lines: string[] = [];
  if (metrics) {
    const stat = (name: string) => metrics.find((m) => m.namespace === METRICS_NAMESPACE && m.name === name);
    const total = (name: string) => stat(name)?.sum ?? 0;
    const throughput = stat(METRICS.sampler.samplerThroughput);
    const rate = throughput
      ? `${formatRate(throughput.sum / throughput.count)} samples/s per task (${throughput.count} sampler run(s), ${formatRate(throughput.min)} to ${formatRate(throughput.max)})`
      : 'no sampler run ended';
    lines.push(
      `Metrics: ${rate}; reports accepted ${formatCount(total(METRICS.progress.reportsAccepted))}, ` +
        `refused ${formatCount(total(METRICS.progress.reportsRefused))}; restarts ${formatCount(total(METRICS.orchestrator.tasksRestarted))}`,
    );
  }
  return lines;
}
