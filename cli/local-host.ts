// The local cloud in a process of its own, started by the CLI (local-session.ts). It runs in its
// own process group, so a Ctrl-C in the terminal reaches the CLI alone: the CLI cancels its job
// through the API while every function is still up, then asks this process to stop.
import './env.js';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions, type MetricStat } from '../local/index.js';

/** What the CLI learns about the running cloud (everything but its methods). */
export type LocalCloudInfo = Pick<
  LocalCloud,
  'apiUrl' | 'lambdaEndpoint' | 'dynamodbEndpoint' | 'credentials' | 'region' | 'tableNames' | 'functionNames'
>;

export type HostOptions = Pick<LocalCloudOptions, 'templatePath' | 'stateDir' | 'port' | 'dynamodbPort'>;

export type HostMessage =
  | { t: 'ready'; cloud: LocalCloudInfo; pid: number }
  | { t: 'failed'; message: string }
  | { t: 'log'; line: string }
  | { t: 'stopped'; workerPids: number[] }
  | { t: 'busy'; pendingEvents: number; invocationsInFlight: number }
  | { t: 'metrics'; metrics: MetricStat[] };

const send = (message: HostMessage) =>
  new Promise<void>((resolve) => {
    if (!process.connected) return resolve();
    process.send!(message, undefined, {}, () => resolve());
  });

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as HostOptions;
  let cloud: LocalCloud;
  try {
    cloud = await startLocalCloud({ ...options, log: (line) => void send({ t: 'log', line }) });
  } catch (error) {
    await send({ t: 'failed', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const workerPids = cloud.workerPids();
      await cloud.stop();
      await send({ t: 'stopped', workerPids });
      process.exit(0);
    })();
  };
  process.on('message', (message: { t?: string }) => {
    if (message.t === 'stop') stop();
    else if (message.t === 'busy?') void send({ t: 'busy', pendingEvents: cloud.pendingEvents(), invocationsInFlight: cloud.invocationsInFlight() });
    else if (message.t === 'metrics?') void send({ t: 'metrics', metrics: cloud.metrics() });
  });
  // The CLI went away without asking (killed): nothing is left to serve.
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const { apiUrl, lambdaEndpoint, dynamodbEndpoint, credentials, region, tableNames, functionNames } = cloud;
  await send({ t: 'ready', cloud: { apiUrl, lambdaEndpoint, dynamodbEndpoint, credentials, region, tableNames, functionNames }, pid: process.pid });
}

void main();
