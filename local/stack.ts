// The parts of a synthesized stack the local cloud runs: functions (with their
// async invoke settings), tables and queues, with every reference resolved.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { Resolver, TemplateError, isObject, lambdaArn, sqsArn, type CfnResource } from './template.js';

export interface AsyncConfig {
  maxRetries: number;
  maxEventAgeSeconds: number;
  onFailure?: string;
  onSuccess?: string;
}

export interface FunctionDef {
  logicalId: string;
  /** Local function name: the logical id, as in SAM. */
  name: string;
  /** The construct path below the stack (`PiStack/sampler/Resource` → `sampler`), else the logical id. */
  friendlyName: string;
  arn: string;
  runtime: string;
  /** Folder holding the bundled code (what `cdk deploy` uploads). */
  codeDir: string;
  handler: string;
  timeoutSeconds: number;
  memoryMb: number;
  reservedConcurrency?: number;
  environment: Record<string, string>;
  async: AsyncConfig;
  deadLetterArn?: string;
  /** Why this function cannot run locally (it is still listed, its invocations fail). */
  problem?: string;
}

export interface TableDef {
  logicalId: string;
  name: string;
  createTableInput: Record<string, unknown>;
  ttlAttribute?: string;
}

export interface QueueDef {
  logicalId: string;
  name: string;
  arn: string;
}

export interface StackModel {
  templateDir: string;
  resolver: Resolver;
  functions: FunctionDef[];
  tables: TableDef[];
  queues: QueueDef[];
  warnings: string[];
}

// AWS defaults for a function and its asynchronous invocations.
const DEFAULT_TIMEOUT_SECONDS = 3;
const DEFAULT_MEMORY_MB = 128;
const DEFAULT_MAX_RETRIES = 2;
const DEFAULT_MAX_EVENT_AGE_SECONDS = 6 * 60 * 60;

export function readStack(resolver: Resolver, templatePath: string): StackModel {
  const templateDir = dirname(resolvePath(templatePath));
  const warnings: string[] = [];
  const functions = resolver
    .resourcesOfType('AWS::Lambda::Function')
    .map(([id, res]) => readFunction(resolver, templateDir, id, res));
  for (const [id, res] of resolver.resourcesOfType('AWS::Lambda::EventInvokeConfig')) {
    applyEventInvokeConfig(resolver, functions, id, res, warnings);
  }
  for (const fn of functions) if (fn.problem) warnings.push(`function ${fn.name}: ${fn.problem}`);
  const tables = [
    ...resolver.resourcesOfType('AWS::DynamoDB::Table'),
    ...resolver.resourcesOfType('AWS::DynamoDB::GlobalTable'),
  ].map(([id, res]) => readTable(resolver, id, res));
  const queues = resolver.resourcesOfType('AWS::SQS::Queue').map(([id]) => {
    const name = resolver.physicalName(id);
    return { logicalId: id, name, arn: sqsArn(name) };
  });
  return { templateDir, resolver, functions, tables, queues, warnings };
}

