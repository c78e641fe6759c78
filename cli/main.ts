import './env.js';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runDashboard } from './dashboard/run.js';
import { runInvoke } from './invoke.js';
import { parseCount, parsePort, UsageError } from './numbers.js';
import { runSamEnv } from './sam-env.js';
import { runServe, runServeDynamoDb } from './serve.js';
import { runStart } from './start.js';
import { ROOT } from './synth.js';

const HELP = {
  start: `Usage: npm start -- [options]

Runs the tutorial's job end to end: synthesizes the stack if cdk.out is missing or stale, starts
the local cloud, submits the job through the signed API, shows progress and prints π.

  --samples <n>      samples in the job (default 1e8; 1e9-style numbers work)
  --tasks <n>        parallel tasks (default 10)
  --seed <n>         seed of the random streams (default: the API picks one)
  --endpoint <url>   run on a deployed stack instead (its ApiUrl output); signs with the AWS
                     credential chain
  --region <name>    signing region for --endpoint (default: from the URL, then AWS_REGION)
  --verbose, -v      show the functions' logs (default: errors only, all in .local-state/start.log)
  --log-file <path>  where the functions' logs go
  --port <n>         local API port (default: a free one)
  --interval <ms>    how often to read the job's progress (default: from 50 ms for a young job
                     to 250 ms, and never more often than every tasks/2 ms: 500 ms for 1,000
                     tasks; 200 ms to 1 s with --endpoint)
  --ui               also serve the dashboard (its URL is printed first) and keep serving it
                     after the job until Ctrl-C
  --ui-port <n>      the dashboard's port on 127.0.0.1 (default: a free one)
`,
  dashboard: `Usage: npm run dashboard -- [options]

Serves a live dashboard of your jobs on 127.0.0.1 until Ctrl-C: the jobs list, each job's tasks,
the estimate converging on π, its cost, a form to submit jobs and a button to cancel one. Starts
the local cloud unless --endpoint names a deployed stage. The printed URL carries a random token:
only a browser given that URL gets in. The browser never holds AWS credentials: the CLI calls the
API with its signed client.

  --port <n>         the dashboard's port (default: a free one)
  --endpoint <url>   a deployed stack's API (its ApiUrl output); signs with the AWS credential chain
  --region <name>    signing region for --endpoint (default: from the URL, then AWS_REGION)
  --api-port <n>     local API port (default: a free one)
  --verbose, -v      show the functions' logs (default: errors only, all in .local-state/dashboard.log)
  --log-file <path>  where the functions' logs go
`,
  local: `Usage: npm run local -- [options]

Starts the local cloud and keeps serving until Ctrl-C: API Gateway, the Lambda Invoke API and
DynamoDB on 127.0.0.1, running cdk.out/PiStack.template.json.

  --port <n>           API port (default 3000; 0 picks a free one)
  --state-dir <path>   keep DynamoDB data there across restarts (default .local-state)
  --in-memory          keep nothing
  --quiet, -q          show only errors from the functions
  --log-file <path>    also write every log line there
  --dynamodb-only      serve only DynamoDB with the template's tables (for sam local; see
                       npm run sam:env)
  --dynamodb-port <n>  DynamoDB port (default: a free one; 8000 with --dynamodb-only)
  --listen <address>   with --dynamodb-only, listen on this address instead of 127.0.0.1,
                       e.g. 0.0.0.0 so Docker containers reach it
`,
  invoke: `Usage: npm run invoke -- <function> [--event file.json] [options]

Invokes one function of the synthesized stack synchronously, like \`sam local invoke\`, and prints
its log tail (stderr) and result (stdout). <function> is a logical id or a name like sampler,
progress or orchestrator. Sample events are in events/.

  --event, -e <path>   the event (JSON file, - for stdin; default {})
  --state-dir <path>   DynamoDB state shared with earlier invokes and npm run local (default .local-state)
  --in-memory          start from an empty table
  --verbose, -v        also show every other log line (functions it invokes, the API, DynamoDB)
  --log-file <path>    where all log lines go (default .local-state/invoke.log)
  --out <path>         write the result there instead of stdout
  --wait <seconds>     how long to wait for the async work the invocation started (events it
                       queued, invocations they run) before stopping the cloud (default 120)
`,
  'sam-env': `Usage: npm run sam:env -- [options]

Writes what \`sam local\` needs to run the synthesized stack against local services (README.md,
"With sam local"): cdk.out/env.json (--env-vars: every variable each function declares, with the
local values) and cdk.out/PiStack.sam.template.json (the template, whose functions also declare
AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_LAMBDA, which SAM only sets when declared).

  --host <name>          how functions in Docker reach this machine (default host.docker.internal)
  --dynamodb-port <n>    port of npm run local -- --dynamodb-only (default 8000)
  --lambda-port <n>      port of sam local start-lambda (default 3001)
  --out <path>           the env.json to write (default cdk.out/env.json)
`,
};

