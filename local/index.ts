// The local cloud: runs a synthesized CDK stack on 127.0.0.1 (DynamoDB, the
// Lambda Invoke API with warm worker processes, API Gateway REST), so the
// unmodified handlers and SDK clients work with only their endpoints changed.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ACCOUNT_ID, REGION, Resolver, loadTemplate } from './template.js';
import { readStack, type FunctionDef, type TableDef } from './stack.js';
import { startDynamoDb, type LocalDynamoDb } from './dynamodb.js';
import { LambdaService, type DestinationRecord } from './lambda/service.js';
import type { MetricStat } from './lambda/emf.js';
import { DEFAULT_MAX_WORKERS, type InvocationRecord } from './lambda/runtime.js';
import { Account, type ConcurrencyCounters } from './lambda/concurrency.js';
import { QUOTAS_ENV, resolveQuotas, type Quotas } from './quotas.js';
import { readRestApis } from './apigateway/model.js';
import { ApiGateway, type ApiRequestRecord, type IamPrincipal } from './apigateway/server.js';
import { MS_RANGE, applyOverrides, functionNamed, noSuchFunction, findFunction, numberSetting, parseNumberSetting, type EnvOverrides, type NumberRange, type TimeoutOverrides } from './settings.js';
import { loadFaultConfig, type FaultConfig } from './faults/config.js';
import { FaultInjector, type FaultEvent, type FaultKind } from './faults/injector.js';
import { startDynamoDbFront, type DynamoDbQuotaCounters, type PartitionUnits } from './dynamodb-front.js';
import { close, endpointOf, listen } from './http.js';
import { chooseNode } from './lambda/node-binary.js';
import { warning } from './log.js';

export type { MetricStat };
export type { DestinationRecord, InvocationRecord, EnvOverrides, TimeoutOverrides, FaultConfig, FaultEvent, FaultKind, Quotas, ConcurrencyCounters };
export type { FunctionFaults, DynamoDbFaults } from './faults/config.js';
export type { DynamoDbQuotaCounters, PartitionCounters, PartitionUnits } from './dynamodb-front.js';
export type { ApiRequestRecord };
export { WARNING_PREFIX } from './log.js';

export interface LocalCloudOptions {
  /** e.g. `cdk.out/PiStack.template.json`; asset folders are read next to it. */
  templatePath: string;
  /** Keeps DynamoDB data across restarts; in memory when absent. */
  stateDir?: string;
  /** API Gateway port; 0 (default) picks a free one. */
  port?: number;
  /** Lambda Invoke API port; 0 (default) picks a free one. */
  lambdaPort?: number;
  /** DynamoDB port; 0 (default) picks a free one. */
  dynamodbPort?: number;
  /** Every log line: worker output prefixed by function and request id, platform lines, API access. */
  log?: (line: string) => void;
  /** First async retry delay, doubled for the second (AWS: about 1 min, then 2 min). Env LOCAL_CLOUD_RETRY_DELAY_MS, default 1000. */
  retryDelayMs?: number;
  /** API Gateway integration timeout. Env LOCAL_CLOUD_INTEGRATION_TIMEOUT_MS, default 29000 (or the method's TimeoutInMillis). */
  integrationTimeoutMs?: number;
  /** How often expired TTL items are deleted. Env LOCAL_CLOUD_TTL_SWEEP_MS, default 10000. */
  ttlSweepIntervalMs?: number;
  /**
   * AWS's quotas (account concurrency and its unreserved minimum, DynamoDB partition throughput, async
   * throttle backoff) times a scale from 0.001 to 1, or `false` for none. Env LOCAL_CLOUD_QUOTAS (a scale,
   * or `off`), default 1.
   */
  quotas?: number | false;
  /**
   * With quotas off only: the concurrency of each function without reserved concurrency (sync callers past
   * it wait). Env LOCAL_CLOUD_DEFAULT_CONCURRENCY, default 10. With quotas, those functions share the account's pool.
   */
  defaultConcurrency?: number;
  /**
   * Worker processes per function (env LOCAL_CLOUD_MAX_WORKERS), default max(4, 2 × the machine's cores):
   * invocations past it still count toward concurrency (and its 429s) but wait for a worker. An invocation
   * that waits while no worker comes free for 250 ms gets one more (long invocations cannot starve the
   * others); those extra workers exit after 5 s idle. An object caps by function (logical id or construct
   * name), `*` for the others.
   */
  maxWorkersPerFunction?: number | Record<string, number>;
  /**
   * Environment variables by function (logical id or construct name, e.g. `sampler`), `Parameters` for
   * every function, as in `sam local --env-vars env.json`; applied after LOCAL_CLOUD_ENV_VARS (a JSON
   * file path, or inline JSON). Variables the template does not declare are added.
   */
  envOverrides?: EnvOverrides;
  /** Timeouts in seconds by function (logical id or construct name); applied after LOCAL_CLOUD_TIMEOUTS. */
  timeoutOverrides?: TimeoutOverrides;
  /**
   * Stage throttling instead of the template's: `false` turns it off (env LOCAL_CLOUD_API_THROTTLING=off),
   * or a rate and burst (env `rate,burst`).
   */
  apiThrottling?: false | { rateLimit: number; burstLimit: number };
  /** Faults to inject (see local/README.md); env LOCAL_CLOUD_FAULTS (a JSON file path, or inline JSON). */
  faults?: FaultConfig;
}