function readFunction(resolver: Resolver, templateDir: string, id: string, res: CfnResource): FunctionDef {
  const p = res.Properties ?? {};
  const fn: FunctionDef = {
    logicalId: id,
    name: id,
    friendlyName: friendlyName(id, res),
    arn: lambdaArn(id),
    runtime: typeof p.Runtime === 'string' ? p.Runtime : 'unknown',
    codeDir: '',
    handler: typeof p.Handler === 'string' ? p.Handler : 'index.handler',
    timeoutSeconds: typeof p.Timeout === 'number' ? p.Timeout : DEFAULT_TIMEOUT_SECONDS,
    memoryMb: typeof p.MemorySize === 'number' ? p.MemorySize : DEFAULT_MEMORY_MB,
    environment: {},
    async: { maxRetries: DEFAULT_MAX_RETRIES, maxEventAgeSeconds: DEFAULT_MAX_EVENT_AGE_SECONDS },
  };
  try {
    if (p.ReservedConcurrentExecutions !== undefined) {
      fn.reservedConcurrency = Number(resolver.resolve(p.ReservedConcurrentExecutions, `${id}.ReservedConcurrentExecutions`));
    }
    const vars = resolver.resolve(
      isObject(p.Environment) ? p.Environment.Variables : undefined,
      `${id}.Environment.Variables`,
    );
    if (isObject(vars)) {
      for (const [k, v] of Object.entries(vars)) fn.environment[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    if (isObject(p.DeadLetterConfig) && p.DeadLetterConfig.TargetArn !== undefined) {
      fn.deadLetterArn = resolver.resolveString(p.DeadLetterConfig.TargetArn, `${id}.DeadLetterConfig.TargetArn`);
    }
    fn.codeDir = findCodeDir(templateDir, id, res);
    if (!fn.runtime.startsWith('nodejs')) fn.problem = `runtime ${fn.runtime} is not supported locally (Node.js only)`;
  } catch (err) {
    fn.problem = (err as Error).message;
  }
  return fn;
}

/** The construct id in the CDK app (`PiStack/sampler/Resource` → `sampler`), the name SAM CLI accepts too. */
export function friendlyName(id: string, res: Pick<CfnResource, 'Metadata'>): string {
  const path = res.Metadata?.['aws:cdk:path'];
  const segments = typeof path === 'string' ? path.split('/').slice(1) : [];
  if (segments.at(-1) === 'Resource') segments.pop();
  return segments.length > 0 ? segments.join('/') : id;
}

/** The asset folder: `aws:asset:path` metadata (set by the CDK CLI), else the S3 key's hash. */
function findCodeDir(templateDir: string, id: string, res: CfnResource): string {
  const assetPath = res.Metadata?.['aws:asset:path'];
  const candidates: string[] = [];
  if (typeof assetPath === 'string') candidates.push(resolvePath(templateDir, assetPath));
  const code = res.Properties?.Code;
  if (isObject(code) && typeof code.S3Key === 'string') {
    candidates.push(join(templateDir, `asset.${code.S3Key.replace(/\.zip$/, '')}`));
  }
  for (const dir of candidates) {
    if (existsSync(dir) && statSync(dir).isDirectory()) return dir;
  }
  if (isObject(code) && code.ZipFile !== undefined) throw new TemplateError(`${id}: inline code (ZipFile) is not supported locally`);
  throw new TemplateError(
    candidates.length
      ? `${id}: code folder ${candidates[0]} not found (run the synth again)`
      : `${id}: no code asset (expected Metadata aws:asset:path)`,
  );
}

function applyEventInvokeConfig(
  resolver: Resolver,
  functions: FunctionDef[],
  id: string,
  res: CfnResource,
  warnings: string[],
): void {
  const p = res.Properties ?? {};
  try {
    const target = resolver.resolveString(p.FunctionName, `${id}.FunctionName`);
    const fn = functions.find((f) => f.name === target || f.arn === target);
    if (!fn) {
      warnings.push(`${id}: EventInvokeConfig for unknown function ${target}`);
      return;
    }
    const qualifier = p.Qualifier === undefined ? '$LATEST' : resolver.resolveString(p.Qualifier, `${id}.Qualifier`);
    if (qualifier !== '$LATEST') {
      warnings.push(`${id}: qualifier ${qualifier} ignored, only $LATEST runs locally`);
    }
    if (typeof p.MaximumRetryAttempts === 'number') fn.async.maxRetries = p.MaximumRetryAttempts;
    if (typeof p.MaximumEventAgeInSeconds === 'number') fn.async.maxEventAgeSeconds = p.MaximumEventAgeInSeconds;
    const dest = resolver.resolve(p.DestinationConfig, `${id}.DestinationConfig`);
    if (isObject(dest)) {
      if (isObject(dest.OnFailure) && typeof dest.OnFailure.Destination === 'string') {
        fn.async.onFailure = dest.OnFailure.Destination;
      }
      if (isObject(dest.OnSuccess) && typeof dest.OnSuccess.Destination === 'string') {
        fn.async.onSuccess = dest.OnSuccess.Destination;
      }
    }
  } catch (err) {
    warnings.push(`${id}: ${(err as Error).message}`);
  }
}

function readTable(resolver: Resolver, id: string, res: CfnResource): TableDef {
  const p = (resolver.resolve(res.Properties ?? {}, id) ?? {}) as Record<string, unknown>;
  const name = resolver.physicalName(id);
  const input: Record<string, unknown> = {
    TableName: name,
    KeySchema: p.KeySchema,
    AttributeDefinitions: p.AttributeDefinitions,
  };
  const payPerRequest = p.BillingMode === 'PAY_PER_REQUEST' || (res.Type === 'AWS::DynamoDB::GlobalTable' && p.BillingMode !== 'PROVISIONED');
  const throughput = { ReadCapacityUnits: 5, WriteCapacityUnits: 5 };
  if (payPerRequest) input.BillingMode = 'PAY_PER_REQUEST';
  else input.ProvisionedThroughput = isObject(p.ProvisionedThroughput) ? p.ProvisionedThroughput : throughput;
  const indexes = (list: unknown, global: boolean): unknown[] | undefined =>
    Array.isArray(list) && list.length
      ? list.map((ix) => {
          const { IndexName, KeySchema, Projection } = ix as Record<string, unknown>;
          return global && !payPerRequest
            ? { IndexName, KeySchema, Projection, ProvisionedThroughput: (ix as Record<string, unknown>).ProvisionedThroughput ?? throughput }
            : { IndexName, KeySchema, Projection };
        })
      : undefined;
  const gsis = indexes(p.GlobalSecondaryIndexes, true);
  const lsis = indexes(p.LocalSecondaryIndexes, false);
  if (gsis) input.GlobalSecondaryIndexes = gsis;
  if (lsis) input.LocalSecondaryIndexes = lsis;
  const ttl = isObject(p.TimeToLiveSpecification) ? p.TimeToLiveSpecification : undefined;
  const ttlAttribute = ttl && ttl.Enabled !== false && typeof ttl.AttributeName === 'string' ? ttl.AttributeName : undefined;
  return ttlAttribute
    ? { logicalId: id, name, createTableInput: input, ttlAttribute }
    : { logicalId: id, name, createTableInput: input };
}
