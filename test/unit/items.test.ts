import { describe, expect, it } from 'vitest';
import type { JobHeader, TaskItem } from '../../functions/shared/job.js';
import {
  MAX_TASKS_PER_JOB,
  headerKey,
  headerToItem,
  itemToJobItem,
  itemToTask,
  jobIdOfKey,
  jobKey,
  taskKey,
  taskSortKey,
  taskToItem,
} from '../../functions/shared/store/items.js';

const header: JobHeader = {
  jobId: 'abc', seed: 1, samples: 10, tasks: 1, status: 'RUNNING', createdAt: 0, deadlineAt: 1, expiresAt: 2, maxInvocations: 3, owner: 'arn:aws:iam::123456789012:user/alice',
};
const task: TaskItem = { jobId: 'abc', taskId: 7, startBlock: 0, endBlock: 1, samples: 10, done: 0, inside: 0, invocations: 0, expiresAt: 2 };

describe('the item layout', () => {
  it('orders task items by task id for every id the layout allows, and no further', () => {
    const ids = Array.from({ length: MAX_TASKS_PER_JOB }, (_, i) => i);
    const keys = ids.map(taskSortKey);
    expect([...keys].sort()).toEqual(keys);
    expect(MAX_TASKS_PER_JOB).toBe(10_000);
    // One more task and the keys no longer sort in task order.
    expect(taskSortKey(MAX_TASKS_PER_JOB) < taskSortKey(MAX_TASKS_PER_JOB - 1)).toBe(true);
  });

  it('puts the header and the tasks of a job under its partition, with distinct sort keys', () => {
    expect(headerKey('abc').pk).toBe(jobKey('abc'));
    expect(taskKey('abc', 7).pk).toBe(jobKey('abc'));
    expect(taskKey('abc', 7).sk).toBe(taskSortKey(7));
    expect(headerKey('abc').sk).not.toBe(taskSortKey(0));
    expect(jobIdOfKey(jobKey('abc'))).toBe('abc');
    expect(jobIdOfKey('record#1')).toBeUndefined();
    expect(jobIdOfKey(undefined)).toBeUndefined();
  });

  it('turns headers and tasks into items and back', () => {
    expect(itemToJobItem(headerToItem(header))).toEqual({ kind: 'header', jobId: 'abc', header });
    expect(itemToJobItem(taskToItem(task))).toEqual({ kind: 'task', jobId: 'abc', task });
    expect(itemToTask(taskToItem(task))).toEqual(task);
    expect(itemToJobItem({ pk: 'record#1', sk: taskSortKey(0) })).toBeUndefined();
    expect(itemToJobItem({ pk: jobKey('abc'), sk: 'OTHER' })).toBeUndefined();
  });
});
