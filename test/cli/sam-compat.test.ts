import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureSynth } from '../../cli/synth.js';

const run = promisify(execFile);

interface Resource {
  Type: string;
  Properties: { Handler?: string; Environment?: { Variables?: Record<string, unknown> } };
  Metadata?: Record<string, unknown>;
}

// `sam local invoke -t cdk.out/PiStack.template.json` finds each function's code through the
// `aws:asset:path` metadata and loads `<module>.<export>` from the Handler property.
let templatePath: string;
let functions: [string, Resource][];
beforeAll(async () => {
  templatePath = await ensureSynth();
  const template = JSON.parse(readFileSync(templatePath, 'utf8')) as { Resources: Record<string, Resource> };
  functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
}, 240_000);

describe('the synthesized template works with SAM CLI', () => {
  it('has the three functions', () => {
    expect(functions.map(([, r]) => String(r.Metadata?.['aws:cdk:path'])).sort()).toEqual([
      'PiStack/orchestrator/Resource',
      'PiStack/progress/Resource',
      'PiStack/sampler/Resource',
    ]);
  });

  it('every function carries aws:asset:path, and its folder holds index.mjs exporting handler', async () => {
    for (const [id, fn] of functions) {
      const asset = fn.Metadata?.['aws:asset:path'];
      expect(typeof asset, id).toBe('string');
      expect(fn.Metadata?.['aws:asset:property'], id).toBe('Code');
      expect(fn.Properties.Handler, id).toBe('index.handler');
      const file = join(dirname(templatePath), asset as string, 'index.mjs');
      expect(existsSync(file), file).toBe(true);
      // Load the module the way the Lambda runtime does (a fresh Node, the function's environment)
      // and look at what it exports.
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1', AWS_LAMBDA_FUNCTION_NAME: id };
      for (const [key, value] of Object.entries(fn.Properties.Environment?.Variables ?? {})) {
        env[key] = typeof value === 'string' ? value : 'resolved-at-deploy';
      }
      const { stdout } = await run(
        process.execPath,
        ['--input-type=module', '-e', `const m = await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(typeof m.handler);`],
        { env },
      );
      expect(stdout.trim(), id).toBe('function');
    }
  });
});