type Verb = keyof typeof HELP;

/** parseArgs' words for a missing value ("Option '-e, --event <value>' argument missing"), in ours. */
function usageMessage(message: string): string {
  const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing?.[1] === '--event') return '--event needs a JSON file (or - for stdin), e.g. --event events/sampler.json';
  if (missing) return `${missing[1]} needs a value`;
  return message;
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(usageMessage((error as Error).message));
  }
}

const optionalCount = (name: string, value: string | undefined) => (value === undefined ? undefined : parseCount(name, value));
const optionalPort = (name: string, value: string | undefined) => (value === undefined ? undefined : parsePort(name, value));
const stateDirOf = (values: { 'state-dir'?: string; 'in-memory'?: boolean }) =>
  values['in-memory'] ? undefined : resolve(values['state-dir'] ?? `${ROOT}/.local-state`);

/** A verb of the CLI: only HELP's own keys (`constructor` or `toString` are not verbs). */
const isVerb = (word: string): word is Verb => Object.hasOwn(HELP, word);

/** `--endpoint` must be an http(s) URL: a mistake there is the user's, not a failed request. */
function endpointOption(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--endpoint must be the API's URL, like https://abc123.execute-api.us-east-1.amazonaws.com/prod/, got "${value}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--endpoint must be an http or https URL, got "${value}"`);
  return value;
}

