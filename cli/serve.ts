import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalDynamoDb } from '../local/index.js';
import { watchInterrupts } from './interrupt.js';
import { explainStartError, startLocalSession, type LocalCloudInfo } from './local-session.js';
import { errorText } from './output.js';
import { ROOT, ensureSynth } from './synth.js';
import { displayPath } from './numbers.js';
import type { TemplateFunction } from './functions.js';

export interface ServeOptions {
  port: number;
  dynamodbPort?: number;
  stateDir?: string;
  quiet: boolean;
  logFile?: string;
}

const say = (text = '') => process.stdout.write(`${text}\n`);

/** Shell-quotes a value for the examples (single quotes, POSIX shells). */
const q = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

/** What `npm run local` prints once the cloud is up: endpoints, names, and commands to paste. */
function usageText(cloud: LocalCloudInfo, functions: readonly TemplateFunction[], templatePath: string): string[] {
  const api = cloud.apiUrl.replace(/\/$/, '');
  const sign = `--aws-sigv4 "aws:amz:${cloud.region}:execute-api" --user "$AK:$SK"`;
  const orchestrator = functions.find((f) => f.friendlyName === 'orchestrator');
  const table = Object.values(cloud.tableNames)[0];
  const lines = [
    `Local cloud running ${displayPath(templatePath)}`,
    `  API (REST, IAM auth)  ${cloud.apiUrl}`,
    `  Lambda Invoke API     ${cloud.lambdaEndpoint}`,
    `  DynamoDB              ${cloud.dynamodbEndpoint}`,
    `  Region                ${cloud.region}`,
    `  Functions             ${functions.map((f) => `${f.friendlyName} = ${f.logicalId}`).join(', ')}`,
    `  Tables                ${Object.entries(cloud.tableNames).map(([id, name]) => (id === name ? id : `${id} = ${name}`)).join(', ')}`,
    '',
    'Credentials (of the default test user; local/README.md lists the others the local API accepts):',
    `  export AK=${q(cloud.credentials.accessKeyId)} SK=${q(cloud.credentials.secretAccessKey)}`,
    '',
    'Try it from another terminal:',
    `  curl ${sign} -H 'content-type: application/json' -d '{"samples":100000000,"tasks":10}' ${api}/jobs`,
    `  curl ${sign} ${api}/jobs/<jobId>`,
    '  # a job of 10^11 samples runs for a minute or more: long enough to cancel',
    `  curl ${sign} -H 'content-type: application/json' -d '{"samples":100000000000,"tasks":20}' ${api}/jobs`,
    `  curl ${sign} -X DELETE ${api}/jobs/<jobId>`,
    `  curl ${sign} -H 'content-type: application/json' -d '{"samples":10000000,"tasks":4,"seed":7}' ${api}/estimate`,
    '',
    `  export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=${cloud.region} AWS_DEFAULT_REGION=${cloud.region}`,
    `  npm start -- --endpoint ${cloud.apiUrl}`,
  ];
  if (orchestrator) {
    // The API event creates its job (events/README.md), so it works on any state. The AWS CLI
    // writes the function's answer to the outfile (a file: /dev/stdout fails when it is a pipe).
    const invoke = `aws lambda invoke --endpoint-url ${cloud.lambdaEndpoint} --function-name ${orchestrator.logicalId}`;
    const payload = `--payload file://${displayPath(`${ROOT}/events/api-post-jobs.json`)}`;
    // The folder exists even with --in-memory: runServe creates it.
    const outfile = displayPath(`${ROOT}/.local-state/aws-invoke-result.json`);
    lines.push(
      `  ${invoke} --cli-binary-format raw-in-base64-out ${payload} ${outfile} && cat ${outfile}   # AWS CLI v2`,
      `  ${invoke} ${payload} ${outfile} && cat ${outfile}   # AWS CLI v1`,
    );
  }
  if (table) lines.push(`  aws dynamodb scan --endpoint-url ${cloud.dynamodbEndpoint} --table-name ${table}`);
  lines.push('', 'Ctrl-C stops it.');
  return lines;
}

/** What a serving verb started: the lines to print, and how to stop it. */
interface Served {
  lines: string[];
  stop(): Promise<unknown>;
}

/**
 * Synthesizes, starts what `start` starts, prints its lines and serves until Ctrl-C. Returns the exit
 * code; a start error is printed as one line, with `portHint` after a taken port.
 */
