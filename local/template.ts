// Reads a synthesized CloudFormation template and resolves intrinsic functions
// to local names, the way `sam local` does: the local name of a function is its
// logical id, ARNs use a fixed account and region.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { createHash } from 'node:crypto';

export const ACCOUNT_ID = '123456789012';
export const REGION = 'us-east-1';
export const PARTITION = 'aws';
export const URL_SUFFIX = 'amazonaws.com';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Parameters?: Record<string, { Type?: string; Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
}

export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** `AWS::NoValue`: the property is removed. */
const NO_VALUE = Symbol('AWS::NoValue');

export function loadTemplate(templatePath: string): CfnTemplate {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(templatePath, 'utf8'));
  } catch (err) {
    throw new TemplateError(`cannot read template ${templatePath}: ${(err as Error).message}`);
  }
  if (!isObject(parsed) || !isObject(parsed.Resources)) {
    throw new TemplateError(`${templatePath} is not a CloudFormation template (no Resources)`);
  }
  return parsed as unknown as CfnTemplate;
}

export function stackNameOf(templatePath: string): string {
  return basename(templatePath).replace(/\.template\.json$/, '').replace(/\.json$/, '');
}

export function lambdaArn(functionName: string): string {
  return `arn:${PARTITION}:lambda:${REGION}:${ACCOUNT_ID}:function:${functionName}`;
}

export function sqsArn(queueName: string): string {
  return `arn:${PARTITION}:sqs:${REGION}:${ACCOUNT_ID}:${queueName}`;
}

/** A REST API id looks like `a1b2c3d4e5`: stable per logical id. */
export function restApiId(logicalId: string): string {
  return createHash('sha256').update(logicalId).digest('hex').slice(0, 10);
}

/** Resource id of a REST API's root resource (never a logical id: those have no '-'). */
export function rootResourceId(apiLogicalId: string): string {
  return `root-${restApiId(apiLogicalId)}`;
}

export class Resolver {
  readonly stackName: string;

  constructor(
    readonly template: CfnTemplate,
    templatePath: string,
  ) {
    this.stackName = stackNameOf(templatePath);
  }

  resource(logicalId: string): CfnResource {
    const res = this.template.Resources[logicalId];
    if (!res) throw new TemplateError(`unknown resource ${logicalId}`);
    return res;
  }

  resourcesOfType(type: string): [string, CfnResource][] {
    return Object.entries(this.template.Resources).filter(
      ([, r]) => r.Type === type && (r.Condition === undefined || this.condition(r.Condition)),
    );
  }

  /** The physical name a deployed resource would get, locally. */
  physicalName(logicalId: string): string {
    const res = this.resource(logicalId);
    const p = res.Properties ?? {};
    switch (res.Type) {
      case 'AWS::DynamoDB::Table':
        return p.TableName !== undefined ? this.resolveString(p.TableName, `${logicalId}.TableName`) : logicalId;
      case 'AWS::SQS::Queue':
        return p.QueueName !== undefined ? this.resolveString(p.QueueName, `${logicalId}.QueueName`) : logicalId;
      case 'AWS::SNS::Topic':
        return p.TopicName !== undefined ? this.resolveString(p.TopicName, `${logicalId}.TopicName`) : logicalId;
      default:
        // Functions keep their logical id as the local name, like SAM.
        return logicalId;
    }
  }

