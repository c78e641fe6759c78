// Reads a REST API (v1) from the template: the resource tree with its methods,
// models, validators, gateway responses and the stage.
import { Resolver, TemplateError, isObject, restApiId, rootResourceId, type CfnResource } from '../template.js';

export interface MethodDef {
  httpMethod: string;
  authorizationType: string;
  integration:
    | { type: 'AWS_PROXY'; functionName: string; timeoutMs?: number }
    | { type: 'MOCK'; statusCode: number; headers: Record<string, string> }
    | { type: 'UNSUPPORTED'; description: string };
  validateBody: boolean;
  validateParameters: boolean;
  /** content type → model name */
  requestModels: Record<string, string>;
  /** e.g. `method.request.querystring.limit` → required */
  requestParameters: Record<string, boolean>;
}

export interface ResourceNode {
  id: string;
  pathPart: string;
  /** Full resource path, like `/jobs/{id}`. */
  path: string;
  children: ResourceNode[];
  methods: Map<string, MethodDef>;
}

export interface GatewayResponseDef {
  statusCode?: number;
  /** `gatewayresponse.header.X` → value expression */
  parameters: Record<string, string>;
  templates: Record<string, string>;
}

export interface ApiModel {
  logicalId: string;
  id: string;
  name: string;
  stageName: string;
  stageVariables: Record<string, string> | null;
  deploymentId: string;
  throttle?: { rateLimit: number; burstLimit: number };
  binaryMediaTypes: string[];
  root: ResourceNode;
  /** model name → JSON schema */
  models: Map<string, Record<string, unknown>>;
  gatewayResponses: Map<string, GatewayResponseDef>;
  warnings: string[];
}

// Models every REST API has.
const BUILT_IN_MODELS: Record<string, Record<string, unknown>> = {
  Empty: { $schema: 'http://json-schema.org/draft-04/schema#', title: 'Empty Schema', type: 'object' },
  Error: {
    $schema: 'http://json-schema.org/draft-04/schema#',
    title: 'Error Schema',
    type: 'object',
    properties: { message: { type: 'string' } },
  },
};

export function readRestApis(resolver: Resolver): ApiModel[] {
  return resolver.resourcesOfType('AWS::ApiGateway::RestApi').map(([id, res]) => readRestApi(resolver, id, res));
}

function belongsTo(resolver: Resolver, res: CfnResource, apiLogicalId: string, where: string): boolean {
  try {
    return resolver.resolve(res.Properties?.RestApiId, `${where}.RestApiId`) === restApiId(apiLogicalId);
  } catch {
    return false;
  }
}

