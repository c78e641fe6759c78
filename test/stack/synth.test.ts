import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCHESTRATOR_ENV } from '../../functions/orchestrator/config.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
  Metadata?: Record<string, string>;
}

// `cdk synth` through the CLI, as `npm run synth` and the local cloud use it: cdk.json, tsx, the
// local esbuild. A proxy that refuses every connection proves it needs no network.
let outdir: string;
const cleanup: string[] = [];
let functions: [string, Resource][];
beforeAll(async () => {
  outdir = mkdtempSync(path.join(tmpdir(), 'pi-synth-'));
  expect(existsSync(path.join(tmpdir(), 'node_modules'))).toBe(false);
  const unreachable = 'http://127.0.0.1:9';
  await run('npx', ['cdk', 'synth', '--quiet', '--output', outdir], {
    cwd: ROOT,
    env: { ...process.env, HTTP_PROXY: unreachable, HTTPS_PROXY: unreachable, NO_PROXY: '' },
    timeout: 120_000,
  });
  const template = JSON.parse(readFileSync(path.join(outdir, 'PiStack.template.json'), 'utf8')) as {
    Resources: Record<string, Resource>;
  };
  functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
}, 180_000);
afterAll(() => [outdir, ...cleanup].forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const assetDir = (fn: Resource) => path.join(outdir, fn.Metadata!['aws:asset:path']);

describe('cdk synth', () => {
  it("passes CDK's built-in CloudFormation template validation", () => {
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });

  it('writes three functions whose aws:asset:path folders hold index.mjs and its source map', () => {
    expect(functions).toHaveLength(3);
    for (const [, fn] of functions) {
      expect(fn.Metadata?.['aws:asset:property']).toBe('Code');
      expect(existsSync(path.join(assetDir(fn), 'index.mjs'))).toBe(true);
      expect(existsSync(path.join(assetDir(fn), 'index.mjs.map'))).toBe(true);
    }
  });

  it('bundles everything, the AWS SDK included, into ESM that imports only Node built-ins', () => {
    for (const [, fn] of functions) {
      const code = readFileSync(path.join(assetDir(fn), 'index.mjs'), 'utf8');
      // CommonJS dependencies call require(), which ESM lacks: the banner provides it.
      expect(code.startsWith("import { createRequire as topLevelCreateRequire } from 'node:module';")).toBe(true);
      const specifiers = [...code.matchAll(/(?:\bfrom\s*|\bimport\(\s*)"([^"]+)"/g)].map((m) => m[1]);
      expect(specifiers.length).toBeGreaterThan(0);
      expect(specifiers.filter((s) => !s.startsWith('node:'))).toEqual([]);
    }
  });

  it('each bundle loads on its own, with no node_modules around it, and exports a handler function', async () => {
    // Each handler reads and checks its whole configuration at cold start: give it the
    // environment the template declares (references resolved to a placeholder) and what Lambda sets.
    const environmentOf = (fn: Resource): Record<string, string> => {
      const variables = (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      return Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : 'resolved-at-deploy']));
    };
    for (const [id, fn] of functions) {
      const env = { ...process.env, AWS_REGION: 'us-east-1', AWS_LAMBDA_FUNCTION_NAME: id, ...environmentOf(fn) };
      // A fresh folder under the OS temp dir: no node_modules to fall back on.
      const alone = mkdtempSync(path.join(tmpdir(), 'pi-bundle-'));
      cleanup.push(alone);
      copyFileSync(path.join(assetDir(fn), 'index.mjs'), path.join(alone, 'index.mjs'));
      const url = pathToFileURL(path.join(alone, 'index.mjs')).href;
      const { stdout } = await run(
        process.execPath,
        ['--enable-source-maps', '--input-type=module', '-e', `const m = await import(${JSON.stringify(url)}); console.log(typeof m.handler);`],
        { env, timeout: 30_000 },
      );
      expect(stdout.trim()).toBe('function');
    }
  });

  it('a bundle whose environment lacks a variable fails at cold start, naming it and its range', async () => {
    const [, orchestrator] = functions.find(([, fn]) => fn.Metadata?.['aws:cdk:path'] === 'PiStack/orchestrator/Resource')!;
    const variables = { ...(orchestrator.Properties.Environment as { Variables: Record<string, unknown> }).Variables };
    delete variables[ORCHESTRATOR_ENV.stallSeconds];
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_REGION: 'us-east-1', AWS_LAMBDA_FUNCTION_NAME: 'orchestrator' };
    for (const [name, value] of Object.entries(variables)) env[name] = typeof value === 'string' ? value : 'resolved-at-deploy';
    const url = pathToFileURL(path.join(assetDir(orchestrator), 'index.mjs')).href;
    const failed = await run(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(url)});`], { env, timeout: 30_000 }).then(
      () => undefined,
      (error: { stderr: string }) => error,
    );
    expect(failed?.stderr).toContain('STALL_SECONDS environment variable is not set; it must be an integer from 1 to 899');
  });
});
