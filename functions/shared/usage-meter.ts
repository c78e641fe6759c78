import { readFileSync } from 'node:fs';
import { addUsage, emptyUsage, type FunctionName, type JobUsage } from './cost.js';

/**
 * What one invocation used, measured where it runs, so a job's cost is a sum of what really ran (see
 * `cost.ts`). An invocation's usage rides on the job's writes that happen anyway (the store ADDs it to
 * a task item or the job's header): each write carries what the invocation used since its last
 * recorded write. The last write of an invocation cannot know its own latency nor, for a header, its
 * own units: it carries a prediction from the sandbox's recent calls of the same kind, and `end()`
 * measures how far off that was, to predict better next time. What it was off by is owed to the job:
 * the next invocation of the same job in the same sandbox records it with its first write, so only
 * the last invocation of a job in each sandbox stays a prediction.
 *
 * Not counted: an invocation that dies before its first recording write (a crash, a timeout, a sampler
 * killed before its first report), the runtime's moments around the handler (parsing the event,
 * serialising the result), a request that names no job of its caller or fails (4xx, 5xx), a
 * `GET /jobs` list (it is nobody's job), and side
 * costs billed elsewhere (X-Ray traces, CloudWatch logs, metrics and alarms, data transfer). A submit
 * that first clears a full admission scope (reading, and perhaps settling, other jobs) counts that
 * work to the job it submits.
 */

/** Capacity units one store call consumed, as DynamoDB's `ConsumedCapacity` reported them. */
export interface ConsumedUnits {
  readUnits: number;
  writeUnits: number;
}

/** Something that can record a usage with a write: taken right before the write, given back if it was not applied. */
export interface UsageSource {
  take(): JobUsage;
  giveBack(usage: JobUsage): void;
}

/** A source of a usage known in advance (e.g. a sampler's, reported to a progress function with no meter). */
export function fixedSource(usage: JobUsage): UsageSource {
  return { take: () => addUsage(usage), giveBack: () => undefined };
}

/**
 * Sends one write carrying a usage taken from `source`: the usage is given back if the write throws
 * or, by `applied`, was not applied.
 */
export async function writeWithUsage<T>(
  source: UsageSource | undefined,
  write: (usage: JobUsage | undefined) => Promise<T>,
  applied: (result: T) => boolean = () => true,
): Promise<T> {
  const usage = source?.take();
  let result: T;
  try {
    result = await write(usage);
  } catch (error) {
    if (usage) source!.giveBack(usage);
    throw error;
  }
  if (usage && !applied(result)) source!.giveBack(usage);
  return result;
}

/**
 * What the last recording of an invocation waits for, for predicting its rest (the same kind of call
 * takes about as long): a write of the store (a report's, a failure record's, the header's), or a
 * sampler's wait for its last report's answer (no write of its own: the progress function records it).
 */
export type RecordingKind = 'report' | 'failure' | 'header' | 'answer';

const WRITES: Record<RecordingKind, boolean> = { report: true, failure: true, header: true, answer: false };

export interface TakeOptions {
  /**
   * The write that will carry this usage, when it is the invocation's last: its latency and the rest of
   * the invocation (the sandbox's running mean for this kind) and its write units (the units the last
   * write of this kind used) are recorded with it.
   */
  kind?: RecordingKind;
  /** Time still to come that this usage should include (overrides the kind's prediction). */
  restMs?: number;
}

/** How an invocation's recording went: what it recorded against what it measured at its end. */
export interface MeterReport {
  /** ceil(init + duration) as measured at the end of the handler. */
  billedMs: number;
  /** Milliseconds recorded with writes (predictions included). */
  recordedMs: number;
  /** Units consumed but not recorded (negative: predicted more than used). */
  unrecordedReadUnits: number;
  unrecordedWriteUnits: number;
}

/** First guess at a kind's rest (its write's round trip and the handler's return), before any is measured. */
const DEFAULT_REST_MS = 10;
/** A kind's rest is the mean of its last ten or so measurements: recent, not noisy. */
const REST_WINDOW = 10;

/** Jobs whose corrections a sandbox keeps. */
const MAX_OWED_JOBS = 1_000;

