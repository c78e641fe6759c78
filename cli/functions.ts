import { readFileSync } from 'node:fs';
import { findFunction, noSuchFunction } from '../local/settings.js';
import { friendlyName } from '../local/stack.js';
import { UsageError } from './numbers.js';

/** A Lambda function of the synthesized template, with the name people call it by. */
export interface TemplateFunction {
  logicalId: string;
  /** The construct id in the CDK app (`PiStack/sampler/Resource` → `sampler`), as SAM CLI accepts it. */
  friendlyName: string;
  /** Asset folder relative to the template (Metadata `aws:asset:path`). */
  assetPath?: string;
}

interface Resource {
  Type?: string;
  Metadata?: Record<string, unknown>;
}

export function listFunctions(templatePath: string): TemplateFunction[] {
  const template = JSON.parse(readFileSync(templatePath, 'utf8')) as { Resources?: Record<string, Resource> };
  return Object.entries(template.Resources ?? {})
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([logicalId, resource]) => {
      const asset = resource.Metadata?.['aws:asset:path'];
      return {
        logicalId,
        friendlyName: friendlyName(logicalId, resource),
        ...(typeof asset === 'string' && { assetPath: asset }),
      };
    });
}

/** Finds a function by logical id or friendly name (case-insensitive), like `sam local invoke`. */
export function resolveFunction(functions: readonly TemplateFunction[], name: string): TemplateFunction {
  const found = findFunction(functions, name);
  if (!found) throw new UsageError(noSuchFunction(name, functions));
  return found;
}

/** `[sampler29AE7977] ...` → `[sampler] ...`: log lines read better with the names people use. */
export function friendlyLogLine(functions: readonly TemplateFunction[], line: string): string {
  const match = /^\[([^\]]+)\]/.exec(line);
  const fn = match && functions.find((f) => f.logicalId === match[1]);
  return fn ? `[${fn.friendlyName}]${line.slice(match[0].length)}` : line;
}
