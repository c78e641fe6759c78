// Runs inside each worker process: loads one function's handler module and
// answers invocations sent over the IPC channel, one at a time, like a Lambda
// execution environment. Plain JavaScript so the worker starts on bare Node.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';

const taskRoot = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
const handlerSpec = process.env._HANDLER ?? 'index.handler';

/** @type {string | undefined} request id of the invocation in progress */
let current;

// The parent is the only reason to exist: when it goes away, so does this worker.
process.on('disconnect', () => process.exit(0));

// The local Node.js may be older than the runtime the template names; a library's
// warning about the Node.js version itself would not appear in Lambda, so drop it.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning, ...rest) => {
  const text = typeof warning === 'string' ? warning : warning?.message ?? '';
  if (/^NodeVersionSupportWarning\b/.test(text) || rest[0] === 'NodeVersionSupportWarning') return;
  emitWarning(warning, ...rest);
};

function send(message) {
  if (process.connected) process.send(message);
}

// Console output is sent over IPC (not stdout) so it reaches the parent before
// the invocation's result, which keeps the tail log complete.
const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' };
for (const [method, level] of Object.entries(levels)) {
  console[method] = (...args) => {
    let text = format(...args);
    if (method === 'trace') text = `Trace: ${text}\n${new Error().stack?.split('\n').slice(2).join('\n') ?? ''}`;
    send({ t: 'log', id: current, level, text });
  };
}

// Lines written to stdout and stderr directly (Powertools writes its JSON logs and EMF metrics
// there, past console) go over IPC too, whole lines at a time, with the invocation that wrote them.
const partialLines = [];
for (const stream of [process.stdout, process.stderr]) {
  const partial = { text: '' };
  partialLines.push(partial);
  stream.write = (chunk, encoding, callback) => {
    partial.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8');
    const lines = partial.text.split('\n');
    partial.text = lines.pop();
    for (const text of lines) send({ t: 'out', id: current, text });
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  };
}

/** Sends what an invocation wrote without a final newline, before its result. */
function flushPartialLines() {
  for (const partial of partialLines) {
    if (partial.text !== '') send({ t: 'out', id: current, text: partial.text });
    partial.text = '';
  }
}

function errorRecord(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name || 'Error',
      errorMessage: err.message,
      trace: typeof err.stack === 'string' ? err.stack.split('\n') : [],
    };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

function resolveModule(moduleName) {
  for (const ext of ['.js', '.mjs', '.cjs']) {
    const file = join(taskRoot, moduleName + ext);
    if (existsSync(file)) return file;
  }
  return undefined;
}

async function loadHandler() {
  const dot = handlerSpec.lastIndexOf('.');
  const moduleName = dot > 0 ? handlerSpec.slice(0, dot) : handlerSpec;
  const exportName = dot > 0 ? handlerSpec.slice(dot + 1) : 'handler';
  const file = resolveModule(moduleName);
  if (!file) {
    const err = new Error(`Error: Cannot find module '${moduleName}'`);
    err.name = 'Runtime.ImportModuleError';
    throw err;
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (cause) {
    if (cause instanceof SyntaxError) {
      const err = new Error(`${cause.name}: ${cause.message}`);
      err.name = 'Runtime.UserCodeSyntaxError';
      err.stack = cause.stack;
      throw err;
    }
    throw cause;
  }
  const fn = mod[exportName] ?? mod.default?.[exportName];
  if (typeof fn !== 'function') {
    const err = new Error(`${handlerSpec} is undefined or not exported`);
    err.name = 'Runtime.HandlerNotFound';
    throw err;
  }
  return fn;
}

function makeContext(msg, finish) {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: msg.arn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: msg.id,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    identity: undefined,
    clientContext: msg.clientContext,
    getRemainingTimeInMillis: () => Math.max(0, msg.deadline - Date.now()),
    // Deprecated completion methods, still honoured by the Node.js runtime.
    done: (err, result) => finish(err, result),
    succeed: (result) => finish(null, result),
    fail: (err) => finish(err ?? new Error('handled'), undefined),
  };
}

function serialise(result) {
  const text = JSON.stringify(result);
  return text === undefined ? 'null' : text;
}

let handlerPromise;

async function invoke(msg) {
  const startedAt = performance.now();
  current = msg.id;
  process.env._X_AMZN_TRACE_ID = msg.traceId;
  let settled = false;
  const finish = (err, result) => {
    if (settled) return;
    settled = true;
    flushPartialLines();
    const rss = process.memoryUsage.rss();
    if (err !== null && err !== undefined) {
      send({ t: 'done', id: msg.id, ok: false, error: errorRecord(err), rss, durationMs: performance.now() - startedAt });
    } else {
      try {
        const payload = serialise(result);
        send({ t: 'done', id: msg.id, ok: true, payload, rss, durationMs: performance.now() - startedAt });
      } catch (e) {
        send({ t: 'done', id: msg.id, ok: false, error: { ...errorRecord(e), errorType: 'Runtime.MarshalError' } });
      }
    }
  };
  try {
    const handler = await handlerPromise;
    const event = JSON.parse(msg.event);
    const context = makeContext(msg, finish);
    const callback = (err, result) => finish(err, result);
    const out = handler(event, context, callback);
    // Promise handlers finish when the promise settles; callback handlers when they call back.
    if (out && typeof out.then === 'function') out.then((r) => finish(null, r), (e) => finish(e ?? new Error('rejected'), undefined));
    else if (handler.length < 3) finish(null, out);
  } catch (err) {
    finish(err, undefined);
  }
}

// An uncaught error ends the execution environment, as in Lambda: report it for
// the invocation in progress, then exit so the parent starts a fresh worker.
process.on('uncaughtException', (err) => {
  send({ t: 'crash', id: current, error: errorRecord(err) });
  process.exitCode = 1;
  setImmediate(() => process.exit(1));
});
process.on('unhandledRejection', (reason) => {
  const error = {
    errorType: 'Runtime.UnhandledPromiseRejection',
    errorMessage: reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason),
    reason,
    trace: reason instanceof Error && reason.stack ? reason.stack.split('\n') : [],
  };
  send({ t: 'crash', id: current, error: JSON.parse(JSON.stringify(error, (_k, v) => (v instanceof Error ? errorRecord(v) : v))) });
  setImmediate(() => process.exit(1));
});

process.on('message', (msg) => {
  if (msg && msg.t === 'invoke') void invoke(msg);
});

/**
 * The process's age in ms, from Linux's /proc (its start in clock ticks since boot, 100 a second);
 * undefined elsewhere. Node's own clock starts a little after the process does.
 */
function processAgeMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]);
    const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const ageMs = uptimeSeconds * 1000 - startTicks * 10;
    return Number.isFinite(ageMs) && ageMs >= 0 ? ageMs : undefined;
  } catch {
    return undefined;
  }
}

handlerPromise = loadHandler();
handlerPromise.then(
  // The INIT phase as Lambda counts it: from the runtime process's start to the end of the handler
  // module's import (what a function measuring its own age at the end of its module's load sees too).
  () => send({ t: 'ready', initMs: Math.max(performance.now(), processAgeMs() ?? 0) }),
  (err) => send({ t: 'initError', error: errorRecord(err) }),
);
