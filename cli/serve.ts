import { watchInterrupts } from './interrupt.js';
import { startLocalSession, type LocalCloudInfo } from './local-session.js';
import { errorText } from './output.js';
import { ensureSynth } from './synth.js';
import { displayPath } from './numbers.js';
import type { TemplateFunction } from './functions.js';

export interface ServeOptions {
  port: number;
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
  const sampler = functions.find((f) => f.friendlyName === 'sampler') ?? functions[0];
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
    'Credentials (the only ones the local API accepts):',
    `  export AK=${q(cloud.credentials.accessKeyId)} SK=${q(cloud.credentials.secretAccessKey)}`,
    '',
    'Try it from another terminal:',
    `  curl ${sign} -H 'content-type: application/json' -d '{"samples":100000000,"tasks":10}' ${api}/jobs`,
    `  curl ${sign} ${api}/jobs/<jobId>`,
    `  curl ${sign} -X DELETE ${api}/jobs/<jobId>`,
    `  curl ${sign} -H 'content-type: application/json' -d '{"samples":10000000,"tasks":4,"seed":7}' ${api}/estimate`,
    '',
    '  export AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1',
    `  npm start -- --endpoint ${cloud.apiUrl}`,
  ];
  if (sampler) {
    lines.push(
      `  aws lambda invoke --endpoint-url ${cloud.lambdaEndpoint} --function-name ${sampler.logicalId} \\`,
      '      --cli-binary-format raw-in-base64-out --payload file://events/sampler.json --log-type Tail /dev/stdout   # AWS CLI v2',
    );
  }
  if (table) lines.push(`  aws dynamodb scan --endpoint-url ${cloud.dynamodbEndpoint} --table-name ${table}`);
  lines.push('', 'Ctrl-C stops it.');
  return lines;
}

/** `npm run local`: start the local cloud and serve until Ctrl-C. Returns the exit code. */
export async function runServe(options: ServeOptions): Promise<number> {
  const interrupt = watchInterrupts();
  const warn = (text: string) => process.stderr.write(`${text}\n`);
  try {
    const templatePath = await ensureSynth({ log: say, signal: interrupt.signal });
    interrupt.signal.throwIfAborted();
    const session = await startLocalSession({
      templatePath,
      verbose: !options.quiet,
      port: options.port,
      ...(options.stateDir !== undefined && { stateDir: options.stateDir }),
      ...(options.logFile !== undefined && { logFile: options.logFile }),
      show: say,
    });
    for (const text of usageText(session.cloud, session.functions, templatePath)) say(text);
    if (options.stateDir !== undefined) say(`DynamoDB data is kept in ${displayPath(options.stateDir)} (--in-memory keeps none).`);
    if (!interrupt.signal.aborted) {
      await new Promise((resolve) => interrupt.signal.addEventListener('abort', resolve, { once: true }));
    }
    say(`Stopping (${interrupt.received()})...`);
    await session.stop();
    say('Stopped.');
    return 0;
  } catch (error) {
    if (interrupt.signal.aborted) return interrupt.exitCode();
    const text = errorText(error);
    warn(`Error: ${/EADDRINUSE/.test(text) ? `${text}: the port is taken, pass --port <n> (0 picks a free one)` : text}`);
    return 1;
  } finally {
    interrupt.dispose();
  }
}
