import { readFileSync } from 'node:fs';
import { UsageError } from './numbers.js';

/** A Lambda function of the synthesized template, with the name people call it by. */
export interface TemplateFunction {
  logicalId: string;
  /** The construct id in the CDK app (`PiStack/sampler/Resource` → `sampler`), as SAM CLI accepts it. */
  friendlyName: string;
  handler: string;
  /** Asset folder relative to the template (Metadata `aws:asset:path`). */
  assetPath?: string;
}

interface Resource {
  Type?: string;
  Properties?: { Handler?: unknown };
  Metadata?: Record<string, unknown>;
}

export function listFunctions(templatePath: string): TemplateFunction[] {
  const template = JSON.parse(readFileSync(templatePath, 'utf8')) as { Resources?: Record<string, Resource> };
  return Object.entries(template.Resources ?? {})
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([logicalId, resource]) => {
      const cdkPath = resource.Metadata?.['aws:cdk:path'];
      const asset = resource.Metadata?.['aws:asset:path'];
      const segments = typeof cdkPath === 'string' ? cdkPath.split('/').slice(1) : [];
      if (segments.at(-1) === 'Resource') segments.pop();
      return {
        logicalId,
        friendlyName: segments.length > 0 ? segments.join('/') : logicalId,
        handler: typeof resource.Properties?.Handler === 'string' ? resource.Properties.Handler : 'index.handler',
        ...(typeof asset === 'string' && { assetPath: asset }),
      };
    });
}

/** Finds a function by logical id or friendly name (case-insensitive), like `sam local invoke`. */
export function resolveFunction(functions: readonly TemplateFunction[], name: string): TemplateFunction {
  const wanted = name.toLowerCase();
  const found =
    functions.find((f) => f.logicalId === name) ??
    functions.find((f) => f.friendlyName.toLowerCase() === wanted || f.logicalId.toLowerCase() === wanted);
  if (found) return found;
  const choices = functions.map((f) => `${f.friendlyName} (${f.logicalId})`).join(', ');
  throw new UsageError(`no function "${name}" in the template; choose one of: ${choices}`);
}

/** `[sampler29AE7977] ...` → `[sampler] ...`: log lines read better with the names people use. */
export function friendlyLogLine(functions: readonly TemplateFunction[], line: string): string {
  const match = /^\[([^\]]+)\]/.exec(line);
  const fn = match && functions.find((f) => f.logicalId === match[1]);
  return fn ? `[${fn.friendlyName}]${line.slice(match[0].length)}` : line;
}
