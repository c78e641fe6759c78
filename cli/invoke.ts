import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient, LogType } from '@aws-sdk/client-lambda';
import { listFunctions, resolveFunction } from './functions.js';
import { watchInterrupts } from './interrupt.js';
import { startLocalSession } from './local-session.js';
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
}

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
      process.stdout.write(`${pretty(text)}\n`);
      if (result.FunctionError) {
        warn(`The function failed (${result.FunctionError}).`);
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