/** The fault injector of a cloud started with faults. */
export interface LocalFaults {
  /** Faults injected so far, by kind. */
  counts(): Partial<Record<FaultKind, number>>;
  /** Every fault injected so far: kind, target (function logical id or `dynamodb`), subject, time. */
  events(): FaultEvent[];
  /** Replaces the configuration at run time (counts and events are kept). */
  configure(config: FaultConfig): void;
  /** Forgets counts and events. */
  clear(): void;
  /** The DynamoDB endpoint the functions use (`functionsDynamodbEndpoint`): the front that injects the faults. */
  dynamodbEndpoint: string;
}

export interface LocalCloud {
  /** Stage base URL, e.g. `http://127.0.0.1:PORT/prod/` (empty when the stack has no REST API). */
  apiUrl: string;
  lambdaEndpoint: string;
  /** The DynamoDB server itself. */
  dynamodbEndpoint: string;
  /** The DynamoDB the functions use: the front that meters and throttles their requests (and injects faults). */
  functionsDynamodbEndpoint: string;
  /** The default principal's (`local-cloud`) credentials; any work for Lambda and DynamoDB. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The credentials of each test principal (LOCAL_PRINCIPALS); IAM-authorized API methods accept any of them. */
  principals: Record<LocalPrincipalName, { accessKeyId: string; secretAccessKey: string }>;
  region: 'us-east-1';
  /** logical id → table name */
  tableNames: Record<string, string>;
  /** logical id → local function name (the logical id) */
  functionNames: Record<string, string>;
  /** Template features not emulated (logged at start too). */
  warnings: string[];
  /** Messages an SQS queue received (on-failure records, dead letters), by the queue's logical id or name. */
  deadLetters(queue: string): unknown[];
  /** Process ids of the live worker processes. */
  workerPids(): number[];
  /** Async events queued or waiting for a retry. */
  pendingEvents(): number;
  /** Invocations admitted and not yet ended, of one function (logical id or construct name) or of all. */
  invocationsInFlight(fn?: string): number;
  /** Invocations of one function (logical id or construct name) or of all, in order of admission: the newest 100,000 of each function. */
  invocations(fn?: string): InvocationRecord[];
  /** Peak concurrency and throttles of the account and of each function, and the quotas in force, since the last reset. */
  quotaCounters(): QuotaCounters;
  /** Starts the counters anew (peaks from what runs now), DynamoDB's units too. */
  resetQuotaCounters(): void;
  /** The DynamoDB units the functions consumed, by table and partition key value (the newest 100,000), since the start or resetQuotaCounters(). */
  dynamodbUnits(): PartitionUnits[];
  /** The requests the API stage answered, oldest first (the newest 100,000); `billed` marks those API Gateway charges for. */
  apiRequests(): ApiRequestRecord[];
  /**
   * The metrics the functions published (EMF lines in their output, as CloudWatch reads them): one
   * entry per namespace, metric name and dimension set, with the sum, count, min and max of its values.
   */
  metrics(): MetricStat[];
  /** Forgets the metrics read so far. */
  clearMetrics(): void;
  /** Present when the cloud was started with faults (option or LOCAL_CLOUD_FAULTS). */
  faults?: LocalFaults;
  /** Runs the TTL sweep now; returns the number of items deleted. */
  sweepExpiredItems(): Promise<number>;
  /** Ends every worker process and server. */
  stop(): Promise<void>;
}

