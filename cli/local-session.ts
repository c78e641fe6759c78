import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApiClient } from './api-client.js';
import { friendlyLogLine, listFunctions, type TemplateFunction } from './functions.js';
import type { MetricStat } from '../local/index.js';
import type { HostMessage, HostOptions, LocalCloudInfo } from './local-host.js';
import { displayPath, formatSeconds } from './numbers.js';
import { ROOT, ensureSynth } from './synth.js';

export type { LocalCloudInfo };

const HOST = fileURLToPath(new URL('./local-host.ts', import.meta.url));
/** A stop that takes longer than this is finished with SIGKILL. */
const STOP_TIMEOUT_MS = 15_000;

/**
 * Lines worth showing even when function logs are off: errors, warnings (the functions' `WARN`
 * and the local cloud's `[local] warning:` lines), timeouts, failed work, events discarded or
 * dropped (by the fault injector).
 */
const PROBLEM =
  /\bERROR\b|\bWARN\b|^\[local\] warning:|internal error|timed out|failed|discarded|^\[faults\] drop\b|throttled|Status: (?:error|timeout)|message recorded for/;
/** Printed by every worker on Node 20 (the SDK's notice about its 2027 releases), not a problem of the job. */
const NOISE = /NodeVersionSupportWarning/;

export function isProblemLine(line: string): boolean {
  return PROBLEM.test(line) && !NOISE.test(line);
}

export interface LocalSessionOptions {
  templatePath: string;
  stateDir?: string;
  port?: number;
  dynamodbPort?: number;
  /** Show every function and service log line (prefixed by function); otherwise only problems. */
  verbose: boolean;
  /** Also write every log line here. */
  logFile?: string;
  /** Where shown lines go (the progress display's `log`, or stderr). */
  show: (line: string) => void;
}

export interface LocalSession {
  cloud: LocalCloudInfo;
  /** An API client signing with the local cloud's credentials. */
  client: ApiClient;
  functions: TemplateFunction[];
  /** The process running the local cloud. */
  hostPid: number;
  /** Async work still under way in the cloud: events queued or waiting for a retry, invocations running. */
  busy(): Promise<{ pendingEvents: number; invocationsInFlight: number }>;
  /** The metrics the functions published so far (`cloud.metrics()`); none once the cloud is gone. */
  metrics(): Promise<MetricStat[]>;
  /** Redirects shown lines, e.g. through a progress display while one is on screen. */
  setShow(show: (line: string) => void): void;
  /** Stops the cloud and every worker process; returns the pids of the workers that were live. */
  stop(): Promise<number[]>;
  /** Ends the cloud at once (a second Ctrl-C): the host and its workers are killed. */
  kill(): void;
}

