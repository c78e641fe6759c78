// One function's execution environments: warm worker processes, one invocation
// at a time each, at most `capacity` running at once (the reserved concurrency,
// or a local default cap). Timeouts kill the worker, as Lambda does.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { FunctionDef } from '../stack.js';
import type { FaultInjector, InvocationFault } from '../faults/injector.js';
import { Newest } from '../newest.js';

const WORKER_RUNTIME = fileURLToPath(new URL('./worker-runtime.mjs', import.meta.url));
/** Lambda gives on-demand initialisation 10 s. */
const INIT_TIMEOUT_MS = 10_000;

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
}

export interface InvokeRequest {
  requestId: string;
  /** JSON text of the event. */
  payload: string;
  clientContext?: unknown;
  /** Sync callers of a function with reserved concurrency are throttled instead of waiting. */
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
}

const RECORD_CHARS = 1_000;
const MAX_RECORDS = 100_000;

export class ThrottledError extends Error {
  override name = 'ThrottledError';
}

export class StoppedError extends Error {
  override name = 'StoppedError';
}

type WorkerMessage =
  | { t: 'ready'; initMs: number }
  | { t: 'initError'; error: ErrorRecord }
  | { t: 'log'; id?: string; level: string; text: string }
  | { t: 'done'; id: string; ok: boolean; payload?: string; error?: ErrorRecord; rss?: number }
  | { t: 'crash'; id?: string; error: ErrorRecord };

interface Invocation {
  requestId: string;
  /** The invocation's log, trimmed from the front past LOG_KEEP_BYTES (only its tail is ever returned). */
  lines: string[];
  logBytes: number;
  settle: (outcome: { ok: boolean; payload?: string; error?: ErrorRecord; rss?: number; status?: string }) => void;
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
  /** Killed because the cloud is stopping: its invocation ends as stopped, not as a function error. */
  stopping = false;