/** How far an invocation's recorded usage was from what it used (positive: recorded too little). */
interface Correction {
  ms: number;
  readUnits: number;
  writeUnits: number;
}

/** Lambda's default memory size, for a handler run outside Lambda (a test calling it in process). */
const DEFAULT_MEMORY_MB = 128;

/** The function's memory (MB), as Lambda sets it for the function. */
export function memoryMbFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  if (env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE === undefined) return DEFAULT_MEMORY_MB;
  const memoryMb = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  if (!Number.isSafeInteger(memoryMb) || memoryMb <= 0) {
    throw new Error(`AWS_LAMBDA_FUNCTION_MEMORY_SIZE must be a positive integer, got ${JSON.stringify(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE)}`);
  }
  return memoryMb;
}

/** Linux's clock ticks per second (`getconf CLK_TCK`: 100 on x86_64 and arm64). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * How long this process has lived, in ms (±10), from Linux's /proc; undefined where there is none. It
 * includes the runtime's start before Node's time origin, which `performance.now()` does not see
 * (measured locally: 20 to 40 ms, and some hundreds on a loaded machine).
 */
export function processAgeMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command's closing parenthesis, from field 3 (state); field 22 is the start time in ticks since boot.
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]);
    const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const ageMs = uptimeSeconds * 1000 - (startTicks * 1000) / CLOCK_TICKS_PER_SECOND;
    return Number.isFinite(ageMs) && ageMs >= 0 ? ageMs : undefined;
  } catch {
    return undefined;
  }
}

/** The sandbox's init so far: the process's age, or the time since Node's time origin where that is unknown. */
export function initDurationMs(): number {
  return Math.max(performance.now(), processAgeMs() ?? 0);
}

export interface SandboxMeterOptions {
  function: FunctionName;
  /** Default: AWS_LAMBDA_FUNCTION_MEMORY_SIZE. */
  memoryMb?: number;
  /**
   * The sandbox's init duration: the time from the process's start to the end of the handler module's
   * evaluation, as Lambda and the local cloud count init. Billed once, with the sandbox's first
   * invocation. Default: `initDurationMs()` now, so make the sandbox's meter the module's last statement.
   */
  initMs?: number;
  /** A monotonic clock in ms (performance.now()). */
  clock?: () => number;
}

/**
 * One per sandbox (execution environment): it starts each invocation's meter, routes the store's
 * consumed units to the invocation running (one at a time per sandbox), and keeps the predictions.
 */
export class SandboxMeter {
  readonly function: FunctionName;
  readonly memoryMb: number;
  private readonly clock: () => number;
  private initMs: number | undefined;
  private current: InvocationMeter | undefined;
  private readonly rests = new Map<RecordingKind, { meanMs: number; count: number }>();
  private readonly writeUnits = new Map<RecordingKind, number>();
  /** By job id: what invocations of the job recorded too little (or, negative, too much), oldest first. */
  private readonly owed = new Map<string, Correction>();

  constructor(options: SandboxMeterOptions) {
    this.function = options.function;
    this.memoryMb = options.memoryMb ?? memoryMbFromEnv();
    this.clock = options.clock ?? (() => performance.now());
    this.initMs = options.initMs ?? initDurationMs();
  }

  /** A meter for the invocation starting now; the first one of the sandbox includes its init. */
  start(): InvocationMeter {
    const initMs = this.initMs ?? 0;
    this.initMs = undefined;
    this.current = new InvocationMeter(this, this.clock, initMs);
    return this.current;
  }

  /** The store's callback: a call's consumed units go to the invocation running. */
  consumed(units: ConsumedUnits): void {
    this.current?.consumed(units);
  }

  predictedRestMs(kind: RecordingKind): number {
    return this.rests.get(kind)?.meanMs ?? DEFAULT_REST_MS;
  }

  /** A task item or a small header is one unit (under 1 KB); a header's later writes use what its last one did. */
  predictedWriteUnits(kind: RecordingKind): number {
    return WRITES[kind] ? (this.writeUnits.get(kind) ?? 1) : 0;
  }

