import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENDPOINT_VARIABLES, samEnvFile, samTemplate, samTemplatePath } from '../../cli/sam-env.js';
import { ROOT, ensureSynth } from '../../cli/synth.js';
import { isRunning } from './run.js';

interface Resource {
  Type: string;
  Properties?: { Environment?: { Variables?: Record<string, unknown> } };
}
type Template = { Resources: Record<string, Resource> };

const scratch = mkdtempSync(join(tmpdir(), 'pi-sam-env-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let templatePath: string;
let template: Template;
const functionsOf = (t: Template) => Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
const tablesOf = (t: Template) => Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::DynamoDB::Table');

beforeAll(async () => {
  templatePath = await ensureSynth();
  template = JSON.parse(readFileSync(templatePath, 'utf8')) as Template;
}, 240_000);

const cli = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

describe('npm run sam:env: what sam local needs to run the stack against local services', () => {
  const settings = { host: 'host.docker.internal', dynamodbPort: 8000, lambdaPort: 3001 };

  it('names exactly the template\'s functions, each with exactly the variables it declares plus the two endpoints, all resolved', () => {
    const env = samEnvFile(templatePath, settings);
    const functions = functionsOf(template);
    expect(Object.keys(env).sort()).toEqual(functions.map(([id]) => id).sort());
    const functionIds = new Set(functions.map(([id]) => id));
    const tableNames = new Set(tablesOf(template).map(([id, r]) => String((r.Properties as { TableName?: string } | undefined)?.TableName ?? id)));
    for (const [id, resource] of functions) {
      const declared = resource.Properties?.Environment?.Variables ?? {};
      expect(Object.keys(env[id]!).sort(), id).toEqual([...Object.keys(declared), ...ENDPOINT_VARIABLES].sort());
      for (const [name, value] of Object.entries(env[id]!)) {
        expect(typeof value, `${id}.${name}`).toBe('string');
        expect(value, `${id}.${name}`).not.toMatch(/Ref|Fn::|\{/);
        const raw = declared[name];
        if (typeof raw === 'string') expect(value, `${id}.${name}`).toBe(raw);
        // A reference names what the local services serve: a function by its logical id (as
        // sam local start-lambda knows it), a table by the name the local DynamoDB gives it.
        if (raw && typeof raw === 'object' && 'Ref' in raw) {
          const target = String((raw as { Ref: string }).Ref);
          const kind = template.Resources[target]!.Type;
          if (kind === 'AWS::Lambda::Function') expect(functionIds.has(value) && value === target, `${id}.${name}`).toBe(true);
          if (kind === 'AWS::DynamoDB::Table') expect(tableNames.has(value), `${id}.${name}`).toBe(true);
        }
      }
      expect(env[id]!.AWS_ENDPOINT_URL_DYNAMODB).toBe('http://host.docker.internal:8000');
      expect(env[id]!.AWS_ENDPOINT_URL_LAMBDA).toBe('http://host.docker.internal:3001');
    }
  });

  it('the SAM template declares every variable of env.json (SAM ignores the others) and differs from the synthesized one in nothing else', () => {
    const env = samEnvFile(templatePath, settings);
    const sam = samTemplate(templatePath, env) as Template;
    for (const [id, resource] of functionsOf(sam)) {
      expect(Object.keys(resource.Properties!.Environment!.Variables!).sort(), id).toEqual(Object.keys(env[id]!).sort());
    }
    const strip = (t: Template) => {
      const copy = JSON.parse(JSON.stringify(t)) as Template;
      for (const [, r] of functionsOf(copy)) for (const name of ENDPOINT_VARIABLES) delete r.Properties!.Environment!.Variables![name];
      return copy;
    };
    expect(strip(sam)).toEqual(template);
    expect(samTemplatePath(templatePath)).toBe(join(ROOT, 'cdk.out', 'PiStack.sam.template.json'));
  });

  it('the command writes both files, with the ports and host it is given', async () => {
    const out = join(scratch, 'env.json');
    const run = await cli(['sam-env', '--host', '172.17.0.1', '--dynamodb-port', '8123', '--lambda-port', '3123', '--out', out]);
    expect(run.code, run.stderr).toBe(0);
    const env = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Record<string, string>>;
    expect(env).toEqual(samEnvFile(templatePath, { host: '172.17.0.1', dynamodbPort: 8123, lambdaPort: 3123 }));
    const sam = JSON.parse(readFileSync(samTemplatePath(templatePath), 'utf8')) as Template;
    for (const [id, resource] of functionsOf(sam)) expect(resource.Properties!.Environment!.Variables!.AWS_ENDPOINT_URL_LAMBDA, id).toBe('http://172.17.0.1:3123');
    // Leave cdk.out as npm run sam:env leaves it.
    expect((await cli(['sam-env'])).code).toBe(0);
  }, 180_000);
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

describe('npm run local -- --dynamodb-only', () => {
  it('serves DynamoDB alone with the template\'s tables, on --listen too, until Ctrl-C', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'local', '--dynamodb-only', '--in-memory', '--dynamodb-port', String(port), '--listen', '0.0.0.0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('Ctrl-C stops it.')) resolve();
      });
      void exited.then(() => reject(new Error(`exited early\n${stdout}\n${stderr}`)));
    });
    expect(stdout).toContain(`  DynamoDB              http://127.0.0.1:${port}`);
    expect(stdout).toContain(`  Listening on          0.0.0.0, port ${port}`);
    const client = new DynamoDBClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    try {
      const tables = tablesOf(template).map(([id, r]) => String((r.Properties as { TableName?: string } | undefined)?.TableName ?? id));
      expect((await client.send(new ListTablesCommand({}))).TableNames?.sort()).toEqual(tables.sort());
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tables[0] }));
      expect(Table?.TableStatus).toBe('ACTIVE');
      expect(Table?.KeySchema?.map((k) => k.AttributeName)).toEqual(['pk', 'sk']);
    } finally {
      client.destroy();
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(isRunning(child.pid!)).toBe(false);
  }, 120_000);

  it('a state folder another process holds is explained, not a crash', async () => {
    const stateDir = join(scratch, 'held');
    const first = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'local', '--dynamodb-only', '--dynamodb-port', '0', '--state-dir', stateDir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const firstExited = new Promise<void>((resolve) => first.on('close', () => resolve()));
    try {
      let text = '';
      await new Promise<void>((resolve, reject) => {
        first.stdout.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('Ctrl-C stops it.')) resolve();
        });
        void firstExited.then(() => reject(new Error(`exited early\n${text}`)));
      });
      const second = await cli(['local', '--dynamodb-only', '--dynamodb-port', '0', '--state-dir', stateDir]);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/^Error: another local cloud is using the state folder .*held: stop it, or pass --state-dir/m);
      expect(second.stderr).not.toMatch(/^\s+at /m);
    } finally {
      first.kill('SIGINT');
      await firstExited;
    }
  }, 120_000);
});