  ref(name: string): unknown {
    switch (name) {
      case 'AWS::Region':
        return REGION;
      case 'AWS::AccountId':
        return ACCOUNT_ID;
      case 'AWS::Partition':
        return PARTITION;
      case 'AWS::URLSuffix':
        return URL_SUFFIX;
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::StackId':
        return `arn:${PARTITION}:cloudformation:${REGION}:${ACCOUNT_ID}:stack/${this.stackName}/00000000-0000-0000-0000-000000000000`;
      case 'AWS::NotificationARNs':
        return [];
      case 'AWS::NoValue':
        return NO_VALUE;
    }
    const param = this.template.Parameters?.[name];
    if (param) {
      if (param.Default === undefined) throw new TemplateError(`parameter ${name} has no default value`);
      return param.Default;
    }
    const res = this.template.Resources[name];
    if (!res) throw new TemplateError(`Ref to unknown resource or parameter ${name}`);
    switch (res.Type) {
      case 'AWS::SQS::Queue':
        return `https://sqs.${REGION}.${URL_SUFFIX}/${ACCOUNT_ID}/${this.physicalName(name)}`;
      case 'AWS::SNS::Topic':
        return `arn:${PARTITION}:sns:${REGION}:${ACCOUNT_ID}:${this.physicalName(name)}`;
      case 'AWS::ApiGateway::RestApi':
        return restApiId(name);
      case 'AWS::ApiGateway::Stage':
        return this.resolveString(res.Properties?.StageName, `${name}.StageName`);
      case 'AWS::ApiGateway::Model':
        return res.Properties?.Name !== undefined ? this.resolveString(res.Properties.Name, `${name}.Name`) : name;
      default:
        return this.physicalName(name);
    }
  }

  getAtt(logicalId: string, attribute: string): unknown {
    const res = this.resource(logicalId);
    const name = this.physicalName(logicalId);
    switch (`${res.Type}.${attribute}`) {
      case 'AWS::Lambda::Function.Arn':
        return lambdaArn(name);
      case 'AWS::DynamoDB::Table.Arn':
        return `arn:${PARTITION}:dynamodb:${REGION}:${ACCOUNT_ID}:table/${name}`;
      case 'AWS::DynamoDB::Table.StreamArn':
        return `arn:${PARTITION}:dynamodb:${REGION}:${ACCOUNT_ID}:table/${name}/stream/1970-01-01T00:00:00.000`;
      case 'AWS::SQS::Queue.Arn':
        return sqsArn(name);
      case 'AWS::SQS::Queue.QueueName':
        return name;
      case 'AWS::SQS::Queue.QueueUrl':
        return this.ref(logicalId);
      case 'AWS::SNS::Topic.TopicArn':
        return this.ref(logicalId);
      case 'AWS::IAM::Role.Arn':
        return `arn:${PARTITION}:iam::${ACCOUNT_ID}:role/${name}`;
      case 'AWS::ApiGateway::RestApi.RootResourceId':
        return rootResourceId(logicalId);
    }
    if (attribute === 'Arn') {
      const service = res.Type.split('::')[1]?.toLowerCase() ?? 'unknown';
      return `arn:${PARTITION}:${service}:${REGION}:${ACCOUNT_ID}:${name}`;
    }
    throw new TemplateError(`Fn::GetAtt ${logicalId}.${attribute} (${res.Type}) is not supported locally`);
  }

  condition(name: string): boolean {
    const cond = this.template.Conditions?.[name];
    if (cond === undefined) throw new TemplateError(`unknown condition ${name}`);
    return Boolean(this.resolve(cond, `Conditions.${name}`));
  }

  /** Resolves every intrinsic in `value`; `where` names the property in error messages. */
  resolve(value: unknown, where: string): unknown {
    const out = this.resolveInner(value, where);
    return out === NO_VALUE ? undefined : out;
  }

  resolveString(value: unknown, where: string): string {
    const out = this.resolve(value, where);
    if (typeof out === 'string') return out;
    if (typeof out === 'number' || typeof out === 'boolean') return String(out);
    throw new TemplateError(`${where} does not resolve to a string`);
  }

