import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient, LogType } from '@aws-sdk/client-lambda';
import { listFunctions, resolveFunction } from './functions.js';
import { watchInterrupts } from './interrupt.js';
import { startLocalSession, type LocalSession } from './local-session.js';
import { displayPath, UsageError } from './numbers.js';
import { errorText } from './output.js';
import { ROOT, ensureSynth } from './synth.js';

export interface InvokeOptions {
  /** Logical id or friendly name (`sampler`, `progress`, `orchestrator`). */
  functionName: string;
  /** A JSON file, `-` for stdin; `{}` when absent (as `sam local invoke` does). */
  eventPath?: string;
  /** DynamoDB state kept between commands; undefined for a fresh in-memory cloud. */
  stateDir?: string;
  verbose: boolean;
  logFile?: string;
  /** Write the result to this file instead of stdout. */
  outPath?: string;
  /** How long to wait for the async work the invocation started before stopping the cloud. */
  waitMs?: number;
}

const DEFAULT_WAIT_MS = 120_000;
const BUSY_POLL_MS = 100;

const DEFAULT_INVOKE_LOG_FILE = join(ROOT, '.local-state', 'invoke.log');

function readEvent(path: string | undefined): string {
  if (path === undefined) return '{}';
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the event ${path}: ${(error as Error).message}`);
  }
  try {
    JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the event ${path} is not JSON: ${(error as Error).message}`);
  }
  return text;
}

const pretty = (text: string) => {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
};

/** What to do about an error the sample events meet when they are run out of order. */
function hintFor(result: string): string {
  const noTask = /job (\S+) has no task/.exec(result);
  if (!noTask) return '';
  return ` The job is not in the state folder yet: create it first with npm run invoke -- orchestrator --event events/api-post-jobs.json (events/README.md).`;
}

/**
 * Waits until the cloud has no async event queued and no invocation running, or `limitMs` passed;
 * says what it waits for, and what was left undone when it gives up.
 */
async function waitForAsyncWork(session: LocalSession, limitMs: number, warn: (text: string) => void, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  let announced = false;
  for (;;) {
    const { pendingEvents, invocationsInFlight } = await session.busy();
    if (pendingEvents === 0 && invocationsInFlight === 0) {
      if (announced) warn(`Async work done after ${((Date.now() - started) / 1000).toFixed(1)} s.`);
      return;
    }
    const what = `${pendingEvents} async event(s) queued, ${invocationsInFlight} invocation(s) running`;
    if (Date.now() - started >= limitMs) {
      warn(
        `Stopping with ${what} after ${Math.round(limitMs / 1000)} s: their work is cut short ` +
          '(a job they ran stays RUNNING until a GET /jobs/{id} settles it; --wait <seconds> waits longer).',
      );
      return;
    }
    if (!announced) {
      warn(`Waiting for the async work it started (${what}; at most ${Math.round(limitMs / 1000)} s, --wait to change)...`);
      announced = true;
    }
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, BUSY_POLL_MS));
  }
}

/**
 * `invoke <function> --event file.json`, like `sam local invoke`: one synchronous invocation of a
 * function of the synthesized stack through the local Lambda Invoke API and the real SDK client.
 * The log tail goes to stderr, the result to stdout; a function error exits 1.
 */
export async function runInvoke(options: InvokeOptions): Promise<number> {
  const interrupt = watchInterrupts();
  const warn = (text: string) => process.stderr.write(`${text}\n`);
  let stop: (() => Promise<unknown>) | undefined;
  try {
    const payload = readEvent(options.eventPath);
    const templatePath = await ensureSynth({ log: warn, signal: interrupt.signal });
    const fn = resolveFunction(listFunctions(templatePath), options.functionName);
    const session = await startLocalSession({
      templatePath,
      verbose: options.verbose,
      logFile: options.logFile ?? DEFAULT_INVOKE_LOG_FILE,
      ...(options.stateDir !== undefined && { stateDir: options.stateDir }),
      // The invoked function's own log comes back as its log tail; other lines only with --verbose.
      show: options.verbose ? warn : () => undefined,
    });
    stop = () => session.stop();
    interrupt.signal.throwIfAborted();
    const { cloud } = session;
    warn(
      `Invoking ${fn.friendlyName} (${fn.logicalId}) with ${options.eventPath ? displayPath(options.eventPath) : '{}'}` +
        (options.stateDir ? `, state in ${displayPath(options.stateDir)}` : ''),
    );
    const lambda = new LambdaClient({ endpoint: cloud.lambdaEndpoint, region: cloud.region, credentials: cloud.credentials, maxAttempts: 1 });
    try {
      const result = await lambda.send(
        new InvokeCommand({ FunctionName: cloud.functionNames[fn.logicalId] ?? fn.logicalId, Payload: Buffer.from(payload), LogType: LogType.Tail }),
        { abortSignal: interrupt.signal },
      );
      if (result.LogResult) process.stderr.write(Buffer.from(result.LogResult, 'base64').toString('utf8'));
      const text = result.Payload ? Buffer.from(result.Payload).toString('utf8') : '';
      if (options.outPath) {
        writeFileSync(options.outPath, `${pretty(text)}\n`);
        warn(`Result written to ${displayPath(options.outPath)}`);
      } else {
        process.stdout.write(`${pretty(text)}\n`);
      }
      // The events it queued (an orchestrator's run, samplers) belong to this command too: stopping
      // the cloud under them would leave their work half done in the state folder.
      await waitForAsyncWork(session, options.waitMs ?? DEFAULT_WAIT_MS, warn, interrupt.signal);
      if (result.FunctionError) {
        warn(`The function failed (${result.FunctionError}).${hintFor(text)}`);
        return 1;
      }
      return 0;
    } finally {
      lambda.destroy();
    }
  } catch (error) {
    if (interrupt.signal.aborted) return interrupt.exitCode();
    if (error instanceof UsageError) throw error;
    warn(`Error: ${errorText(error)}`);
    return 1;
  } finally {
    await stop?.();
    interrupt.dispose();
  }
}