/** What the user meant to invoke, or a message that says what is missing or extra. */
function invokeTarget(positionals: string[]): string {
  const [first, ...rest] = positionals;
  // `npm run invoke sampler --event x.json` (no `--`): npm keeps --event for itself (and sets
  // npm_config_event), so the file arrives as a second word.
  const npmTookEvent = process.env.npm_config_event !== undefined;
  const how = 'npm run invoke -- sampler --event events/sampler.json';
  if (first === undefined) {
    throw new UsageError(`name the function to invoke (sampler, progress, orchestrator or a logical id), e.g. ${how}`);
  }
  if (rest.length > 0) {
    const event = positionals.find((word) => /\.json$/i.test(word));
    if (npmTookEvent) throw new UsageError(`npm kept --event for itself: put -- before the CLI's options, e.g. ${how}`);
    if (event !== undefined) throw new UsageError(`pass the event with --event: ${event} came as a second function name; e.g. ${how}`);
    throw new UsageError(`name one function, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  if (/\.json$/i.test(first)) throw new UsageError(`name the function before the event and pass the event with --event, e.g. ${how}`);
  return first;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || !isVerb(verb)) {
    process.stderr.write(`Usage: cli/main.ts <${Object.keys(HELP).join('|')}> [options] (--help for each)\n`);
    return verb === undefined || verb === '--help' || verb === '-h' ? 0 : 2;
  }
  switch (verb) {
    case 'start': {
      const { values } = parse(args, {
        samples: { type: 'string' },
        tasks: { type: 'string' },
        seed: { type: 'string' },
        endpoint: { type: 'string' },
        region: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        'log-file': { type: 'string' },
        port: { type: 'string' },
        interval: { type: 'string' },
        ui: { type: 'boolean' },
        'ui-port': { type: 'string' },
      });
      if (values.help) return help('start');
      const seed = optionalCount('--seed', values.seed);
      const port = optionalPort('--port', values.port);
      const uiPort = optionalPort('--ui-port', values['ui-port']);
      if (uiPort !== undefined && !values.ui) throw new UsageError('--ui-port goes with --ui');
      const intervalMs = optionalCount('--interval', values.interval);
      return runStart({
        samples: parseCount('--samples', values.samples ?? '1e8'),
        tasks: parseCount('--tasks', values.tasks ?? '10'),
        ...(seed !== undefined && { seed }),
        ...(values.endpoint !== undefined && { endpoint: endpointOption(values.endpoint) }),
        ...(values.region !== undefined && { region: values.region }),
        verbose: values.verbose ?? false,
        ...(values['log-file'] !== undefined && { logFile: resolve(values['log-file']) }),
        ...(port !== undefined && { port }),
        ...(intervalMs !== undefined && { intervalMs }),
        ...(values.ui && { ui: { ...(uiPort !== undefined && { port: uiPort }) } }),
      });
    }
    case 'dashboard': {
      const { values } = parse(args, {
        port: { type: 'string' },
        endpoint: { type: 'string' },
        region: { type: 'string' },
        'api-port': { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        'log-file': { type: 'string' },
      });
      if (values.help) return help('dashboard');
      const port = optionalPort('--port', values.port);
      const apiPort = optionalPort('--api-port', values['api-port']);
      if (apiPort !== undefined && values.endpoint !== undefined) throw new UsageError('--api-port is for the local cloud, not with --endpoint');
      return runDashboard({
        ...(values.endpoint !== undefined && { endpoint: endpointOption(values.endpoint) }),
        ...(values.region !== undefined && { region: values.region }),
        ...(port !== undefined && { port }),
        ...(apiPort !== undefined && { apiPort }),
        verbose: values.verbose ?? false,
        ...(values['log-file'] !== undefined && { logFile: resolve(values['log-file']) }),
      });
    }
    case 'local': {
      const { values } = parse(args, {
        port: { type: 'string' },
        'state-dir': { type: 'string' },
        'in-memory': { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        'log-file': { type: 'string' },
        'dynamodb-only': { type: 'boolean' },
        'dynamodb-port': { type: 'string' },
        listen: { type: 'string' },
      });
      if (values.help) return help('local');
      const stateDir = stateDirOf(values);
      const dynamodbPort = optionalPort('--dynamodb-port', values['dynamodb-port']);
      if (values['dynamodb-only']) {
        return runServeDynamoDb({
          port: dynamodbPort ?? 8000,
          ...(stateDir !== undefined && { stateDir }),
          ...(values.listen !== undefined && { listen: values.listen }),
        });
      }
      if (values.listen !== undefined) throw new UsageError('--listen goes with --dynamodb-only (the local cloud serves 127.0.0.1 only)');
      return runServe({
        ...(dynamodbPort !== undefined && { dynamodbPort }),
        port: optionalPort('--port', values.port) ?? 3000,
        ...(stateDir !== undefined && { stateDir }),
        quiet: values.quiet ?? false,
        ...(values['log-file'] !== undefined && { logFile: resolve(values['log-file']) }),
      });
    }
    case 'invoke': {
      const { values, positionals } = parse(
        args,
        {
          event: { type: 'string', short: 'e' },
          'state-dir': { type: 'string' },
          'in-memory': { type: 'boolean' },
          verbose: { type: 'boolean', short: 'v' },
          'log-file': { type: 'string' },
          out: { type: 'string' },
          wait: { type: 'string' },
        },
        true,
      );
      if (values.help) return help('invoke');
      const functionName = invokeTarget(positionals);
      if (values.event === '') throw new UsageError('--event needs a JSON file (or - for stdin)');
      const stateDir = stateDirOf(values);
      const waitSeconds = optionalCount('--wait', values.wait);
      return runInvoke({
        functionName,
        ...(values.out !== undefined && { outPath: resolve(values.out) }),
        ...(waitSeconds !== undefined && { waitMs: waitSeconds * 1000 }),
        ...(values.event !== undefined && { eventPath: values.event === '-' ? '-' : resolve(values.event) }),
        ...(stateDir !== undefined && { stateDir }),
        verbose: values.verbose ?? false,
        ...(values['log-file'] !== undefined && { logFile: resolve(values['log-file']) }),
      });
    }
    case 'sam-env': {
      const { values } = parse(args, {
        host: { type: 'string' },
        'dynamodb-port': { type: 'string' },
        'lambda-port': { type: 'string' },
        out: { type: 'string' },
      });
      if (values.help) return help('sam-env');
      return runSamEnv({
        host: values.host ?? 'host.docker.internal',
        dynamodbPort: optionalPort('--dynamodb-port', values['dynamodb-port']) ?? 8000,
        lambdaPort: optionalPort('--lambda-port', values['lambda-port']) ?? 3001,
        ...(values.out !== undefined && { envPath: resolve(values.out) }),
      });
    }
  }
}

function help(verb: Verb): number {
  process.stdout.write(HELP[verb]);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => exit(code),
  (error: unknown) => {
    // Usage mistakes are one line; anything else is a bug of ours and keeps its stack.
    process.stderr.write(error instanceof UsageError ? `Error: ${error.message}\n` : `${(error as Error).stack ?? String(error)}\n`);
    exit(error instanceof UsageError ? 2 : 1);
  },
);

/** Exits once stdout and stderr are flushed (a pipe may still hold the last lines). */
function exit(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
