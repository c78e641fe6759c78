// One function's execution environments: invocations admitted against the function's concurrency
// limit (concurrency.ts), each then served by a warm worker process, one invocation at a time each.
// Worker processes are sized to the machine, not to the concurrency (see WorkerPool). Timeouts
// kill the worker, as Lambda does.
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { FunctionDef } from '../stack.js';
import type { FaultInjector, InvocationFault } from '../faults/injector.js';
import { Newest } from '../newest.js';
import { Account, type ConcurrencyCounters, type ConcurrencyLimit, type ThrottleReason } from './concurrency.js';
import type { LocalMetrics } from './emf.js';

const WORKER_RUNTIME = fileURLToPath(new URL('./worker-runtime.mjs', import.meta.url));
/** Lambda gives on-demand initialisation 10 s. */
const INIT_TIMEOUT_MS = 10_000;
/** Worker processes per function unless capped otherwise: enough to keep the machine's cores busy. */
export const DEFAULT_MAX_WORKERS = Math.max(4, 2 * availableParallelism());
/**
 * An invocation waiting this long while no worker came free gets one more worker beyond the cap: long
 * enough that short invocations slowed by a busy machine (a sampler waiting on its reports) do not
 * grow the pool, where each new process costs a cold start.
 */
const GROW_AFTER_MS = 1_000;
/** A worker beyond the cap that stays idle this long exits. */
const RETIRE_IDLE_MS = 5_000;

export interface ErrorRecord {
  errorType: string;
  errorMessage: string;
  trace?: string[];
  [key: string]: unknown;
}

export interface InvocationResult {
  requestId: string;
  /** false when the function failed: payload is then the error record. */
  ok: boolean;
  /** JSON text of the return value or of the error record. */
  payload: string;
  error?: ErrorRecord;
  /** This invocation's log, CloudWatch style (START ... REPORT). */
  log: string;
  durationMs: number;
  /** The INIT phase this invocation waited for (its worker's cold start); absent when warm. */
  initMs?: number;
  /** What Lambda bills: ceil(init + duration) on a cold start (on-demand INIT is billed since 2025-08-01), else ceil(duration). */
  billedMs: number;
}

export interface InvokeRequest {
  requestId: string;
  /** JSON text of the event. */
  payload: string;
  clientContext?: unknown;
  /**
   * A synchronous caller: throttled when the function's concurrency limit is one of AWS's (its
   * reservation, or with quotas the account's pool); at a local cap (quotas off) it waits instead.
   */
  throttleWhenFull: boolean;
}

/** One invocation as the service saw it (kept for tests and diagnostics). */
export interface InvocationRecord {
  function: string;
  requestId: string;
  /** The event, cut at 1,000 characters. */
  payload: string;
  /** When the invocation was admitted (it may then wait for a worker). */
  startedAt: number;
  endedAt?: number;
  ok?: boolean;
  /** The result or error record, cut at 1,000 characters. */
  result?: string;
  /** The function's configured memory: with billedMs, what the invocation costs (GB-s = billedMs × memoryMb / 1024 / 1000). */
  memoryMb: number;
  /** Handler time, as the REPORT line's `Duration` (set when the invocation ends). */
  durationMs?: number;
  /** The worker's INIT phase, on the invocation that started it (a cold start). */
  initMs?: number;
  /** As the REPORT line's `Billed Duration`: ceil(initMs + durationMs) on a cold start, else ceil(durationMs). */
  billedMs?: number;
}

const RECORD_CHARS = 1_000;
const MAX_RECORDS = 100_000;

/**
 * Lambda's billed duration, in whole milliseconds: the INIT phase of an on-demand function is billed
 * with the invocation that waited for it (since 2025-08-01), so a cold start's REPORT line shows
 * `Billed Duration` = ceil(Init Duration + Duration).
 */
export function billedDuration(durationMs: number, initMs?: number): number {
  return Math.ceil((initMs ?? 0) + durationMs);
}

export class ThrottledError extends Error {
  override name = 'ThrottledError';
  constructor(
    message: string,
    readonly reason: ThrottleReason = 'ReservedFunctionConcurrentInvocationLimitExceeded',
  ) {
    super(message);
  }
}