export interface QuotaCounters {
  /** The quotas in force; undefined when off. */
  quotas: Quotas;
  /** Every function's invocations together. */
  account: ConcurrencyCounters;
  /** By logical id; `invocations` counts those admitted. */
  functions: Record<string, ConcurrencyCounters & { invocations: number }>;
  /** The functions' DynamoDB capacity units and throttles, by partition key. */
  dynamodb: DynamoDbQuotaCounters;
}

/** Dummy credentials: the local cloud never sees real ones. */
export const LOCAL_CREDENTIALS = {
  accessKeyId: 'AKIALOCALCLOUD000000',
  secretAccessKey: 'local-cloud-secret-access-key-not-a-secret',
} as const;
const LOCAL_SESSION_TOKEN = 'local-cloud-session-token';

const testUser = (name: string, accessKeyId: string, principalId: string, secretAccessKey = `local-cloud-${name}-secret-not-a-secret`): IamPrincipal =>
  ({ accessKeyId, secretAccessKey, principalId, userArn: `arn:aws:iam::${ACCOUNT_ID}:user/${name}` });
/** The IAM users the local API knows, by user name: `local-cloud` signs with LOCAL_CREDENTIALS. */
export const LOCAL_PRINCIPALS = {
  'local-cloud': testUser('local-cloud', LOCAL_CREDENTIALS.accessKeyId, 'AIDALOCALCLOUDUSER00', LOCAL_CREDENTIALS.secretAccessKey),
  alice: testUser('alice', 'AKIALOCALALICE000000', 'AIDALOCALALICE000000'),
  bob: testUser('bob', 'AKIALOCALBOB00000000', 'AIDALOCALBOB00000000'),
  carol: testUser('carol', 'AKIALOCALCAROL000000', 'AIDALOCALCAROL000000'),
} satisfies Record<string, IamPrincipal>;
export type LocalPrincipalName = keyof typeof LOCAL_PRINCIPALS;
export type { IamPrincipal };

/** A count of processes or invocations. */
const COUNT_RANGE: NumberRange = { min: 1, max: 100_000, integer: true };
/** A period that must not be zero. */
const PERIOD_RANGE: NumberRange = { ...MS_RANGE, min: 1 };

/** The option when given, else the environment variable (checked by the one rule for numeric settings), else the default. */
function numberOption(value: number | undefined, envName: string, range: NumberRange, fallback: number): number;
function numberOption(value: number | undefined, envName: string, range: NumberRange): number | undefined;
function numberOption(value: number | undefined, envName: string, range: NumberRange, fallback?: number): number | undefined {
  if (value !== undefined) return value;
  return numberSetting(envName, range) ?? fallback;
}