  constructor(
    def: FunctionDef,
    env: Record<string, string>,
    execPath: string,
    private readonly emit: (requestId: string | undefined, text: string, inv?: Invocation) => void,
  ) {
    const spawnedAt = performance.now();
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
            // Like Lambda's Init Duration: runtime start plus the handler module's import.
            this.initMs = performance.now() - spawnedAt;
            resolve(this.initMs);
            break;
          case 'initError':
            clearTimeout(timer);
            reject(msg.error);
            break;
          case 'log':
            this.emit(msg.id, `${msg.level}\t${msg.text}`, this.current);
            break;
          case 'done':
            if (this.current?.requestId === msg.id) {
              this.current.settle(msg.ok ? { ok: true, payload: msg.payload ?? 'null', rss: msg.rss } : { ok: false, error: msg.error, rss: msg.rss });
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

export class FunctionRuntime {
  readonly capacity: number;
  private running = 0;
  private readonly idle: Worker[] = [];
  private readonly workers = new Set<Worker>();
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Worker processes in use; at most `maxWorkers`, which may be below `capacity` to spare a small machine. */
  private workersInUse = 0;
  private readonly maxWorkers: number;
  private readonly workerWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private stopped = false;
  /** Called whenever a slot frees up and no synchronous caller was waiting for it. */
  onSlotFree: () => void = () => undefined;
  /** Breaks chosen invocations (throw, crash, run into the timeout) when faults are configured. */
  faults?: FaultInjector;
  /** The Node.js binary workers run on (see node-binary.ts). */
  nodePath = process.execPath;
  /** The newest invocations, oldest first. */
  readonly records = new Newest<InvocationRecord>(MAX_RECORDS);

  constructor(
    readonly def: FunctionDef,
    private readonly env: Record<string, string>,
    private readonly log: (line: string) => void,
    defaultConcurrency: number,
    maxWorkers = Infinity,
  ) {
    this.capacity = def.reservedConcurrency ?? defaultConcurrency;
    this.maxWorkers = Math.max(1, Math.min(this.capacity, maxWorkers));
  }

  /** Invocations admitted and not yet ended (running, or waiting for a worker). */
  inFlight(): number {
    return this.running;
  }

  hasFreeSlot(): boolean {
    return !this.stopped && this.running < this.capacity;
  }

  /** Process ids of the live workers (for tests and diagnostics). */
  pids(): number[] {
    return [...this.workers].filter((w) => !w.dead && w.proc.pid !== undefined).map((w) => w.proc.pid!);
  }

  async invoke(req: InvokeRequest): Promise<InvocationResult> {
    if (this.def.problem) return this.failFast(req.requestId, 'Runtime.InvalidFunction', this.def.problem);
    await this.acquire(req.throttleWhenFull);
    const record: InvocationRecord = { function: this.def.name, requestId: req.requestId, payload: req.payload.slice(0, RECORD_CHARS), startedAt: Date.now() };
    this.records.push(record);
    try {
      await this.acquireWorker();
      try {
        const result = await this.run(req);
        record.ok = result.ok;
        record.result = result.payload.slice(0, RECORD_CHARS);
        return result;
      } finally {
        this.releaseWorker();
      }
    } finally {
      record.endedAt = Date.now();
      this.release();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of [...this.waiters.splice(0), ...this.workerWaiters.splice(0)]) w.reject(new StoppedError('local cloud stopped'));
    const exits = [...this.workers].map((w) => {
      w.stopping = true;
      w.kill();
      return w.exited;
    });
    await Promise.all(exits);
  }

  private async acquire(throttleWhenFull: boolean): Promise<void> {
    if (this.stopped) throw new StoppedError('local cloud stopped');
    if (this.running < this.capacity) {
      this.running++;
      return;
    }
    if (throttleWhenFull) throw new ThrottledError('Rate Exceeded.');
    await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private async acquireWorker(): Promise<void> {
    if (this.workersInUse < this.maxWorkers) {
      this.workersInUse++;
      return;
    }
    await new Promise<void>((resolve, reject) => this.workerWaiters.push({ resolve, reject }));
  }

  private releaseWorker(): void {
    const next = this.workerWaiters.shift();
    if (next) next.resolve();
    else this.workersInUse--;
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) {
      next.resolve(); // the slot passes straight to the waiting caller
      return;
    }
    this.running--;
    this.onSlotFree();
  }

  private emitLine(requestId: string | undefined, text: string, inv?: Invocation): void {
    const stamp = new Date().toISOString();
    const lines = text.split('\n');
    if (inv) keep(inv, `${stamp}\t${requestId ?? 'undefined'}\t${lines.join('\n')}`);
    for (const line of lines) this.log(`[${this.def.name}] ${requestId ?? '-'} ${line}`);
  }

  private platform(text: string, inv?: Invocation): void {
    if (inv) keep(inv, text);
    this.log(`[${this.def.name}] ${text}`);
  }

  private spawn(): Worker {
    const worker = new Worker(this.def, this.env, this.nodePath, (id, text, inv) => this.emitLine(id, text, inv));
    this.workers.add(worker);
    void worker.exited.then(() => {
      this.workers.delete(worker);
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
    });
    this.platform(`INIT_START Runtime Version: ${this.def.runtime} (local) pid ${worker.proc.pid}`);
    return worker;
  }

  private async run(req: InvokeRequest): Promise<InvocationResult> {
    // Prefer the most recently used warm worker, as Lambda reuses warm environments.
    let worker = this.idle.pop();
    while (worker?.dead) worker = this.idle.pop();
    worker ??= this.spawn();
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
      if (!worker.dead && !this.stopped) this.idle.push(worker);
      return this.finish(inv, invokeStarted, { ok: false, error }, initMs);
    }

    const timeoutMs = this.def.timeoutSeconds * 1000;
    const outcome = await new Promise<{ ok: boolean; payload?: string; error?: ErrorRecord; rss?: number; status?: string }>((resolve) => {
      let done = false;
      let faultTimer: NodeJS.Timeout | undefined;
      const settle: Invocation['settle'] = (o) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(faultTimer);
        worker!.current = undefined;
        resolve(o);
      };
      let struck = false;
      const strike = (f: Exclude<InvocationFault, { kind: 'throw' }>): void => {
        if (done || struck) return;
        struck = true;
        this.faults?.record(f.kind, this.def.logicalId, this.faults.subjectOf(req.payload));
        // A crash ends the process (its exit fails the invocation); a stall freezes it until the timeout kills it.
        if (f.kind === 'timeout') worker!.proc.kill('SIGSTOP');
        else worker!.kill();
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
      worker!.current = inv;
      const timer = setTimeout(() => {
        worker!.kill();
        const seconds = (timeoutMs / 1000).toFixed(2);
        this.emitLine(req.requestId, `Task timed out after ${seconds} seconds`, inv);
        settle({
          ok: false,
          status: 'timeout',
          error: { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${req.requestId} Error: Task timed out after ${seconds} seconds` },
        });
      }, timeoutMs);
      const deadline = Date.now() + timeoutMs;
      worker!.proc.send({
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
    if (!worker.dead && !this.stopped) this.idle.push(worker);
    return this.finish(inv, invokeStarted, outcome, initMs);
  }

  private finish(
    inv: Invocation,
    started: number,
    outcome: { ok: boolean; payload?: string; error?: ErrorRecord; rss?: number; status?: string },
    initMs: number | undefined,
  ): InvocationResult {
    const durationMs = performance.now() - started;
    const parts = [
      `REPORT RequestId: ${inv.requestId}`,
      `Duration: ${durationMs.toFixed(2)} ms`,
      `Billed Duration: ${Math.ceil(durationMs)} ms`,
      `Memory Size: ${this.def.memoryMb} MB`,
      `Max Memory Used: ${outcome.rss ? Math.round(outcome.rss / 2 ** 20) : 0} MB`,
    ];
    if (initMs !== undefined) parts.push(`Init Duration: ${initMs.toFixed(2)} ms`);
    if (outcome.status) parts.push(`Status: ${outcome.status}`);
    this.platform(`END RequestId: ${inv.requestId}`, inv);
    this.platform(parts.join('\t'), inv);
    const log = inv.lines.join('\n') + '\n';
    if (outcome.ok) return { requestId: inv.requestId, ok: true, payload: outcome.payload ?? 'null', log, durationMs };
    const error = outcome.error ?? { errorType: 'Runtime.Unknown', errorMessage: 'Unknown application error occurred' };
    return { requestId: inv.requestId, ok: false, payload: JSON.stringify(error), error, log, durationMs };
  }

  private failFast(requestId: string, errorType: string, errorMessage: string): InvocationResult {
    const error = { errorType, errorMessage };
    this.log(`[${this.def.name}] ${requestId} ERROR ${errorMessage}`);
    return { requestId, ok: false, payload: JSON.stringify(error), error, log: `${errorMessage}\n`, durationMs: 0 };
  }
}
