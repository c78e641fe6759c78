import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../cli/synth.js';
import { hasStackTrace } from './run.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI itself (no npm): these mistakes are caught before anything is synthesized or started. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('command-line mistakes exit 2 with a message that says what to fix', () => {
  it.each(['constructor', '__proto__'])('"%s" is not a verb', async (verb) => {
    const run = await cli([verb]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^Usage: cli\/main\.ts <start\|dashboard\|local\|invoke\|sam-env>/);
  });

  it('--endpoint that is not a URL names the option', async () => {
    const run = await cli(['start', '--endpoint', 'not-a-url']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^Error: --endpoint must be the API's URL, like https:\/\/.*, got "not-a-url"$/m);
    expect(hasStackTrace(run.stderr)).toBe(false);
    const ftp = await cli(['start', '--endpoint', 'ftp://example.com/prod']);
    expect(ftp.code).toBe(2);
    expect(ftp.stderr).toMatch(/--endpoint must be an http or https URL/);
  });

  it('invoke: no function, an event given as a function, a missing --event value each get their own message', async () => {
    // `npm run invoke sampler --event x.json` without `--`: npm keeps --event and sets npm_config_event.
    const [none, eventAsName, eventOnly, missing, empty, npmTookIt] = await Promise.all([
      cli(['invoke', '--event', 'events/sampler.json']),
      cli(['invoke', 'sampler', 'events/sampler.json']),
      cli(['invoke', 'events/sampler.json']),
      cli(['invoke', 'sampler', '--event']),
      cli(['invoke', 'sampler', '--event=']),
      cli(['invoke', 'sampler', 'events/sampler.json'], { npm_config_event: 'true' }),
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^Error: name the function to invoke \(sampler, progress, orchestrator or a logical id\)/m);
    expect(eventAsName.code).toBe(2);
    expect(eventAsName.stderr).toMatch(/^Error: pass the event with --event: events\/sampler\.json came as a second function name/m);
    expect(eventOnly.code).toBe(2);
    expect(eventOnly.stderr).toMatch(/^Error: name the function before the event and pass the event with --event/m);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^Error: --event needs a JSON file \(or - for stdin\)/m);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/^Error: --event needs a JSON file/m);
    expect(npmTookIt.code).toBe(2);
    expect(npmTookIt.stderr).toMatch(/^Error: npm kept --event for itself: put -- before the CLI's options/m);
    for (const run of [none, eventAsName, eventOnly, missing, empty, npmTookIt]) expect(hasStackTrace(run.stderr)).toBe(false);
  });

  it('a port that is not a number names the option', async () => {
    const run = await cli(['sam-env', '--lambda-port', 'x']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--lambda-port must be a port from 0 to 65535, got "x"/);
    for (const port of ['1.5', '1e3', '65536']) {
      const bad = await cli(['sam-env', '--lambda-port', port]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--lambda-port must be a port from 0 to 65535/);
    }
  });

  it('--listen without --dynamodb-only is refused', async () => {
    const run = await cli(['local', '--listen', '0.0.0.0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--listen goes with --dynamodb-only/);
  });
});
