import type { ProgressReport, ReportAnswer, SamplerEvent } from '../shared/job.js';
import { BLOCK_SIZE, samplesInBlocks, type Kernel } from '../shared/kernel/index.js';
import { writeWithUsage, type InvocationMeter } from '../shared/usage-meter.js';

export interface TaskDeps {
  kernel: Kernel;
  /** Sends a report and returns the store's answer (the progress function, invoked synchronously). */
  report(report: ProgressReport): Promise<ReportAnswer>;
  now(): number;
  reportIntervalMs: number;
  /** Time left before the sampler is killed; it reports and hands over to a retry before that. */
  remainingMs(): number;
  sleep?(ms: number): Promise<void>;
  /** Told of a progress report that failed (the run goes on: the next report replaces it). */
  reportFailed?(report: ProgressReport, error: unknown): void;
  /** This invocation's meter: each report carries what the invocation used since its last answered one. */
  meter?: InvocationMeter;
}

export interface TaskResult {
  jobId: string;
  taskId: number;
  done: number;
  inside: number;
  cancelled: boolean;
}

/** Blocks per kernel call: big enough that call overhead vanishes, small enough to check the clock often. */
const CHUNK_BLOCKS = 64;
/** Stop sampling this long before the timeout, to report what is done and let the retry resume. */
const TIMEOUT_MARGIN_MS = 3_000;

export class OutOfTimeError extends Error {
  constructor(done: number) {
    super(`stopped before the timeout after ${done} samples; a retry resumes from there`);
    this.name = 'OutOfTimeError';
  }
}

const REPORT_ATTEMPTS = 3;

/** What a report's usage includes of the time still to come: nothing, or (a report that may be the last) the wait for its answer. */
type Rest = 'none' | 'answer';

/** A warm report's round trip, about: the predicted wait for a last answer before any was measured. */
const DEFAULT_ANSWER_WAIT_MS = 25;

/**
 * Sends reports with the invocation's usage: each carries what was not recorded yet (given back if the
 * report fails, for the next one). A last report also carries its predicted wait for the answer: the
 * latest round trip of this invocation's reports but the first (which often waits for the progress
 * function's cold start: measured 1.3 to 3 s locally, against tens of milliseconds warm); failing that,
 * the sandbox's recent waits for a last answer; failing that, a warm round trip's usual time. (A report
 * sent while sampling is answered when sampling yields: its round trip as measured is up to one chunk
 * of sampling longer, a few milliseconds.)
 */
class Reporter {
  private answered = 0;
  private latestRoundTripMs: number | undefined;

  constructor(private readonly deps: TaskDeps) {}

  private predictedWaitMs(): number {
    return this.latestRoundTripMs ?? this.deps.meter?.measuredRestMs('answer') ?? DEFAULT_ANSWER_WAIT_MS;
  }

  async send(report: ProgressReport, rest: Rest): Promise<ReportAnswer> {
    const source = this.deps.meter?.source(rest === 'answer' ? { kind: 'answer', restMs: this.predictedWaitMs() } : {});
    const sentAt = this.deps.now();
    const answer = await writeWithUsage(source, (usage) => this.deps.report(usage ? { ...report, usage: usage.functions.sampler } : report));
    if (this.answered++ > 0) this.latestRoundTripMs = this.deps.now() - sentAt;
    return answer;
  }
}

/**
 * The first and last reports must land: retry them briefly (a throttled table or a throttled progress
 * function), then fail the run so Lambda retries it, and the retry resumes from what was accepted.
 */
async function reportSurely(report: ProgressReport, reporter: Reporter, rest: Rest, deps: TaskDeps): Promise<ReportAnswer> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await reporter.send(report, rest);
    } catch (error) {
      if (attempt >= REPORT_ATTEMPTS) throw error;
      await sleep(100 * 4 ** (attempt - 1));
    }
  }
}

/**
 * Samples one task's blocks. It first asks the store where the task stands (a report of nothing),
 * so a retried or duplicated run resumes from the last accepted report instead of from zero; it
 * reports at block boundaries about once per interval, stops when told the job is cancelled, and
 * always ends with a final report.
 */
export async function runTask(event: SamplerEvent, deps: TaskDeps): Promise<TaskResult> {
  const { jobId, taskId, seed, samples, startBlock, endBlock } = event;
  const taskSamples = samplesInBlocks(startBlock, endBlock, samples);
  const result = (done: number, inside: number, cancelled: boolean): TaskResult => ({ jobId, taskId, done, inside, cancelled });

  const reporter = new Reporter(deps);
  // The first report may be the last (the task is done, or stopped): it carries its answer's wait too; if
  // it is not, the next report's usage is that much less.
  let state = await reportSurely({ jobId, taskId, done: 0, inside: 0 }, reporter, 'answer', deps);
  if (state.cancelled || state.done >= taskSamples) return result(state.done, state.inside, state.cancelled);
  if (state.done % BLOCK_SIZE !== 0) throw new RangeError(`accepted progress ${state.done} is not at a block boundary`);

  let { done, inside } = state;
  let block = startBlock + done / BLOCK_SIZE;
  let lastReport = deps.now();
  // At most one report in flight, overlapped with sampling: its round trip costs the task nothing.
  let inFlight: Promise<void> | undefined;
  const send = (report: ProgressReport) => {
    inFlight = reporter
      .send(report, 'none')
      .then(
        (answer) => void (state = answer),
        // A lost progress report costs nothing: the next one replaces it. Keep sampling.
        (error) => deps.reportFailed?.(report, error),
      )
      .finally(() => (inFlight = undefined));
  };
  while (block < endBlock && !state.cancelled) {
    const chunkEnd = Math.min(block + CHUNK_BLOCKS, endBlock);
    inside += deps.kernel.countInside(seed, block, chunkEnd, samples);
    done += samplesInBlocks(block, chunkEnd, samples);
    block = chunkEnd;
    if (block === endBlock) break;
    // Sampling is synchronous: give the in-flight report's answer a turn of the event loop.
    if (inFlight) await new Promise((resolve) => setImmediate(resolve));
    if (deps.remainingMs() < TIMEOUT_MARGIN_MS) {
      await inFlight;
      await reportSurely({ jobId, taskId, done, inside }, reporter, 'answer', deps);
      throw new OutOfTimeError(done);
    }
    if (!inFlight && deps.now() - lastReport >= deps.reportIntervalMs) {
      lastReport = deps.now();
      send({ jobId, taskId, done, inside });
    }
  }
  await inFlight;
  if (state.cancelled) return result(state.done, state.inside, true);
  state = await reportSurely({ jobId, taskId, done, inside }, reporter, 'answer', deps);
  return result(state.done, state.inside, state.cancelled);
}
