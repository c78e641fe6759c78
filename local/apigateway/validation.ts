// Request body validation against a method's model (JSON Schema draft 4), with
// messages worded like API Gateway's validator so `validationErrorString`
// reads the same locally and deployed.
import AjvModule from 'ajv-draft-04';
import type { ErrorObject, ValidateFunction } from 'ajv';

const Ajv = AjvModule.default;

export class ModelValidator {
  private readonly ajv = new Ajv({ allErrors: true, strict: false, verbose: true, validateFormats: false });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(
    private readonly models: Map<string, Record<string, unknown>>,
    apiId: string,
  ) {
    // Models may refer to each other by their API Gateway URL.
    for (const [name, schema] of models) {
      const { $schema: _ignored, ...rest } = schema;
      this.ajv.addSchema({ ...rest, id: `https://apigateway.amazonaws.com/restapis/${apiId}/models/${name}` });
    }
  }

  /** Validates a request body; returns the error string (`[...]`) or undefined when valid. */
  validate(modelName: string, body: string): string | undefined {
    let data: unknown;
    try {
      data = body.trim() === '' ? {} : JSON.parse(body);
    } catch (err) {
      return `[Invalid JSON in request body: ${(err as Error).message}]`;
    }
    const validate = this.compile(modelName);
    if (!validate) return undefined;
    if (validate(data)) return undefined;
    return `[${messages(validate.errors ?? []).join(', ')}]`;
  }

  private compile(modelName: string): ValidateFunction | undefined {
    let fn = this.compiled.get(modelName);
    if (!fn) {
      const schema = this.models.get(modelName);
      if (!schema) return undefined;
      const { $schema: _ignored, ...rest } = schema;
      fn = this.ajv.compile(rest);
      this.compiled.set(modelName, fn);
    }
    return fn;
  }
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function messages(errors: ErrorObject[]): string[] {
  const out: string[] = [];
  const missing = new Map<string, string[]>();
  const extra = new Map<string, string[]>();
  for (const e of errors) {
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'required': {
        const list = missing.get(e.instancePath) ?? [];
        if (list.length === 0) out.push(`\u0000required:${e.instancePath}`);
        list.push(String(p.missingProperty));
        missing.set(e.instancePath, list);
        break;
      }
      case 'additionalProperties': {
        const list = extra.get(e.instancePath) ?? [];
        if (list.length === 0) out.push(`\u0000additional:${e.instancePath}`);
        list.push(String(p.additionalProperty));
        extra.set(e.instancePath, list);
        break;
      }
      case 'type': {
        const allowed = String(p.type).split(',');
        out.push(`instance type (${typeOf(e.data)}) does not match any allowed primitive type (allowed: ${JSON.stringify(allowed)})`);
        break;
      }
      case 'minimum':
        out.push(
          p.comparison === '>'
            ? `numeric instance is not strictly greater than the required minimum ${String(p.limit)}`
            : `numeric instance is lower than the required minimum (minimum: ${String(p.limit)}, found: ${String(e.data)})`,
        );
        break;
      case 'maximum':
        out.push(
          p.comparison === '<'
            ? `numeric instance is not strictly lower than the required maximum ${String(p.limit)}`
            : `numeric instance is greater than the required maximum (maximum: ${String(p.limit)}, found: ${String(e.data)})`,
        );
        break;
      case 'enum':
        out.push(`instance value (${JSON.stringify(e.data)}) not found in enum (possible values: ${JSON.stringify(p.allowedValues)})`);
        break;
      case 'minLength':
        out.push(`string ${JSON.stringify(e.data)} is too short (length: ${String(e.data).length}, required minimum: ${String(p.limit)})`);
        break;
      case 'maxLength':
        out.push(`string ${JSON.stringify(e.data)} is too long (length: ${String(e.data).length}, maximum allowed: ${String(p.limit)})`);
        break;
      case 'pattern':
        out.push(`ECMA 262 regex "${String(p.pattern)}" does not match input string ${JSON.stringify(e.data)}`);
        break;
      case 'minItems':
        out.push(`array is too short: must have at least ${String(p.limit)} elements but instance has ${(e.data as unknown[]).length} elements`);
        break;
      case 'maxItems':
        out.push(`array is too long: must have at most ${String(p.limit)} elements but instance has ${(e.data as unknown[]).length} elements`);
        break;
      case 'multipleOf':
        out.push(`numeric instance is not a multiple of ${String(p.multipleOf)}`);
        break;
      default:
        out.push(`${e.instancePath || 'instance'} ${e.message ?? 'is invalid'}`);
    }
  }
  return out.map((m) => {
    if (m.startsWith('\u0000required:')) {
      return `object has missing required properties (${JSON.stringify([...(missing.get(m.slice(10)) ?? [])].sort())})`;
    }
    if (m.startsWith('\u0000additional:')) {
      return `object instance has properties which are not allowed by the schema: ${JSON.stringify([...(extra.get(m.slice(12)) ?? [])].sort())}`;
    }
    return m;
  });
}
