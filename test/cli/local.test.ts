import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../cli/synth.js';
import { descendantsOf, isRunning, runNpm } from './run.js';

const exec = promisify(execFile);

// `npm run local` prints commands to paste; they must work as printed.
describe('npm run local', () => {
  it('serves until Ctrl-C, and its printed curl commands work as they are', async () => {
    const seen = new Set<number>();
    let checks: Promise<void> | undefined;
    const run = await runNpm(['run', 'local', '--', '--port', '0', '--in-memory', '--quiet'], {
      ownProcessGroup: true,
      onTick: (pid) => descendantsOf(pid).forEach((p) => seen.add(p)),
      onStdout: (text, pid) => {
        if (checks || !text.includes('Ctrl-C stops it.')) return;
        checks = (async () => {
          try {
            const exportLine = /^\s*(export AK=.*)$/m.exec(text)![1]!;
            const submit = /^\s*(curl .* -d '\{"samples":100000000,"tasks":10\}' \S+\/jobs)$/m.exec(text)![1]!;
            const get = /^\s*(curl \S+ "aws:amz:us-east-1:execute-api" --user "\$AK:\$SK" \S+\/jobs\/<jobId>)$/m.exec(text)![1]!;
            const submitLong = /^\s*(curl .* -d '\{"samples":100000000000,"tasks":20\}' \S+\/jobs)$/m.exec(text)![1]!;
            const cancel = /^\s*(curl .* -X DELETE \S+\/jobs\/<jobId>)$/m.exec(text)![1]!;
            const awsEnv = /^\s*(export AWS_ACCESS_KEY_ID=.*)$/m.exec(text)![1]!;
            const invokeV1 = /^\s*(aws lambda invoke .*) {3}# AWS CLI v1$/m.exec(text)![1]!;
            const invokeV2 = /^\s*(aws lambda invoke .*) {3}# AWS CLI v2$/m.exec(text)![1]!;
            const shell = async (command: string) => JSON.parse((await exec('bash', ['-c', `${exportLine}; ${command}`])).stdout) as Record<string, unknown>;

            const submitted = await shell(`${submit} -s`);
            expect(submitted).toMatchObject({ status: 'RUNNING', samples: 100_000_000, tasks: 10 });
            const jobId = String(submitted.jobId);
            expect(await shell(`${get.replace('<jobId>', jobId)} -s`)).toMatchObject({ jobId });
            // The long job is still running when the DELETE arrives.
            const long = String((await shell(`${submitLong} -s`)).jobId);
            expect(await shell(`${cancel.replace('<jobId>', long)} -s`)).toMatchObject({ jobId: long, status: 'CANCELLED' });
            // The same command without the signature is refused.
            const unsigned = await shell(`${get.replace('<jobId>', jobId).replace(/--aws-sigv4 \S+ --user \S+ /, '')} -s`);
            expect(unsigned).toMatchObject({ error: { code: 'MISSING_AUTHENTICATION_TOKEN' } });
            // Both invoke lines name the API event, which works on any state; this machine's AWS CLI runs one.
            expect(invokeV2).toContain('--cli-binary-format raw-in-base64-out --payload file://events/api-post-jobs.json');
            expect(invokeV1).toMatch(/--function-name orchestrator\w+ --payload file:\/\/events\/api-post-jobs\.json \S+ && cat \S+$/);
            const version = await exec('bash', ['-c', 'aws --version 2>&1 || true']);
            const major = /aws-cli\/(\d)/.exec(version.stdout)?.[1];
            if (major === '1' || major === '2') {
              const invoked = await exec('bash', ['-c', `${exportLine}; ${awsEnv}; ${major === '1' ? invokeV1 : invokeV2}`], { cwd: ROOT });
              expect(invoked.stdout).toContain('"statusCode":202');
            }
          } finally {
            // Ctrl-C in the terminal.
            process.kill(-pid, 'SIGINT');
          }
        })();
      },
    });
    await checks;
    expect(run.stdout).toMatch(/^ {2}API \(REST, IAM auth\) {2}http:\/\/127\.0\.0\.1:\d+\/prod\/$/m);
    expect(run.stdout).toMatch(/^ {2}Lambda Invoke API {5}http:\/\/127\.0\.0\.1:\d+$/m);
    expect(run.stdout).toMatch(/aws lambda invoke --endpoint-url http:\/\/127\.0\.0\.1:\d+ --function-name orchestrator\w+ --cli-binary-format raw-in-base64-out /);
    expect(run.stdout).toMatch(/^Stopped\.$/m);
    expect(run.code === 0 || run.signal === 'SIGINT', `exit ${run.code} ${run.signal}`).toBe(true);
    for (const pid of new Set([run.pid, ...seen])) expect(isRunning(pid), `process ${pid} is still running`).toBe(false);
  }, 240_000);
});