async function serveUntilInterrupted(start: (templatePath: string) => Promise<Served>, portHint: string, explain: (text: string) => string = (t) => t): Promise<number> {
  const interrupt = watchInterrupts();
  let served: Served | undefined;
  try {
    const templatePath = await ensureSynth({ log: say, signal: interrupt.signal });
    interrupt.signal.throwIfAborted();
    served = await start(templatePath);
    for (const text of served.lines) say(text);
    if (!interrupt.signal.aborted) await new Promise((resolve) => interrupt.signal.addEventListener('abort', resolve, { once: true }));
    say(`Stopping (${interrupt.received()})...`);
    await served.stop();
    served = undefined;
    say('Stopped.');
    return 0;
  } catch (error) {
    if (interrupt.signal.aborted) return interrupt.exitCode();
    const text = explain(errorText(error));
    process.stderr.write(`Error: ${/EADDRINUSE/.test(text) ? `${text}: the port is taken, ${portHint}` : text}\n`);
    return 1;
  } finally {
    await served?.stop().catch(() => undefined);
    interrupt.dispose();
  }
}

/** `npm run local`: start the local cloud and serve until Ctrl-C. Returns the exit code. */
export function runServe(options: ServeOptions): Promise<number> {
  return serveUntilInterrupted(async (templatePath) => {
    // The aws lambda invoke lines it prints write their result there.
    mkdirSync(join(ROOT, '.local-state'), { recursive: true });
    const session = await startLocalSession({
      templatePath,
      verbose: !options.quiet,
      port: options.port,
      ...(options.dynamodbPort !== undefined && { dynamodbPort: options.dynamodbPort }),
      ...(options.stateDir !== undefined && { stateDir: options.stateDir }),
      ...(options.logFile !== undefined && { logFile: options.logFile }),
      show: say,
    });
    const lines = usageText(session.cloud, session.functions, templatePath);
    if (options.stateDir !== undefined) lines.push(`DynamoDB data is kept in ${displayPath(options.stateDir)} (--in-memory keeps none).`);
    return { lines, stop: () => session.stop() };
  }, 'pass --port <n> or --dynamodb-port <n> (0 picks a free one)');
}

export interface ServeDynamoDbOptions {
  port: number;
  stateDir?: string;
  /** Listen on this address instead of 127.0.0.1 (e.g. 0.0.0.0, for Docker containers). */
  listen?: string;
}

/**
 * `npm run local -- --dynamodb-only`: the local cloud's DynamoDB alone, with the template's tables,
 * for functions that `sam local` runs in Docker (README.md, "With sam local").
 */
export function runServeDynamoDb(options: ServeDynamoDbOptions): Promise<number> {
  const explain = (text: string) => errorText(explainStartError(text, options.stateDir));
  return serveUntilInterrupted(async (templatePath) => {
    // dynalite throws a database it cannot open (another process holds the folder's lock) from
    // inside, uncaught: while it starts, that is a start error to explain, not a crash.
    const onCrash = (error: Error) => {
      process.stderr.write(`Error: ${explain(error.message)}\n`);
      process.exit(1);
    };
    process.on('uncaughtException', onCrash);
    const dynamo = await startLocalDynamoDb({
      templatePath,
      port: options.port,
      ...(options.listen !== undefined && { host: options.listen }),
      ...(options.stateDir !== undefined && { stateDir: options.stateDir }),
      log: say,
    }).finally(() => process.off('uncaughtException', onCrash));
    const endpoint = dynamo.endpoint;
    const table = Object.values(dynamo.tableNames)[0];
    const lines = [
      `DynamoDB of ${displayPath(templatePath)}, alone`,
      `  DynamoDB              ${endpoint}`,
      ...(options.listen !== undefined ? [`  Listening on          ${options.listen}, port ${new URL(endpoint).port}`] : []),
      `  Tables                ${Object.entries(dynamo.tableNames).map(([id, name]) => (id === name ? id : `${id} = ${name}`)).join(', ')}`,
      '',
      ...(table ? [`  aws dynamodb scan --endpoint-url ${endpoint} --table-name ${table} --region ${dynamo.region}`] : []),
      '',
      options.stateDir !== undefined ? `Data is kept in ${displayPath(options.stateDir)} (--in-memory keeps none).` : 'Data is kept in memory.',
      'Ctrl-C stops it.',
    ];
    return { lines, stop: () => dynamo.stop() };
  }, 'pass --dynamodb-port <n>', explain);
}