export class StoppedError extends Error {
  override name = 'StoppedError';
}

type WorkerMessage =
  | { t: 'ready'; initMs: number }
  | { t: 'initError'; error: ErrorRecord }
  | { t: 'log'; id?: string; level: string; text: string }
  /** A line written to stdout or stderr directly (not through console): JSON logs, EMF metrics. */
  | { t: 'out'; id?: string; text: string }
  | { t: 'done'; id: string; ok: boolean; payload?: string; error?: ErrorRecord; rss?: number; durationMs?: number }
  | { t: 'crash'; id?: string; error: ErrorRecord };

interface Invocation {
  requestId: string;
  /** The invocation's log, trimmed from the front past LOG_KEEP_BYTES (only its tail is ever returned). */
  lines: string[];
  logBytes: number;
  settle: (outcome: { ok: boolean; payload?: string; error?: ErrorRecord; rss?: number; status?: string; durationMs?: number }) => void;
}

const LOG_KEEP_BYTES = 16 * 1024;

function keep(inv: Invocation, line: string): void {
  inv.lines.push(line);
  inv.logBytes += line.length + 1;
  while (inv.logBytes > LOG_KEEP_BYTES && inv.lines.length > 1) inv.logBytes -= inv.lines.shift()!.length + 1;
}

class Worker {
  readonly proc: ChildProcess;
  readonly ready: Promise<number>;
  readonly exited: Promise<void>;
  initMs?: number;
  initReported = false;
  /** Invocations this worker has started (the fault injector's `crashAfter` counts them). */
  served = 0;
  dead = false;
  current?: Invocation;
  exitReason?: string;
  /** Killed because the cloud is stopping (or the worker retires): an invocation ends as stopped, not as a function error. */
  stopping = false;
  /** Set while the worker idles beyond its pool's cap. */
  retireTimer?: NodeJS.Timeout;

