import './env.js';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runInvoke } from './invoke.js';
import { parseCount, UsageError } from './numbers.js';
import { runServe } from './serve.js';
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
                     to 250 ms, or 200 ms to 1 s with --endpoint)
`,
  local: `Usage: npm run local -- [options]

Starts the local cloud and keeps serving until Ctrl-C: API Gateway, the Lambda Invoke API and
DynamoDB on 127.0.0.1, running cdk.out/PiStack.template.json.

  --port <n>           API port (default 3000; 0 picks a free one)
  --state-dir <path>   keep DynamoDB data there across restarts (default .local-state)
  --in-memory          keep nothing
  --quiet, -q          show only errors from the functions
  --log-file <path>    also write every log line there
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
`,
};

type Verb = keyof typeof HELP;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const optionalCount = (name: string, value: string | undefined) => (value === undefined ? undefined : parseCount(name, value));
const stateDirOf = (values: { 'state-dir'?: string; 'in-memory'?: boolean }) =>
  values['in-memory'] ? undefined : resolve(values['state-dir'] ?? `${ROOT}/.local-state`);

async function main(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || !(verb in HELP)) {
    process.stderr.write(`Usage: cli/main.ts <${Object.keys(HELP).join('|')}> [options] (--help for each)\n`);
    return verb === undefined || verb === '--help' || verb === '-h' ? 0 : 2;
  }
  switch (verb as Verb) {
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
      });
      if (values.help) return help('start');
      const seed = optionalCount('--seed', values.seed);
      const port = optionalCount('--port', values.port);
      const intervalMs = optionalCount('--interval', values.interval);
      return runStart({
        samples: parseCount('--samples', values.samples ?? '1e8'),
        tasks: parseCount('--tasks', values.tasks ?? '10'),
        ...(seed !== undefined && { seed }),
        ...(values.endpoint !== undefined && { endpoint: values.endpoint }),
        ...(values.region !== undefined && { region: values.region }),
        verbose: values.verbose ?? false,
        ...(values['log-file'] !== undefined && { logFile: resolve(values['log-file']) }),
        ...(port !== undefined && { port }),
        ...(intervalMs !== undefined && { intervalMs }),
      });
    }
    case 'local': {
      const { values } = parse(args, {
        port: { type: 'string' },
        'state-dir': { type: 'string' },
        'in-memory': { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        'log-file': { type: 'string' },
      });
      if (values.help) return help('local');
      const stateDir = stateDirOf(values);
      return runServe({
        port: optionalCount('--port', values.port) ?? 3000,
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
        },
        true,
      );
      if (values.help) return help('invoke');
      if (positionals.length !== 1) throw new UsageError('name one function, e.g. npm run invoke -- sampler --event events/sampler.json');
      const stateDir = stateDirOf(values);
      return runInvoke({
        functionName: positionals[0]!,
        ...(values.event !== undefined && { eventPath: values.event === '-' ? '-' : resolve(values.event) }),
        ...(stateDir !== undefined && { stateDir }),
        verbose: values.verbose ?? false,
        ...(values['log-file'] !== undefined && { logFile: resolve(values['log-file']) }),
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