function workerCaps(option: LocalCloudOptions['maxWorkersPerFunction'], functions: FunctionDef[]): (def: FunctionDef) => number {
  if (typeof option !== 'object') {
    const all = numberOption(option, 'LOCAL_CLOUD_MAX_WORKERS', COUNT_RANGE, DEFAULT_MAX_WORKERS);
    return () => all;
  }
  const caps = new Map<string, number>();
  for (const [key, n] of Object.entries(option)) {
    if (key === '*') continue;
    caps.set(functionNamed('maxWorkersPerFunction', key, functions).logicalId, n);
  }
  return (def) => caps.get(def.logicalId) ?? option['*'] ?? DEFAULT_MAX_WORKERS;
}

function apiThrottling(option: LocalCloudOptions['apiThrottling']): LocalCloudOptions['apiThrottling'] | undefined {
  if (option !== undefined) return option;
  const env = process.env.LOCAL_CLOUD_API_THROTTLING?.trim();
  if (env === undefined || env === '') return undefined;
  if (env === 'off') return false;
  const parts = env.split(',');
  if (parts.length !== 2) throw new Error(`LOCAL_CLOUD_API_THROTTLING must be "off" or "rate,burst", got "${env}"`);
  // API Gateway's limits: a rate above 0 requests per second, a burst of at least 1 request.
  const rateLimit = parseNumberSetting('LOCAL_CLOUD_API_THROTTLING rate', parts[0]!, { min: Number.MIN_VALUE, max: 1e9 });
  const burstLimit = parseNumberSetting('LOCAL_CLOUD_API_THROTTLING burst', parts[1]!, { min: 1, max: 1e9, integer: true });
  return { rateLimit, burstLimit };
}

