import { isFinal, type JobView } from '../../functions/shared/job.js';
import { ApiClient, ApiError } from '../api-client.js';
import type { JobSummary } from './list-jobs.js';
import type { ConvergencePoint, JobRow } from './page/contract.js';

export type { ConvergencePoint, JobRow };

export type JobEvent = { type: 'job'; view: JobView } | { type: 'failure'; error: { code: string; message: string } };
type Listener = (event: JobEvent) => void;

export interface JobWatchOptions {
  /** Least time between two reads of one running job (each read is a request the job pays for). */
  pollMs?: number;
  /** Reads of one caller's jobs under way at once. */
  maxConcurrent?: number;
  /** Most convergence points kept per job (older ones are thinned). */
  maxPoints?: number;
}

/** Runs `work` with at most `limit` of them under way at once. */
function limiter(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await work();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The API's `{"error":{"code","message"}}` for any failure of a read. */
export function errorBody(error: unknown): { code: string; message: string } {
  if (error instanceof ApiError) return { code: error.code, message: error.message };
  return { code: 'Unavailable', message: error instanceof Error ? error.message : String(error) };
}

/**
 * The dashboard's view of the caller's jobs. Every read is a GET the job pays for, so: a finished
 * job is read once and kept (its view no longer changes), a running one at most once per `pollMs`
 * whoever asks (the jobs list and every page watching it share the reads), and at most
 * `maxConcurrent` reads are under way at once.
 */
export class JobWatch {
  private readonly pollMs: number;
  private readonly maxPoints: number;
  private readonly limit: ReturnType<typeof limiter>;
  private readonly views = new Map<string, { view: JobView; readAt: number }>();
  private readonly reads = new Map<string, Promise<JobView>>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly points = new Map<string, ConvergencePoint[]>();
  private closed = false;

  constructor(
    private readonly client: ApiClient,
    options: JobWatchOptions = {},
  ) {
    this.pollMs = options.pollMs ?? 1000;
    this.limit = limiter(options.maxConcurrent ?? 5);
    this.maxPoints = options.maxPoints ?? 2000;
  }

  /** The job's view, read again only when it runs and the last read is older than `maxAgeMs`. */
  view(jobId: string, maxAgeMs = this.pollMs): Promise<JobView> {
    const known = this.views.get(jobId);
    if (known && (isFinal(known.view.status) || Date.now() - known.readAt < maxAgeMs)) return Promise.resolve(known.view);
    let read = this.reads.get(jobId);
    if (!read) {
      read = this.limit(() => this.client.getJob(jobId))
        .then((view) => this.remember(view))
        .finally(() => this.reads.delete(jobId));
      this.reads.set(jobId, read);
    }
    return read;
  }

  /** A view the dashboard got otherwise (a submission's answer, a cancellation's). */
  remember(view: JobView): JobView {
    this.views.set(view.jobId, { view, readAt: Date.now() });
    this.addPoint(view);
    return view;
  }

  /** The convergence plot's points so far: samples done, π, and its 95 % interval. */
  history(jobId: string): ConvergencePoint[] {
    return this.points.get(jobId) ?? [];
  }

  private addPoint(view: JobView): void {
    if (!view.estimate) return;
    const points = this.points.get(view.jobId) ?? [];
    if (points.length > 0 && points.at(-1)![0] >= view.done) return;
    points.push([view.done, view.estimate.pi, view.estimate.ci95[0], view.estimate.ci95[1]]);
    // Thin the middle, keeping the first and the newest: the plot's log x needs both ends.
    if (points.length > this.maxPoints) {
      const middle = points.slice(1, -1).filter((_, i) => i % 2 === 1);
      points.splice(0, points.length, points[0]!, ...middle, points.at(-1)!);
    }
    this.points.set(view.jobId, points);
  }

  /**
   * Calls `listener` with the job's view at most once per `pollMs` while it runs, then with its final
   * view. One poller per job, whatever the number of listeners; it stops when the last one leaves.
   */
  subscribe(jobId: string, listener: Listener): () => void {
    let set = this.listeners.get(jobId);
    const start = !set;
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    const known = this.views.get(jobId);
    // After the caller holds its unsubscribe function (a finished job's listener ends at once).
    if (known) queueMicrotask(() => set.has(listener) && listener({ type: 'job', view: known.view }));
    if (start) void this.poll(jobId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(jobId) === set) this.listeners.delete(jobId);
    };
  }

  private async poll(jobId: string, set: Set<Listener>): Promise<void> {
    // The view subscribe already sent, when there was one.
    let last: JobView | undefined = this.views.get(jobId)?.view;
    while (set.size > 0 && !this.closed) {
      const startedAt = Date.now();
      let event: JobEvent;
      try {
        const view = await this.view(jobId);
        event = { type: 'job', view };
      } catch (error) {
        // Throttling, a 5xx or the network: read again at the next tick. A 4xx (the job is not the
        // caller's, say) ends the stream.
        if (!isFinalFailure(error)) {
          await sleep(this.pollMs);
          continue;
        }
        event = { type: 'failure', error: errorBody(error) };
      }
      // A listener that joined meanwhile already has the view it saw first.
      if (event.type === 'failure' || event.view !== last) for (const listener of [...set]) listener(event);
      if (event.type === 'failure' || isFinal(event.view.status)) break;
      last = event.view;
      await sleep(Math.max(0, this.pollMs - (Date.now() - startedAt)));
    }
    if (this.listeners.get(jobId) === set) this.listeners.delete(jobId);
  }

  /** The rows of the jobs list: each summary with its progress, estimate and cost from its view. */
  async rows(summaries: readonly JobSummary[]): Promise<JobRow[]> {
    return Promise.all(
      summaries.map(async (summary) => {
        const known = this.views.get(summary.jobId)?.view;
        // The list says it ended: the view kept from while it ran is stale.
        const maxAgeMs = isFinal(summary.status) && known && !isFinal(known.status) ? 0 : 2 * this.pollMs;
        try {
          return rowOf(await this.view(summary.jobId, maxAgeMs));
        } catch {
          return rowOfSummary(summary);
        }
      }),
    );
  }

  close(): void {
    this.closed = true;
  }
}

/** A row from a read of the job: its live counts and its cost so far. */
function rowOf(view: JobView): JobRow {
  return { ...rowOfSummary(summaryOf(view)), done: view.done, progress: view.progress, estimate: view.estimate, usd: view.cost.usd };
}

/** A row from the list's summary alone: counts only for a finished job, no cost. */
function rowOfSummary(summary: JobSummary): JobRow {
  const done = summary.done ?? 0;
  return {
    jobId: summary.jobId,
    status: summary.status,
    samples: summary.samples,
    tasks: summary.tasks,
    seed: summary.seed,
    createdAt: summary.createdAt,
    ...(summary.finishedAt !== undefined && { finishedAt: summary.finishedAt }),
    done,
    progress: done / summary.samples,
    estimate: summary.estimate ?? null,
  };
}

/** A job view as the jobs list's summary (for jobs the dashboard itself submitted). */
export function summaryOf(view: JobView): JobSummary {
  return {
    jobId: view.jobId,
    status: view.status,
    seed: view.seed,
    samples: view.samples,
    tasks: view.tasks,
    createdAt: view.createdAt,
    deadlineAt: view.deadlineAt,
    ...(view.finishedAt !== undefined && { finishedAt: view.finishedAt }),
  };
}

/** A failure that reading again will not mend: the API's 4xx answers other than throttling. */
function isFinalFailure(error: unknown): boolean {
  return error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429;
}
