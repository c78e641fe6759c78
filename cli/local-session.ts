import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { startLocalCloud, type LocalCloud } from '../local/index.js';
import { ApiClient } from './api-client.js';
import { friendlyLogLine, listFunctions, type TemplateFunction } from './functions.js';
import { displayPath } from './numbers.js';

/** Lines worth showing even when function logs are off: errors, warnings, failed or dropped work. */
const PROBLEM = /\bERROR\b|\bWARN\b|internal error|timed out|failed|discarded|throttled|Status: (?:error|timeout)|message recorded for/;

/** Printed by every worker on Node 20 (the SDK's notice about its 2027 releases), not a problem of the job. */
const NOISE = /NodeVersionSupportWarning/;

export function isProblemLine(line: string): boolean {
  return PROBLEM.test(line) && !NOISE.test(line);
}

export interface LocalSessionOptions {
  templatePath: string;
  stateDir?: string;
  port?: number;
  /** Show every function and service log line (prefixed by function); otherwise only problems. */
  verbose: boolean;
  /** Also write every log line here. */
  logFile?: string;
  /** Where shown lines go (the progress display's `log`, or stderr). */
  show: (line: string) => void;
}

export interface LocalSession {
  cloud: LocalCloud;
  /** An API client signing with the local cloud's credentials. */
  client: ApiClient;
  functions: TemplateFunction[];
  /** Redirects shown lines, e.g. through a progress display while one is on screen. */
  setShow(show: (line: string) => void): void;
  /** Stops the cloud and every worker process; returns the pids of the workers that were live. */
  stop(): Promise<number[]>;
}

/** Starts the local cloud for one CLI command, with its logs routed to the terminal and/or a file. */
export async function startLocalSession(options: LocalSessionOptions): Promise<LocalSession> {
  const functions = listFunctions(options.templatePath);
  let show = options.show;
  let file: WriteStream | undefined;
  if (options.logFile) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    file = createWriteStream(options.logFile, { flags: 'w' });
  }
  const log = (raw: string) => {
    const line = friendlyLogLine(functions, raw);
    file?.write(`${new Date().toISOString()} ${line}\n`);
    if (options.verbose || isProblemLine(line)) show(line);
  };
  const closeFile = () => new Promise<void>((resolve) => (file ? file.end(resolve) : resolve()));

  let cloud: LocalCloud;
  try {
    cloud = await startLocalCloud({
      templatePath: options.templatePath,
      ...(options.stateDir !== undefined && { stateDir: options.stateDir }),
      ...(options.port !== undefined && { port: options.port }),
      log,
    });
  } catch (error) {
    await closeFile();
    throw explainStartError(error, options.stateDir);
  }
  const client = new ApiClient({ endpoint: cloud.apiUrl, region: cloud.region, credentials: cloud.credentials });
  let stopped: Promise<number[]> | undefined;
  return {
    cloud,
    client,
    functions,
    setShow(next) {
      show = next;
    },
    stop() {
      stopped ??= (async () => {
        // Work cut short by the stop (an orchestrator still polling) is not a problem to report.
        if (!options.verbose) show = () => undefined;
        const pids = cloud.workerPids();
        await cloud.stop();
        await closeFile();
        return pids;
      })();
      return stopped;
    },
  };
}

function explainStartError(error: unknown, stateDir: string | undefined): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (stateDir !== undefined && /lock/i.test(message)) {
    return new Error(
      `another local cloud is using the state folder ${displayPath(stateDir)}: ` +
        `stop it, or pass --state-dir with another folder (${message})`,
    );
  }
  return error;
}