function readRestApi(resolver: Resolver, apiLogicalId: string, apiRes: CfnResource): ApiModel {
  const warnings: string[] = [];
  const props = apiRes.Properties ?? {};
  if (props.Body !== undefined || props.BodyS3Location !== undefined) {
    warnings.push(`${apiLogicalId}: OpenAPI bodies are not read locally; only AWS::ApiGateway::Resource/Method routes are served`);
  }
  const of = (type: string): [string, CfnResource][] =>
    resolver.resourcesOfType(type).filter(([id, r]) => belongsTo(resolver, r, apiLogicalId, id));

  const root: ResourceNode = { id: rootResourceId(apiLogicalId), pathPart: '', path: '/', children: [], methods: new Map() };
  const nodes = new Map<string, ResourceNode>([[root.id, root]]);
  const pending = of('AWS::ApiGateway::Resource').map(([id, r]) => ({
    id,
    parent: resolver.resolveString(r.Properties?.ParentId, `${id}.ParentId`),
    pathPart: resolver.resolveString(r.Properties?.PathPart, `${id}.PathPart`),
  }));
  // Attach children once their parent is known (template order is arbitrary).
  while (pending.length > 0) {
    const before = pending.length;
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i]!;
      const parent = nodes.get(p.parent);
      if (!parent) continue;
      const node: ResourceNode = {
        id: p.id,
        pathPart: p.pathPart,
        path: `${parent.path === '/' ? '' : parent.path}/${p.pathPart}`,
        children: [],
        methods: new Map(),
      };
      parent.children.push(node);
      nodes.set(p.id, node);
      pending.splice(i, 1);
    }
    if (pending.length === before) {
      warnings.push(`resources with unknown parents ignored: ${pending.map((p) => p.id).join(', ')}`);
      break;
    }
  }

  const validators = new Map<string, { body: boolean; params: boolean }>();
  for (const [id, r] of of('AWS::ApiGateway::RequestValidator')) {
    validators.set(id, { body: r.Properties?.ValidateRequestBody === true, params: r.Properties?.ValidateRequestParameters === true });
  }

  const models = new Map<string, Record<string, unknown>>(Object.entries(BUILT_IN_MODELS));
  for (const [id, r] of of('AWS::ApiGateway::Model')) {
    const name = resolver.ref(id) as string;
    let schema = resolver.resolve(r.Properties?.Schema, `${id}.Schema`);
    if (typeof schema === 'string') schema = JSON.parse(schema);
    if (isObject(schema)) models.set(name, schema);
  }

  for (const [id, r] of of('AWS::ApiGateway::Method')) {
    try {
      const p = r.Properties ?? {};
      const resourceId = resolver.resolveString(p.ResourceId, `${id}.ResourceId`);
      const node = nodes.get(resourceId);
      if (!node) {
        warnings.push(`${id}: method on unknown resource ${resourceId}`);
        continue;
      }
      const validatorId = p.RequestValidatorId === undefined ? undefined : resolver.resolveString(p.RequestValidatorId, `${id}.RequestValidatorId`);
      const validator = validatorId ? validators.get(validatorId) : undefined;
      const requestModels = (resolver.resolve(p.RequestModels, `${id}.RequestModels`) ?? {}) as Record<string, string>;
      const requestParameters = (resolver.resolve(p.RequestParameters, `${id}.RequestParameters`) ?? {}) as Record<string, boolean>;
      const method: MethodDef = {
        httpMethod: resolver.resolveString(p.HttpMethod, `${id}.HttpMethod`).toUpperCase(),
        authorizationType: p.AuthorizationType === undefined ? 'NONE' : resolver.resolveString(p.AuthorizationType, `${id}.AuthorizationType`),
        integration: readIntegration(resolver, id, p.Integration),
        validateBody: validator?.body ?? false,
        validateParameters: validator?.params ?? false,
        requestModels,
        requestParameters,
      };
      if (!['NONE', 'AWS_IAM'].includes(method.authorizationType)) {
        warnings.push(`${id}: authorization ${method.authorizationType} is not checked locally`);
      }
      node.methods.set(method.httpMethod, method);
    } catch (err) {
      warnings.push(`${id}: ${(err as Error).message}`);
    }
  }

  const gatewayResponses = new Map<string, GatewayResponseDef>();
  for (const [id, r] of of('AWS::ApiGateway::GatewayResponse')) {
    const p = (resolver.resolve(r.Properties ?? {}, id) ?? {}) as Record<string, unknown>;
    const type = String(p.ResponseType);
    const params = (p.ResponseParameters ?? {}) as Record<string, string>;
    const def: GatewayResponseDef = {
      parameters: params,
      templates: (p.ResponseTemplates ?? {}) as Record<string, string>,
    };
    if (p.StatusCode !== undefined) def.statusCode = Number(p.StatusCode);
    gatewayResponses.set(type, def);
  }

  const stages = of('AWS::ApiGateway::Stage');
  if (stages.length > 1) warnings.push(`${apiLogicalId}: several stages, serving ${stages[0]![0]}`);
  const [stageId, stageRes] = stages[0] ?? [];
  const stageProps = (stageRes ? resolver.resolve(stageRes.Properties ?? {}, stageId!) : {}) as Record<string, unknown>;
  const stageName = typeof stageProps.StageName === 'string' ? stageProps.StageName : 'prod';
  let throttle: ApiModel['throttle'];
  const settings = Array.isArray(stageProps.MethodSettings) ? (stageProps.MethodSettings as Record<string, unknown>[]) : [];
  const all = settings.find((s) => s.HttpMethod === '*' && s.ResourcePath === '/*');
  if (all && typeof all.ThrottlingRateLimit === 'number' && typeof all.ThrottlingBurstLimit === 'number') {
    throttle = { rateLimit: all.ThrottlingRateLimit, burstLimit: all.ThrottlingBurstLimit };
  }
  const variables = isObject(stageProps.Variables) ? (stageProps.Variables as Record<string, string>) : null;

  const resolvedProps = resolver.resolve({ Name: props.Name, BinaryMediaTypes: props.BinaryMediaTypes }, apiLogicalId) as Record<string, unknown>;
  return {
    logicalId: apiLogicalId,
    id: restApiId(apiLogicalId),
    name: typeof resolvedProps.Name === 'string' ? resolvedProps.Name : apiLogicalId,
    stageName,
    stageVariables: variables && Object.keys(variables).length > 0 ? variables : null,
    deploymentId: restApiId(String(stageProps.DeploymentId ?? apiLogicalId)).slice(0, 6),
    ...(throttle ? { throttle } : {}),
    binaryMediaTypes: Array.isArray(resolvedProps.BinaryMediaTypes) ? (resolvedProps.BinaryMediaTypes as string[]) : [],
    root,
    models,
    gatewayResponses,
    warnings,
  };
}

function readIntegration(resolver: Resolver, methodId: string, raw: unknown): MethodDef['integration'] {
  const integration = resolver.resolve(raw, `${methodId}.Integration`);
  if (!isObject(integration)) return { type: 'UNSUPPORTED', description: 'no integration' };
  const type = String(integration.Type);
  if (type === 'AWS_PROXY') {
    const uri = String(integration.Uri ?? '');
    const m = /:lambda:path\/2015-03-31\/functions\/arn:[^:]+:lambda:[^:]+:\d{12}:function:([A-Za-z0-9_.-]+)(?::[^/]+)?\/invocations$/.exec(uri);
    if (!m) throw new TemplateError(`${methodId}: AWS_PROXY integration ${uri} is not a Lambda function`);
    const out: MethodDef['integration'] = { type: 'AWS_PROXY', functionName: m[1]! };
    if (typeof integration.TimeoutInMillis === 'number') out.timeoutMs = integration.TimeoutInMillis;
    return out;
  }
  if (type === 'MOCK') {
    // CORS preflight methods: answer with the first integration response's static headers.
    const responses = Array.isArray(integration.IntegrationResponses) ? (integration.IntegrationResponses as Record<string, unknown>[]) : [];
    const first = responses[0] ?? {};
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries((first.ResponseParameters ?? {}) as Record<string, string>)) {
      const name = /^method\.response\.header\.(.+)$/.exec(k)?.[1];
      const value = /^'(.*)'$/s.exec(String(v))?.[1];
      if (name && value !== undefined) headers[name] = value;
    }
    return { type: 'MOCK', statusCode: Number(first.StatusCode ?? 200), headers };
  }
  return { type: 'UNSUPPORTED', description: `integration type ${type}` };
}