/** The environment a worker process sees: the template's variables plus what Lambda sets. */
function workerEnv(def: FunctionDef, endpoints: { lambda: string; dynamodb: string }): Record<string, string> {
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  return {
    ...def.environment,
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: 'UTC',
    LAMBDA_TASK_ROOT: def.codeDir,
    _HANDLER: def.handler,
    AWS_EXECUTION_ENV: `AWS_Lambda_${def.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: def.name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(def.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${def.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: LOCAL_SESSION_TOKEN,
    AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
    // As under `sam local`: Powertools' Tracer turns itself off (there is no X-Ray daemon here).
    AWS_SAM_LOCAL: 'true',
    // The only local difference a handler sees: where the services are.
    AWS_ENDPOINT_URL_LAMBDA: endpoints.lambda,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
  };
}

export async function startLocalCloud(opts: LocalCloudOptions): Promise<LocalCloud> {
  const log = opts.log ?? (() => undefined);
  const template = loadTemplate(opts.templatePath);
  const resolver = new Resolver(template, opts.templatePath);
  const stack = readStack(resolver, opts.templatePath);
  applyOverrides(stack.functions, opts.envOverrides, opts.timeoutOverrides);
  const faultConfig = loadFaultConfig(opts.faults);
  const injector = faultConfig && new FaultInjector(faultConfig, stack.functions, log);
  const apis = readRestApis(resolver);
  const throttling = apiThrottling(opts.apiThrottling);
  for (const api of apis) {
    if (throttling === false) delete api.throttle;
    else if (throttling) api.throttle = throttling;
  }
  const warnings = [...stack.warnings, ...apis.flatMap((a) => a.warnings)];
  if (apis.length > 1) warnings.push(`several REST APIs; serving ${apis[0]!.logicalId} only`);
  const node = chooseNode(stack.functions.filter((f) => !f.problem).map((f) => f.runtime));
  if (node.warning) warnings.push(node.warning);
  // Quotas: refused at once when reservations leave the other functions too little, as AWS refuses them.
  const quotas = resolveQuotas(opts.quotas);
  const account = new Account(quotas, stack.functions);
  const defaultConcurrency = numberOption(opts.defaultConcurrency, 'LOCAL_CLOUD_DEFAULT_CONCURRENCY', COUNT_RANGE);
  if (quotas && defaultConcurrency !== undefined) {
    warnings.push(`defaultConcurrency (LOCAL_CLOUD_DEFAULT_CONCURRENCY) applies only with quotas off (${QUOTAS_ENV}=off); functions without reserved concurrency share the account's unreserved concurrency (${account.unreserved!.max})`);
  }
  for (const w of warnings) log(warning(w));

  const cleanup: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) await step().catch((err: unknown) => log(warning(`stop: ${String(err)}`)));
  };

  try {
    const dynamo = await startTemplateDynamoDb(stack.tables, {
      stateDir: opts.stateDir,
      port: opts.dynamodbPort,
      ttlSweepIntervalMs: opts.ttlSweepIntervalMs,
      log,
    });
    cleanup.push(() => dynamo.stop());

    let lambda: LambdaService | undefined;
    const lambdaServer = await listen((req, res) => lambda!.handle(req, res), opts.lambdaPort ?? 0);
    cleanup.push(() => close(lambdaServer));
    // The functions reach DynamoDB through the front: metered by partition, throttled when hot, with faults if configured.
    const dynamoFront = await startDynamoDbFront(dynamo.endpoint, { tables: stack.tables, quotas, ...(injector && { faults: injector }), log });
    cleanup.push(() => dynamoFront.stop());
    const endpoints = { lambda: endpointOf(lambdaServer), dynamodb: dynamoFront.endpoint };
    lambda = new LambdaService(stack.functions, stack.queues, (def) => workerEnv(def, endpoints), {
      log,
      retryDelayMs: numberOption(opts.retryDelayMs, 'LOCAL_CLOUD_RETRY_DELAY_MS', MS_RANGE, 1_000),
      defaultConcurrency: defaultConcurrency ?? 10,
      account,
      maxWorkersPerFunction: workerCaps(opts.maxWorkersPerFunction, stack.functions),
      nodeFor: (def) => node.pathFor(def.runtime),
      ...(injector && { faults: injector }),
    });
    const service = lambda;
    // Workers go first so no invocation outlives the servers it talks to.
    cleanup.push(() => service.stop());

    let apiUrl = '';
    let gateway: ApiGateway | undefined;
    const api = apis[0];
    if (api) {
      const integrationTimeout = numberOption(opts.integrationTimeoutMs, 'LOCAL_CLOUD_INTEGRATION_TIMEOUT_MS', PERIOD_RANGE);
      gateway = new ApiGateway({
        api,
        lambda: service,
        principals: Object.values(LOCAL_PRINCIPALS),
        region: REGION,
        accountId: ACCOUNT_ID,
        ...(integrationTimeout !== undefined ? { integrationTimeoutMs: integrationTimeout } : {}),
        log,
      });
      const apiServer = await listen(gateway.handle, opts.port ?? 0);
      cleanup.splice(cleanup.length - 1, 0, () => close(apiServer));
      apiUrl = `${endpointOf(apiServer)}/${api.stageName}/`;
    }

    const runtimesOf = (fn: string | undefined) => {
      if (fn === undefined) return [...service.runtimes.values()];
      const def = findFunction(stack.functions, fn);
      if (!def) throw new Error(noSuchFunction(fn, stack.functions));
      return [service.runtimes.get(def.name)!];
    };
    const cloud: LocalCloud = {
      apiUrl,
      lambdaEndpoint: endpoints.lambda,
      dynamodbEndpoint: dynamo.endpoint,
      functionsDynamodbEndpoint: endpoints.dynamodb,
      credentials: { ...LOCAL_CREDENTIALS },
      principals: Object.fromEntries(
        Object.entries(LOCAL_PRINCIPALS).map(([name, p]) => [name, { accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey }]),
      ) as LocalCloud['principals'],
      region: REGION,
      tableNames: Object.fromEntries(stack.tables.map((t) => [t.logicalId, t.name])),
      functionNames: Object.fromEntries(stack.functions.map((f) => [f.logicalId, f.name])),
      warnings,
      deadLetters: (queue) => service.deadLetters(queue),
      workerPids: () => [...service.runtimes.values()].flatMap((rt) => rt.pids()),
      pendingEvents: () => service.pendingEvents(),
      invocationsInFlight: (fn) => runtimesOf(fn).reduce((n, rt) => n + rt.inFlight(), 0),
      invocations: (fn) =>
        runtimesOf(fn)
          .flatMap((rt) => rt.records.toArray().map((r) => ({ ...r })))
          .sort((a, b) => a.startedAt - b.startedAt),
      quotaCounters: () => ({ quotas, ...service.quotaCounters(), dynamodb: dynamoFront.counters() }),
      resetQuotaCounters: () => {
        service.resetQuotaCounters();
        dynamoFront.reset();
      },
      dynamodbUnits: () => dynamoFront.units(),
      apiRequests: () => gateway?.requests.toArray() ?? [],
      metrics: () => service.metrics.snapshot(),
      clearMetrics: () => service.metrics.clear(),
      ...(injector && {
        faults: {
          counts: () => injector.counts(),
          events: () => injector.events(),
          configure: (config: FaultConfig) => injector.configure(config),
          clear: () => injector.clear(),
          dynamodbEndpoint: endpoints.dynamodb,
        },
      }),
      sweepExpiredItems: () => dynamo.sweepExpired(),
      stop: stopAll,
    };
    log(`[local] API ${apiUrl || '(none)'} · Lambda ${endpoints.lambda} · DynamoDB ${dynamo.endpoint} (functions: ${endpoints.dynamodb}${injector ? ', with faults' : ''})`);
    return cloud;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export interface LocalDynamoDbOptions {
  /** e.g. `cdk.out/PiStack.template.json`: its tables are created. */
  templatePath: string;
  /** Keeps the data across restarts; in memory when absent. */
  stateDir?: string;
  /** 0 (default) picks a free one. */
  port?: number;
  /** 127.0.0.1 unless given (0.0.0.0 lets Docker containers reach it). */
  host?: string;
  log?: (line: string) => void;
}

/** DynamoDB alone, as the local cloud serves it. */
export interface LocalDynamoDbOnly {
  endpoint: string;
  region: 'us-east-1';
  /** Any credentials work; these are the local cloud's. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** logical id → table name */
  tableNames: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Only the DynamoDB of the local cloud, with the template's tables (and the TTL sweep), on
 * 127.0.0.1 or the host given: for functions run by something else, such as `sam local start-lambda`.
 */
export async function startLocalDynamoDb(opts: LocalDynamoDbOptions): Promise<LocalDynamoDbOnly> {
  const log = opts.log ?? (() => undefined);
  const stack = readStack(new Resolver(loadTemplate(opts.templatePath), opts.templatePath), opts.templatePath);
  const dynamo = await startTemplateDynamoDb(stack.tables, { stateDir: opts.stateDir, port: opts.port, host: opts.host, log });
  return {
    endpoint: dynamo.endpoint,
    region: REGION,
    credentials: { ...LOCAL_CREDENTIALS },
    tableNames: Object.fromEntries(stack.tables.map((t) => [t.logicalId, t.name])),
    stop: () => dynamo.stop(),
  };
}

/** The DynamoDB of the local cloud: dynalite with the template's tables and the TTL sweep. */
function startTemplateDynamoDb(
  tables: TableDef[],
  opts: { stateDir?: string; port?: number; host?: string; ttlSweepIntervalMs?: number; log: (line: string) => void },
): Promise<LocalDynamoDb> {
  return startDynamoDb({
    tables,
    ...(opts.stateDir ? { path: join(opts.stateDir, 'dynamodb') } : {}),
    port: opts.port ?? 0,
    ...(opts.host !== undefined && { host: opts.host }),
    region: REGION,
    credentials: { ...LOCAL_CREDENTIALS },
    ttlSweepIntervalMs: numberOption(opts.ttlSweepIntervalMs, 'LOCAL_CLOUD_TTL_SWEEP_MS', PERIOD_RANGE, 10_000),
    log: opts.log,
  });
}