  constructor(
    def: FunctionDef,
    env: Record<string, string>,
    execPath: string,
    private readonly emit: (requestId: string | undefined, text: string, inv?: Invocation) => void,
  ) {
    this.proc = fork(WORKER_RUNTIME, [], {
      cwd: def.codeDir,
      env,
      execPath,
      // A bare Node, whatever loaders the host process runs under (tsx, vitest).
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.dead = true;
        this.exitReason ??= signal ? `signal: ${signal === 'SIGKILL' ? 'killed' : signal}` : `exit status ${code}`;
        const inv = this.current;
        if (this.stopping) {
          inv?.settle({ ok: false, status: 'stopped' });
          resolve();
          return;
        }
        inv?.settle({
          ok: false,
          status: 'error',
          error: { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${inv.requestId} Error: Runtime exited with error: ${this.exitReason}` },
        });
        resolve();
      });
    });
    // Writing to a worker that just died fails asynchronously (EPIPE); its exit already fails the invocation.
    this.proc.on('error', (err) => {
      // A process that never started (its binary missing or not runnable) emits no 'exit': end it here.
      if (this.proc.pid === undefined) {
        this.exitReason = `could not start ${execPath}: ${err.message}`;
        this.proc.emit('exit', null, null);
        return;
      }
      this.emit(this.current?.requestId, `worker process error: ${err.message}`, this.current);
      this.kill();
    });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => this.emit(this.current?.requestId, line, this.current));
    }
    this.ready = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject({ errorType: 'Sandbox.Timedout', errorMessage: `INIT timed out after ${INIT_TIMEOUT_MS / 1000} seconds` }), INIT_TIMEOUT_MS);
      this.proc.on('message', (raw) => {
        const msg = raw as WorkerMessage;
        switch (msg.t) {
          case 'ready':
            clearTimeout(timer);
            // Like Lambda's Init Duration: runtime start plus the handler module's import, as the
            // worker measured it (the same clock a function reads to account for its own cold start).
            this.initMs = msg.initMs;
            resolve(this.initMs);
            break;
          case 'initError':
            clearTimeout(timer);
            reject(msg.error);
            break;
          case 'log':
            this.emit(msg.id, `${msg.level}\t${msg.text}`, this.current);
            break;
          case 'out':
            this.emit(msg.id, msg.text, this.current);
            break;
          case 'done':
            if (this.current?.requestId === msg.id) {
              const { rss, durationMs } = msg;
              this.current.settle(msg.ok ? { ok: true, payload: msg.payload ?? 'null', rss, durationMs } : { ok: false, error: msg.error, rss, durationMs });
            }
            break;
          case 'crash':
            this.current?.settle({ ok: false, error: msg.error, status: 'error' });
            break;
        }
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject({ errorType: 'Runtime.ExitError', errorMessage: `Runtime exited with error: ${this.exitReason}` });
      });
    });
    // Rejections are read where the worker is used; keep Node from reporting them as unhandled.
    this.ready.catch(() => undefined);
  }

  /** Marks the worker unusable at once; `exited` resolves when the process is gone. */
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    this.dead = true;
  }
}

/**
 * A function's worker processes, sized to the machine: at most `cap` serve invocations at once, and
 * an invocation past them waits for one. So that invocations holding workers for long (a job run
 * polls for minutes) cannot starve the others, an invocation that has waited GROW_AFTER_MS while no
 * worker came free gets one more worker beyond the cap (one per such period); a worker beyond the
 * cap that stays idle RETIRE_IDLE_MS exits. Short invocations churning through the pool free workers
 * often, so they never grow it.
 */
class WorkerPool {
  private readonly workers = new Set<Worker>();
  /** Most recently used last: Lambda reuses the warmest environment. */
  private readonly idle: Worker[] = [];
  /** Workers serving an invocation, or promised to one. */
  private busy = 0;
  /** Workers granted beyond the cap while invocations waited. */
  private extra = 0;
  /** Workers still initialising: a cold start is not a stall. */
  private starting = 0;
  /** When a worker last came free or finished its start. */
  private lastProgress = performance.now();
  private readonly waiters: { since: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  private growTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly cap: number,
    private readonly spawnWorker: () => Worker,
  ) {}

  /** The live processes. */
  live(): Worker[] {
    return [...this.workers].filter((w) => !w.dead);
  }

  /** Waits for a worker slot, then gives the most recently used idle worker or a new one. */
  async take(): Promise<Worker> {
    if (this.stopped) throw new StoppedError('local cloud stopped');
    if (this.waiters.length === 0 && this.busy < this.cap + this.extra) {
      this.busy++;
    } else {
      const waiting = new Promise<void>((resolve, reject) => this.waiters.push({ since: performance.now(), resolve, reject }));
      this.armGrowth();
      await waiting;
    }
    for (let w = this.idle.pop(); w; w = this.idle.pop()) {
      clearTimeout(w.retireTimer);
      if (!w.dead) return w;
    }
    return this.spawn();
  }

  /** Gives a worker's slot back (to the next waiter, if any); a live worker becomes idle. */
  give(worker: Worker): void {
    this.lastProgress = performance.now();
    if (!worker.dead && !this.stopped) {
      this.idle.push(worker);
      if (this.live().length > this.cap) worker.retireTimer = setTimeout(() => this.retire(worker), RETIRE_IDLE_MS).unref();
    }
    const next = this.waiters.shift();
    if (next) next.resolve();
    else this.busy--;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.growTimer);
    for (const w of this.waiters.splice(0)) w.reject(new StoppedError('local cloud stopped'));
    const exits = [...this.workers].map((w) => {
      clearTimeout(w.retireTimer);
      w.stopping = true;
      w.kill();
      return w.exited;
    });
    await Promise.all(exits);
  }

  private spawn(): Worker {
    const worker = this.spawnWorker();
    this.workers.add(worker);
    this.starting++;
    const started = () => {
      this.starting--;
      this.lastProgress = performance.now();
    };
    worker.ready.then(started, started);
    void worker.exited.then(() => {
      clearTimeout(worker.retireTimer);
      this.workers.delete(worker);
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
    });
    return worker;
  }

  private armGrowth(): void {
    const oldest = this.waiters[0];
    if (this.growTimer || !oldest || this.stopped) return;
    const quietSince = Math.max(this.lastProgress, oldest.since);
    const wait = Math.max(1, quietSince + GROW_AFTER_MS - performance.now());
    this.growTimer = setTimeout(() => {
      // Replies already received (a worker's `done`) are handled first: they are not a stall.
      setImmediate(() => {
        this.growTimer = undefined;
        this.grow();
        this.armGrowth();
      });
    }, wait).unref();
  }

  private grow(): void {
    const oldest = this.waiters[0];
    if (!oldest || this.stopped || this.starting > 0) return;
    const now = performance.now();
    if (now - Math.max(this.lastProgress, oldest.since) < GROW_AFTER_MS) return;
    this.extra++;
    this.busy++;
    this.lastProgress = now;
    this.waiters.shift()!.resolve();
  }

  private retire(worker: Worker): void {
    const i = this.idle.indexOf(worker);
    if (i < 0 || this.live().length <= this.cap) return;
    this.idle.splice(i, 1);
    this.extra = Math.max(0, this.extra - 1);
    worker.stopping = true;
    worker.kill();
  }
}

export class FunctionRuntime {
  /** The limit this function's invocations count against (its reservation, the account's pool, or a local cap). */
  readonly limit: ConcurrencyLimit;
  /** Since the last reset: peak concurrency, throttles, invocations admitted. */
  counters: ConcurrencyCounters & { invocations: number } = { peakConcurrency: 0, throttles: 0, invocations: 0 };
  private running = 0;
  /** Sync callers waiting at a local cap (quotas off). */
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly pool: WorkerPool;
  private stopped = false;
  /** Called whenever a slot frees up and no synchronous caller was waiting for it. */
  onSlotFree: () => void = () => undefined;
  /** Breaks chosen invocations (throw, crash, run into the timeout) when faults are configured. */
  faults?: FaultInjector;
  /** Reads the metrics (EMF lines) the function writes. */
  metrics?: LocalMetrics;
  /** The Node.js binary workers run on (see node-binary.ts). */
  nodePath = process.execPath;
  /** The newest invocations, oldest first. */
  readonly records = new Newest<InvocationRecord>(MAX_RECORDS);

  constructor(
    readonly def: FunctionDef,
    private readonly env: Record<string, string>,
    private readonly log: (line: string) => void,
    defaultConcurrency: number,
    maxWorkers = DEFAULT_MAX_WORKERS,
    private readonly account = new Account(undefined, [def]),
  ) {
    this.limit = account.limitFor(def, defaultConcurrency);
    // Never more workers than invocations the function may run at once.
    this.pool = new WorkerPool(Math.max(1, Math.min(this.limit.max, maxWorkers)), () => this.spawn());
  }

  /** Invocations admitted and not yet ended (running, or waiting for a worker). */
  inFlight(): number {
    return this.running;
  }

  hasFreeSlot(): boolean {
    return !this.stopped && this.limit.hasRoom();
  }

  /** Counts an invocation refused for want of concurrency. */
  throttled(): void {
    this.counters.throttles++;
    this.account.throttled();
  }

  /** Starts counting anew: the peak from what runs now. */
  resetCounters(): void {
    this.counters = { peakConcurrency: this.running, throttles: 0, invocations: 0 };
  }

  /** Process ids of the live workers (for tests and diagnostics). */
  pids(): number[] {
    return this.pool.live().flatMap((w) => (w.proc.pid === undefined ? [] : [w.proc.pid]));
  }

  async invoke(req: InvokeRequest): Promise<InvocationResult> {
    if (this.def.problem) return this.failFast(req.requestId, 'Runtime.InvalidFunction', this.def.problem);
    await this.acquire(req.throttleWhenFull);
    const record: InvocationRecord = {
      function: this.def.name,
      requestId: req.requestId,
      payload: req.payload.slice(0, RECORD_CHARS),
      startedAt: Date.now(),
      memoryMb: this.def.memoryMb,
    };
    this.records.push(record);
    try {
      // Admitted: the invocation counts toward concurrency now, and may wait here for a worker.
      const worker = await this.pool.take();
      try {
        const result = await this.run(req, worker);
        record.ok = result.ok;
        record.result = result.payload.slice(0, RECORD_CHARS);
        record.durationMs = result.durationMs;
        if (result.initMs !== undefined) record.initMs = result.initMs;
        record.billedMs = result.billedMs;
        return result;
      } finally {
        this.pool.give(worker);
      }
    } finally {
      record.endedAt = Date.now();
      this.release();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w.reject(new StoppedError('local cloud stopped'));
    await this.pool.stop();
  }

  private async acquire(throttleWhenFull: boolean): Promise<void> {
    if (this.stopped) throw new StoppedError('local cloud stopped');
    if (!this.limit.take()) {
      if (throttleWhenFull && this.limit.reason) {
        this.throttled();
        throw new ThrottledError('Rate Exceeded.', this.limit.reason);
      }
      // The slot passes straight from the invocation that ends (see release).
      await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
    this.running++;
    this.counters.invocations++;
    this.counters.peakConcurrency = Math.max(this.counters.peakConcurrency, this.running);
    this.account.admitted();
  }

  private release(): void {
    this.running--;
    this.account.ended();
    const next = this.waiters.shift();
    if (next) {
      next.resolve();
      return;
    }
    this.limit.give();
    this.onSlotFree();
  }

  private emitLine(requestId: string | undefined, text: string, inv?: Invocation): void {
    const stamp = new Date().toISOString();
    const lines = text.split('\n');
    if (inv) keep(inv, `${stamp}\t${requestId ?? 'undefined'}\t${lines.join('\n')}`);
    for (const line of lines) {
      this.metrics?.read(this.def.name, line);
      this.log(`[${this.def.name}] ${requestId ?? '-'} ${line}`);
    }
  }

  private platform(text: string, inv?: Invocation): void {
    if (inv) keep(inv, text);
    this.log(`[${this.def.name}] ${text}`);
  }

  private spawn(): Worker {
    const worker = new Worker(this.def, this.env, this.nodePath, (id, text, inv) => this.emitLine(id, text, inv));
    this.platform(`INIT_START Runtime Version: ${this.def.runtime} (local) pid ${worker.proc.pid}`);
    return worker;
  }

  private async run(req: InvokeRequest, worker: Worker): Promise<InvocationResult> {
    const inv: Invocation = { requestId: req.requestId, lines: [], logBytes: 0, settle: () => undefined };
    const started = performance.now();
    try {
      await worker.ready;
    } catch (err) {
      if (this.stopped) throw new StoppedError('local cloud stopped');
      const error = err as ErrorRecord;
      worker.kill();
      this.platform(`INIT_REPORT Init Duration: ${(performance.now() - started).toFixed(2)} ms\tPhase: init\tStatus: error\tError Type: ${error.errorType}`, inv);
      this.platform(`START RequestId: ${req.requestId} Version: $LATEST`, inv);
      this.emitLine(req.requestId, `ERROR\t${JSON.stringify(error)}`, inv);
      return this.finish(inv, started, { ok: false, error: { ...error, errorMessage: error.errorMessage } }, undefined);
    }
    const initMs = worker.initReported ? undefined : worker.initMs;
    worker.initReported = true;
    this.platform(`START RequestId: ${req.requestId} Version: $LATEST`, inv);
    const invokeStarted = performance.now();

    const fault = this.faults?.planInvocation(this.def, req.payload, worker.served++);
    if (fault?.kind === 'throw') {
      const error = { errorType: 'InjectedFault', errorMessage: 'injected fault: the invocation failed before its handler ran' };
      this.emitLine(req.requestId, `ERROR\t${JSON.stringify(error)}`, inv);
      return this.finish(inv, invokeStarted, { ok: false, error }, initMs);
    }

    const timeoutMs = this.def.timeoutSeconds * 1000;
    const outcome = await new Promise<{ ok: boolean; payload?: string; error?: ErrorRecord; rss?: number; status?: string; durationMs?: number }>((resolve) => {
      let done = false;
      let faultTimer: NodeJS.Timeout | undefined;
      const settle: Invocation['settle'] = (o) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(faultTimer);
        worker.current = undefined;
        resolve(o);
      };
      let struck = false;
      const strike = (f: Exclude<InvocationFault, { kind: 'throw' }>): void => {
        if (done || struck) return;
        struck = true;
        this.faults?.record(f.kind, this.def.logicalId, this.faults.subjectOf(req.payload));
        // A crash ends the process (its exit fails the invocation); a stall freezes it until the timeout kills it.
        if (f.kind === 'timeout') worker.proc.kill('SIGSTOP');
        else worker.kill();
      };
      inv.settle = (o) => {
        if (fault && o.status === undefined && !done) {
          // The handler returned before the fault struck: it strikes now and the result is lost.
          clearTimeout(faultTimer);
          strike(fault);
          return;
        }
        settle(o);
      };
      worker.current = inv;
      const timer = setTimeout(() => {
        worker.kill();
        const seconds = (timeoutMs / 1000).toFixed(2);
        this.emitLine(req.requestId, `Task timed out after ${seconds} seconds`, inv);
        settle({
          ok: false,
          status: 'timeout',
          error: { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${req.requestId} Error: Task timed out after ${seconds} seconds` },
        });
      }, timeoutMs);
      const deadline = Date.now() + timeoutMs;
      worker.proc.send({
        t: 'invoke',
        id: req.requestId,
        event: req.payload,
        deadline,
        arn: this.def.arn,
        clientContext: req.clientContext,
        traceId: `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${req.requestId.replace(/-/g, '').slice(0, 24)};Sampled=0`,
      });
      if (fault) faultTimer = setTimeout(() => strike(fault), fault.atMs);
    });
    if (outcome.status === 'stopped') {
      // The cloud stopped under the invocation: the platform lines say so, and callers get a StoppedError.
      this.finish(inv, invokeStarted, outcome, initMs);
      throw new StoppedError('local cloud stopped');
    }
    if (outcome.status !== undefined) worker.kill();
    return this.finish(inv, invokeStarted, outcome, initMs);
  }

  private finish(
    inv: Invocation,
    started: number,
    outcome: { ok: boolean; payload?: string; error?: ErrorRecord; rss?: number; status?: string; durationMs?: number },
    initMs: number | undefined,
  ): InvocationResult {
    // The runtime's own measure when the handler returned (as Lambda's, from the event's delivery to the
    // response), so time an IPC message waits on a busy host is not billed; else (timeout, crash) ours.
    const durationMs = outcome.durationMs ?? performance.now() - started;
    const billedMs = billedDuration(durationMs, initMs);
    const parts = [
      `REPORT RequestId: ${inv.requestId}`,
      `Duration: ${durationMs.toFixed(2)} ms`,
      `Billed Duration: ${billedMs} ms`,
      `Memory Size: ${this.def.memoryMb} MB`,
      `Max Memory Used: ${outcome.rss ? Math.round(outcome.rss / 2 ** 20) : 0} MB`,
    ];
    if (initMs !== undefined) parts.push(`Init Duration: ${initMs.toFixed(2)} ms`);
    if (outcome.status) parts.push(`Status: ${outcome.status}`);
    this.platform(`END RequestId: ${inv.requestId}`, inv);
    this.platform(parts.join('\t'), inv);
    const log = inv.lines.join('\n') + '\n';
    const billing = { durationMs, billedMs, ...(initMs !== undefined && { initMs }) };
    if (outcome.ok) return { requestId: inv.requestId, ok: true, payload: outcome.payload ?? 'null', log, ...billing };
    const error = outcome.error ?? { errorType: 'Runtime.Unknown', errorMessage: 'Unknown application error occurred' };
    return { requestId: inv.requestId, ok: false, payload: JSON.stringify(error), error, log, ...billing };
  }

  private failFast(requestId: string, errorType: string, errorMessage: string): InvocationResult {
    const error = { errorType, errorMessage };
    this.log(`[${this.def.name}] ${requestId} ERROR ${errorMessage}`);
    return { requestId, ok: false, payload: JSON.stringify(error), error, log: `${errorMessage}\n`, durationMs: 0, billedMs: 0 };
  }
}