/**
 * Starts the local cloud for one CLI command, in a process of its own (see local-host.ts), with its
 * logs routed to the terminal and/or a file.
 */
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

  const hostOptions: HostOptions = {
    templatePath: options.templatePath,
    ...(options.stateDir !== undefined && { stateDir: options.stateDir }),
    ...(options.port !== undefined && { port: options.port }),
    ...(options.dynamodbPort !== undefined && { dynamodbPort: options.dynamodbPort }),
  };
  const host: ChildProcess = fork(HOST, [JSON.stringify(hostOptions)], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    // Its own process group: the terminal's Ctrl-C is for the CLI, which then stops the cloud.
    detached: process.platform !== 'win32',
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  // The host reports through IPC; anything on its stderr is unexpected (a crash): always shown,
  // and while starting, kept to explain the failure.
  let ready = false;
  const startupErrors: string[] = [];
  createInterface({ input: host.stderr! }).on('line', (line) => {
    if (!ready) startupErrors.push(line);
    file?.write(`${new Date().toISOString()} [local cloud] ${line}\n`);
    if (ready) show(`[local cloud] ${line}`);
  });
  let workerPids: number[] = [];
  const busyAnswers: ((answer: { pendingEvents: number; invocationsInFlight: number }) => void)[] = [];
  const metricsAnswers: ((metrics: MetricStat[]) => void)[] = [];
  const exited = new Promise<void>((resolve) => host.once('exit', () => resolve()));
  // A host gone cannot answer: nothing of its work is under way any more.
  void exited.then(() => {
    busyAnswers.splice(0).forEach((answer) => answer({ pendingEvents: 0, invocationsInFlight: 0 }));
    metricsAnswers.splice(0).forEach((answer) => answer([]));
  });
  host.on('message', (message: HostMessage) => {
    if (message.t === 'log') log(message.line);
    else if (message.t === 'stopped') workerPids = message.workerPids;
    else if (message.t === 'busy') busyAnswers.shift()?.({ pendingEvents: message.pendingEvents, invocationsInFlight: message.invocationsInFlight });
    else if (message.t === 'metrics') metricsAnswers.shift()?.(message.metrics);
  });

  let cloud: LocalCloudInfo;
  try {
    cloud = await new Promise<LocalCloudInfo>((resolve, reject) => {
      host.on('message', (message: HostMessage) => {
        if (message.t === 'ready') resolve(message.cloud);
        else if (message.t === 'failed') reject(explainStartError(message.message, options.stateDir));
      });
      host.once('error', reject);
      void exited.then(() => {
        const cause = startupErrors.find((line) => /^\w*Error\b/.test(line)) ?? startupErrors.at(-1) ?? `exit code ${host.exitCode}`;
        reject(explainStartError(`the local cloud stopped while starting: ${cause}`, options.stateDir));
      });
    });
    ready = true;
  } catch (error) {
    await closeFile();
    throw error;
  }

  const kill = () => {
    try {
      if (host.pid !== undefined && host.exitCode === null) process.kill(process.platform === 'win32' ? host.pid : -host.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const client = new ApiClient({ endpoint: cloud.apiUrl, region: cloud.region, credentials: cloud.credentials });
  let stopped: Promise<number[]> | undefined;
  return {
    cloud,
    client,
    functions,
    hostPid: host.pid!,
    busy() {
      if (!host.connected) return Promise.resolve({ pendingEvents: 0, invocationsInFlight: 0 });
      return new Promise((resolve) => {
        busyAnswers.push(resolve);
        host.send({ t: 'busy?' });
      });
    },
    metrics() {
      if (!host.connected) return Promise.resolve([]);
      return new Promise((resolve) => {
        metricsAnswers.push(resolve);
        host.send({ t: 'metrics?' });
      });
    },
    setShow(next) {
      show = next;
    },
    stop() {
      stopped ??= (async () => {
        // Work cut short by the stop (an orchestrator still polling) is not a problem to report.
        if (!options.verbose) show = () => undefined;
        if (host.connected) host.send({ t: 'stop' });
        const timer = setTimeout(kill, STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        await closeFile();
        return workerPids;
      })();
      return stopped;
    },
    kill,
  };
}

export function explainStartError(message: string, stateDir: string | undefined): Error {
  // LevelDB allows one process per folder: dynalite reports the lock as a closed database.
  if (stateDir !== undefined && /lock|database is (closed|not open)/i.test(message)) {
    return new Error(
      `another local cloud is using the state folder ${displayPath(stateDir)}: ` +
        `stop it, or pass --state-dir with another folder (${message})`,
    );
  }
  return new Error(message);
}

export interface ApiConnection {
  client: ApiClient;
  /** The local cloud started for it; absent for a deployed stage. */
  session?: LocalSession;
}

/**
 * The API a command talks to: a deployed stage (`endpoint`, signed with the AWS credential chain), or
 * the local cloud, started here on the synthesized stack. Says which on `say`.
 */
export async function connectApi(options: {
  endpoint?: string;
  region?: string;
  verbose: boolean;
  logFile: string;
  /** The local API's port (default: a free one). */
  port?: number;
  signal: AbortSignal;
  say: (text: string) => void;
  warn: (text: string) => void;
}): Promise<ApiConnection> {
  const { say } = options;
  if (options.endpoint) {
    const client = new ApiClient({ endpoint: options.endpoint, ...(options.region !== undefined && { region: options.region }) });
    say(`API ${client.endpoint.href} (region ${client.region}, credentials from the AWS credential chain)`);
    return { client };
  }
  const templatePath = await ensureSynth({ log: say, signal: options.signal });
  const started = Date.now();
  const session = await startLocalSession({
    templatePath,
    verbose: options.verbose,
    logFile: options.logFile,
    ...(options.port !== undefined && { port: options.port }),
    show: options.warn,
  });
  say(`Local cloud ready in ${formatSeconds(Date.now() - started)}: API ${session.cloud.apiUrl}`);
  if (!options.verbose) say(`Function logs: ${displayPath(options.logFile)} (--verbose shows them here)`);
  return { client: session.client, session };
}
