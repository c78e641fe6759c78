import { join } from 'node:path';
import { watchInterrupts } from '../interrupt.js';
import { connectApi, type LocalSession } from '../local-session.js';
import { errorText } from '../output.js';
import { ROOT } from '../synth.js';
import { startDashboard, type Dashboard } from './server.js';

export interface DashboardRunOptions {
  /** A deployed stage's URL; without it the local cloud is started. */
  endpoint?: string;
  region?: string;
  /** The dashboard's port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** The local API's port (default: a free one). */
  apiPort?: number;
  verbose: boolean;
  logFile?: string;
}

const DEFAULT_LOG_FILE = join(ROOT, '.local-state', 'dashboard.log');

const say = (text: string) => process.stdout.write(`${text}\n`);
const warn = (text: string) => process.stderr.write(`${text}\n`);

/** The line that tells the user where the dashboard is: printed before anything else runs on it. */
export function announceDashboard(dashboard: Dashboard, log: (text: string) => void = say): void {
  log(`Dashboard: ${dashboard.url}`);
  log('  (open it in a browser on this machine; the token in the URL is the only way in)');
}

/** Resolves when `signal` aborts. */
export const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

/**
 * `npm run dashboard`: the local cloud (or `--endpoint`'s stage), the dashboard on it, until Ctrl-C;
 * then everything it started stops. Returns the exit code.
 */
export async function runDashboard(options: DashboardRunOptions): Promise<number> {
  let session: LocalSession | undefined;
  let dashboard: Dashboard | undefined;
  const interrupt = watchInterrupts(() => session?.kill());
  const { signal } = interrupt;
  try {
    const connection = await connectApi({ ...options, port: options.apiPort, logFile: options.logFile ?? DEFAULT_LOG_FILE, signal, say, warn });
    const { client } = connection;
    session = connection.session;
    signal.throwIfAborted();
    dashboard = await startDashboard({ client, ...(options.port !== undefined && { port: options.port }) });
    announceDashboard(dashboard);
    say('Serving until Ctrl-C.');
    await untilAborted(signal);
    say(`Interrupted (${interrupt.received()}): stopping`);
    return 0;
  } catch (error) {
    if (signal.aborted) {
      warn(`Interrupted (${interrupt.received()}): stopping`);
      return interrupt.exitCode();
    }
    warn(`Error: ${errorText(error)}`);
    return 1;
  } finally {
    await dashboard?.close();
    await session?.stop();
    interrupt.dispose();
  }
}