  /** The kind's rest as measured recently, if it was. */
  measuredRestMs(kind: RecordingKind): number | undefined {
    return this.rests.get(kind)?.meanMs;
  }

  /** @internal called by an invocation's meter at its end: the next invocation of the job records it. */
  owe(jobId: string, correction: Correction): void {
    const owed = this.owed.get(jobId) ?? { ms: 0, readUnits: 0, writeUnits: 0 };
    this.owed.delete(jobId);
    this.owed.set(jobId, { ms: owed.ms + correction.ms, readUnits: owed.readUnits + correction.readUnits, writeUnits: owed.writeUnits + correction.writeUnits });
    // A sandbox serves a few jobs at a time: forget the oldest corrections past that (each under one write's latency).
    if (this.owed.size > MAX_OWED_JOBS) this.owed.delete(this.owed.keys().next().value!);
  }

  /** @internal what the job is owed, handed out once */
  takeOwed(jobId: string): Correction | undefined {
    const owed = this.owed.get(jobId);
    this.owed.delete(jobId);
    return owed;
  }

  /** @internal called by an invocation's meter at its end */
  learn(kind: RecordingKind, restMs: number, writeUnits: number | undefined): void {
    const rest = this.rests.get(kind) ?? { meanMs: 0, count: 0 };
    rest.count = Math.min(rest.count + 1, REST_WINDOW);
    rest.meanMs += (restMs - rest.meanMs) / rest.count;
    this.rests.set(kind, rest);
    if (writeUnits !== undefined && writeUnits > 0) this.writeUnits.set(kind, writeUnits);
  }
}

/**
 * One invocation's usage: its billed time (init included on a cold start) and memory, its request,
 * and the DynamoDB units its store calls consumed. `take()` hands out what was not recorded yet.
 */
export class InvocationMeter {
  private readonly startedAt: number;
  private recordedMs = 0;
  private requestRecorded = false;
  /** Consumed and not recorded yet (negative after a prediction, until the predicted call reports). */
  private readUnits = 0;
  private writeUnits = 0;
  private last: { kind: RecordingKind; at: number; writeUnits: number; given: boolean } | undefined;
  /** The job this invocation works for, once known: its corrections go to it. */
  private jobId: string | undefined;
  /** The job's correction the latest take() handed out, to put back if that write was not applied. */
  private owedTaken: Correction | undefined;

  constructor(
    private readonly sandbox: SandboxMeter,
    private readonly clock: () => number,
    private readonly initMs: number,
  ) {
    this.startedAt = clock();
  }

  /** The invocation's duration so far, init included. */
  elapsedMs(): number {
    return this.initMs + this.clock() - this.startedAt;
  }

  /** The sandbox's recent rest of a kind of last recording, if it measured one. */
  measuredRestMs(kind: RecordingKind): number | undefined {
    return this.sandbox.measuredRestMs(kind);
  }

  /** Names the job this invocation works for (the first name given stays). */
  forJob(jobId: string): void {
    this.jobId ??= jobId;
  }

  consumed(units: ConsumedUnits): void {
    this.readUnits += units.readUnits;
    this.writeUnits += units.writeUnits;
  }

