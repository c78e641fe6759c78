// What a job's counts must be: the fault-free inside count of the stream rule, and, for a job that
// ended early, every task holding exactly the first `done` samples of its own blocks, each once.
import { kernel } from '../../functions/shared/kernel/index.js';
import { BLOCK_SIZE, blockCount, samplesInBlocks } from '../../functions/shared/kernel/stream-rule.js';
import { tsKernel } from '../../functions/shared/kernel/ts-kernel.js';
import { planTasks, type JobHeader, type TaskItem } from '../../functions/shared/job.js';

const oracleCounts = new Map<string, number>();

/**
 * The oracle: the inside count of a fault-free run of (seed, samples), by the plain TypeScript kernel.
 * Remembered: a big job's count blocks the process that hosts the local cloud while it is computed.
 */
export function faultFreeInside(seed: number, samples: number): number {
  const key = `${seed}:${samples}`;
  let inside = oracleCounts.get(key);
  if (inside === undefined) {
    inside = tsKernel.countInside(seed, 0, blockCount(samples), samples);
    oracleCounts.set(key, inside);
  }
  return inside;
}

/**
 * Everything wrong with a job's stored items: a task count that is not an exact prefix of the task's
 * own blocks (a sample lost or counted twice), task items that do not match the plan, and a final
 * header whose frozen counts differ from its tasks. Empty when the job is consistent.
 */
export function countProblems(header: JobHeader, tasks: readonly TaskItem[]): string[] {
  const problems: string[] = [];
  const plan = planTasks(header.samples, header.tasks);
  if (tasks.length !== plan.length) problems.push(`${tasks.length} task items for ${plan.length} tasks`);
  for (const task of tasks) {
    const planned = plan[task.taskId];
    if (!planned || planned.startBlock !== task.startBlock || planned.endBlock !== task.endBlock || planned.samples !== task.samples) {
      problems.push(`task ${task.taskId} does not match the plan`);
      continue;
    }
    if (task.done < 0 || task.done > task.samples) {
      problems.push(`task ${task.taskId}: done ${task.done} outside 0..${task.samples}`);
      continue;
    }
    // Reports land at block boundaries; only a finished task may end with the job's partial last block.
    const blocksDone = task.done === task.samples ? task.endBlock - task.startBlock : task.done / BLOCK_SIZE;
    if (!Number.isInteger(blocksDone) || samplesInBlocks(task.startBlock, task.startBlock + blocksDone, header.samples) !== task.done) {
      problems.push(`task ${task.taskId}: done ${task.done} is not a block boundary`);
      continue;
    }
    // Only the samples the task claims to have done (a cancelled job may be huge and barely started),
    // with the fast kernel: this runs in the process that hosts the local cloud, and blocks it. The
    // final count of a SUCCEEDED job is checked against the plain TypeScript oracle below.
    const expected = kernel.countInside(header.seed, task.startBlock, task.startBlock + blocksDone, header.samples);
    if (task.inside !== expected) {
      problems.push(`task ${task.taskId}: inside ${task.inside} for its first ${task.done} samples, expected ${expected}`);
    }
  }
  if (header.status !== 'RUNNING') {
    const done = tasks.reduce((a, t) => a + t.done, 0);
    const inside = tasks.reduce((a, t) => a + t.inside, 0);
    if (header.done !== done || header.inside !== inside) {
      problems.push(`final header says ${header.done}/${header.inside}, tasks say ${done}/${inside}`);
    }
  }
  if (header.status === 'SUCCEEDED') {
    const oracle = faultFreeInside(header.seed, header.samples);
    if (header.done !== header.samples) problems.push(`SUCCEEDED with ${header.done} of ${header.samples} samples`);
    if (header.inside !== oracle) problems.push(`SUCCEEDED with inside ${header.inside}, the fault-free run gives ${oracle}`);
  }
  return problems;
}
