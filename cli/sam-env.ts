import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readStack } from '../local/stack.js';
import { Resolver, loadTemplate } from '../local/template.js';
import { displayPath } from './numbers.js';
import { errorText } from './output.js';
import { ensureSynth } from './synth.js';

/**
 * Where the SDK in a function looks for its services (the SDK's service-specific endpoint
 * variables). The template does not declare them, and `sam local` passes a function only the
 * variables its template declares, so the SAM template declares them too.
 */
export const ENDPOINT_VARIABLES = ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_LAMBDA'] as const;

export interface SamEnvSettings {
  /** How a function in a Docker container reaches this machine: `host.docker.internal` by default. */
  host: string;
  /** Port of the local DynamoDB (`npm run local -- --dynamodb-only`). */
  dynamodbPort: number;
  /** Port of `sam local start-lambda`. */
  lambdaPort: number;
}

/** SAM CLI's env-vars file: variables by function logical id. */
export type SamEnvFile = Record<string, Record<string, string>>;

interface TemplateJson {
  Resources: Record<string, { Type?: string; Properties?: { Environment?: { Variables?: Record<string, unknown> } } }>;
}

/**
 * What a function run by `sam local` must see, from the synthesized template: every variable each
 * function declares, with references resolved the way the local services name things (a function
 * by its logical id, as `sam local start-lambda` serves it; a table by its name, as the local
 * DynamoDB creates it), plus the endpoints of those services.
 */
export function samEnvFile(templatePath: string, settings: SamEnvSettings): SamEnvFile {
  const stack = readStack(new Resolver(loadTemplate(templatePath), templatePath), templatePath);
  const endpoints = {
    AWS_ENDPOINT_URL_DYNAMODB: `http://${settings.host}:${settings.dynamodbPort}`,
    AWS_ENDPOINT_URL_LAMBDA: `http://${settings.host}:${settings.lambdaPort}`,
  };
  return Object.fromEntries(stack.functions.map((fn) => [fn.logicalId, { ...fn.environment, ...endpoints }]));
}

/**
 * The synthesized template with the endpoint variables declared on every function (their values
 * are the env file's), so `sam local --env-vars` sets them. Everything else is the template as
 * synthesized; it lives next to it, so the functions' `aws:asset:path` folders resolve the same.
 */
export function samTemplate(templatePath: string, env: SamEnvFile): TemplateJson {
  const template = JSON.parse(readFileSync(templatePath, 'utf8')) as TemplateJson;
  for (const [logicalId, variables] of Object.entries(env)) {
    const properties = (template.Resources[logicalId]!.Properties ??= {});
    const declared = (properties.Environment ??= {}).Variables ?? {};
    properties.Environment.Variables = { ...declared, ...Object.fromEntries(ENDPOINT_VARIABLES.map((name) => [name, variables[name]])) };
  }
  return template;
}

/** `cdk.out/PiStack.template.json` → `cdk.out/PiStack.sam.template.json`. */
export const samTemplatePath = (templatePath: string) => join(dirname(templatePath), basename(templatePath).replace(/\.template\.json$/, '.sam.template.json'));

export interface SamEnvOptions extends SamEnvSettings {
  /** Default: `env.json` next to the template. */
  envPath?: string;
}

/** `npm run sam:env`: writes `cdk.out/env.json` and `cdk.out/PiStack.sam.template.json`. */
export async function runSamEnv(options: SamEnvOptions): Promise<number> {
  const say = (text: string) => process.stdout.write(`${text}\n`);
  try {
    const templatePath = await ensureSynth({ log: say });
    const envPath = options.envPath ?? join(dirname(templatePath), 'env.json');
    const env = samEnvFile(templatePath, options);
    const samPath = samTemplatePath(templatePath);
    writeFileSync(envPath, `${JSON.stringify(env, null, 2)}\n`);
    writeFileSync(samPath, `${JSON.stringify(samTemplate(templatePath, env), null, 2)}\n`);
    say(`Wrote ${displayPath(envPath)} (${Object.keys(env).join(', ')}) and ${displayPath(samPath)}`);
    say(`Functions reach DynamoDB at http://${options.host}:${options.dynamodbPort} and Lambda at http://${options.host}:${options.lambdaPort}.`);
    say('Next: README.md, "With sam local".');
    return 0;
  } catch (error) {
    process.stderr.write(`Error: ${errorText(error)}\n`);
    return 1;
  }
}