  /**
   * The usage not recorded yet, now marked recorded: the invocation's request (once), its billed
   * milliseconds so far (rounded up so that what it records sums to ceil(init + duration)), and its
   * units; with `kind`, also the predicted rest and the predicted units of the write carrying it.
   */
  take(options: TakeOptions = {}): JobUsage {
    const { kind } = options;
    const restMs = options.restMs ?? (kind ? this.sandbox.predictedRestMs(kind) : 0);
    const predictedWriteUnits = kind ? this.sandbox.predictedWriteUnits(kind) : 0;
    const billedMs = Math.max(0, Math.ceil(this.elapsedMs() + restMs) - this.recordedMs);
    const usage = emptyUsage();
    usage.functions[this.sandbox.function] = {
      requests: this.requestRecorded ? 0 : 1,
      billedMs,
      mbMs: billedMs * this.sandbox.memoryMb,
    };
    usage.dynamodb = { readUnits: Math.max(0, this.readUnits), writeUnits: Math.max(0, this.writeUnits + predictedWriteUnits) };
    this.requestRecorded = true;
    this.recordedMs += billedMs;
    this.readUnits -= usage.dynamodb.readUnits;
    this.writeUnits -= usage.dynamodb.writeUnits;
    this.last = kind && { kind, at: this.clock(), writeUnits: predictedWriteUnits, given: false };
    // What earlier invocations of the job in this sandbox recorded too little or too much: never more
    // than brings this usage to zero (a usage is never negative); the rest stays owed.
    const owed = this.jobId === undefined ? undefined : this.sandbox.takeOwed(this.jobId);
    this.owedTaken = undefined;
    if (owed) {
      const own = usage.functions[this.sandbox.function];
      const applied = {
        ms: Math.max(owed.ms, -own.billedMs),
        readUnits: Math.max(owed.readUnits, -usage.dynamodb.readUnits),
        writeUnits: Math.max(owed.writeUnits, -usage.dynamodb.writeUnits),
      };
      const rest = { ms: owed.ms - applied.ms, readUnits: owed.readUnits - applied.readUnits, writeUnits: owed.writeUnits - applied.writeUnits };
      if (rest.ms !== 0 || rest.readUnits !== 0 || rest.writeUnits !== 0) this.sandbox.owe(this.jobId!, rest);
      own.billedMs += applied.ms;
      own.mbMs += applied.ms * this.sandbox.memoryMb;
      usage.dynamodb.readUnits += applied.readUnits;
      usage.dynamodb.writeUnits += applied.writeUnits;
      this.owedTaken = applied;
    }
    return usage;
  }

  /** Gives back a usage whose write was not applied: the next take() hands it out again. */
  giveBack(usage: JobUsage): void {
    const owed = this.owedTaken ?? { ms: 0, readUnits: 0, writeUnits: 0 };
    if (this.owedTaken && this.jobId !== undefined) this.sandbox.owe(this.jobId, this.owedTaken);
    this.owedTaken = undefined;
    const own = usage.functions[this.sandbox.function];
    this.recordedMs -= own.billedMs - owed.ms;
    if (own.requests > 0) this.requestRecorded = false;
    this.readUnits += usage.dynamodb.readUnits - owed.readUnits;
    this.writeUnits += usage.dynamodb.writeUnits - owed.writeUnits;
    if (this.last) this.last.given = true;
  }

  /**
   * Ends the invocation: measures how far the recorded usage is from what it really used, and teaches
   * the sandbox the last recording write's real rest and units.
   */
  end(): MeterReport {
    const billedMs = Math.ceil(this.elapsedMs());
    if (this.last && !this.last.given) {
      // The units consumed since the last take are the last write's (when it was the last call): its own.
      this.sandbox.learn(this.last.kind, this.clock() - this.last.at, this.last.writeUnits + this.writeUnits);
    }
    if (this.jobId !== undefined && this.requestRecorded) {
      const correction = { ms: billedMs - this.recordedMs, readUnits: this.readUnits, writeUnits: this.writeUnits };
      if (correction.ms !== 0 || correction.readUnits !== 0 || correction.writeUnits !== 0) this.sandbox.owe(this.jobId, correction);
    }
    return { billedMs, recordedMs: this.recordedMs, unrecordedReadUnits: this.readUnits, unrecordedWriteUnits: this.writeUnits };
  }

  /**
   * A usage source for writes that may not be applied (see UsageSource): this invocation's usage, plus
   * `extra` (what a caller reported) with the first take only.
   */
  source(options: TakeOptions, extra: JobUsage = emptyUsage()): UsageSource {
    let extraTaken = false;
    const taken = new Map<JobUsage, { own: JobUsage; extra: boolean }>();
    return {
      take: () => {
        const own = this.take(options);
        const withExtra = !extraTaken;
        extraTaken = true;
        const usage = withExtra ? addUsage(own, extra) : own;
        taken.set(usage, { own, extra: withExtra });
        return usage;
      },
      giveBack: (usage) => {
        const parts = taken.get(usage);
        if (!parts) throw new Error('giveBack of a usage this source did not hand out');
        taken.delete(usage);
        this.giveBack(parts.own);
        if (parts.extra) extraTaken = false;
      },
    };
  }
}