  private resolveInner(value: unknown, where: string): unknown {
    if (Array.isArray(value)) {
      return value.map((v, i) => this.resolveInner(v, `${where}[${i}]`)).filter((v) => v !== NO_VALUE);
    }
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const key = keys[0]!;
      const arg = value[key];
      if (key === 'Ref' || key.startsWith('Fn::') || key === 'Condition') {
        return this.intrinsic(key, arg, where);
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = this.resolveInner(v, `${where}.${k}`);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }

  private intrinsic(fn: string, arg: unknown, where: string): unknown {
    const r = (v: unknown): unknown => this.resolveInner(v, where);
    const str = (v: unknown): string => {
      const s = r(v);
      if (typeof s === 'string') return s;
      if (typeof s === 'number' || typeof s === 'boolean') return String(s);
      throw new TemplateError(`${where}: ${fn} expects a string`);
    };
    switch (fn) {
      case 'Ref':
        return this.ref(str(arg));
      case 'Condition':
        return this.condition(str(arg));
      case 'Fn::GetAtt': {
        const [id, attr] = Array.isArray(arg) ? arg : String(arg).split(/\.(.*)/);
        return this.getAtt(str(id), str(attr));
      }
      case 'Fn::Join': {
        const [delim, list] = expectArray(arg, 2, fn, where);
        const items = r(list);
        if (!Array.isArray(items)) throw new TemplateError(`${where}: Fn::Join expects a list`);
        return items.map((i) => (typeof i === 'string' ? i : String(i))).join(str(delim));
      }
      case 'Fn::Sub': {
        const [text, vars] = Array.isArray(arg) ? arg : [arg, {}];
        const bound = isObject(vars) ? vars : {};
        return str(text).replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
          if (name.startsWith('!')) return `\${${name.slice(1)}}`;
          if (name in bound) return str(bound[name]);
          const dot = name.indexOf('.');
          const value = dot > 0 && !name.startsWith('AWS::')
            ? this.getAtt(name.slice(0, dot), name.slice(dot + 1))
            : this.ref(name);
          if (typeof value !== 'string') throw new TemplateError(`${where}: cannot substitute ${whole}`);
          return value;
        });
      }
      case 'Fn::Select': {
        const [index, list] = expectArray(arg, 2, fn, where);
        const items = r(list);
        const i = Number(r(index));
        if (!Array.isArray(items) || !(i >= 0 && i < items.length)) {
          throw new TemplateError(`${where}: Fn::Select index out of range`);
        }
        return items[i];
      }
      case 'Fn::Split': {
        const [delim, source] = expectArray(arg, 2, fn, where);
        return str(source).split(str(delim));
      }
      case 'Fn::Base64':
        return Buffer.from(str(arg)).toString('base64');
      case 'Fn::GetAZs':
        return ['a', 'b', 'c'].map((z) => `${REGION}${z}`);
      case 'Fn::FindInMap': {
        const [map, top, second] = expectArray(arg, 3, fn, where).map((v) => str(v));
        const found = this.template.Mappings?.[map!]?.[top!]?.[second!];
        if (found === undefined) throw new TemplateError(`${where}: Fn::FindInMap ${map}/${top}/${second} not found`);
        return r(found);
      }
      case 'Fn::If': {
        const [cond, yes, no] = expectArray(arg, 3, fn, where);
        return this.condition(str(cond)) ? r(yes) : r(no);
      }
      case 'Fn::Equals': {
        const [a, b] = expectArray(arg, 2, fn, where);
        return JSON.stringify(r(a)) === JSON.stringify(r(b));
      }
      case 'Fn::Not':
        return !r(expectArray(arg, 1, fn, where)[0]);
      case 'Fn::And':
        return (arg as unknown[]).every((c) => Boolean(r(c)));
      case 'Fn::Or':
        return (arg as unknown[]).some((c) => Boolean(r(c)));
      default:
        throw new TemplateError(`${where}: ${fn} is not supported locally`);
    }
  }
}

function expectArray(arg: unknown, length: number, fn: string, where: string): unknown[] {
  if (!Array.isArray(arg) || arg.length < length) {
    throw new TemplateError(`${where}: ${fn} expects a list of ${length}`);
  }
  return arg;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
