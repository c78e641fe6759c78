import type { JobView } from '../functions/shared/job.js';
import { formatCount } from './numbers.js';
import { costOf, describeCost, formatUsd } from './output.js';

/** Shows a job's progress while it runs; `log` prints a line without breaking the display. */
export interface ProgressDisplay {
  update(job: JobView): void;
  /** The job ended: show its final state once. */
  finish(job: JobView): void;
  log(line: string): void;
  /** Leaves the terminal as it was found (cursor shown); safe to call twice. */
  close(): void;
}

/** Whole percent, rounded down like the tutorial's `int(progress * 100)`: 100 % only when all is done. */
export const percent = (progress: number) => Math.floor(progress * 100 + 1e-9);

/**
 * Not a terminal: the tutorial's `Progress: N%` lines, about once a second and once on completion,
 * so logs and CI output stay short and greppable.
 */
export function plainProgress(write: (text: string) => void, intervalMs = 1000): ProgressDisplay {
  let lastPrint = Number.NEGATIVE_INFINITY;
  return {
    update(job) {
      if (job.status !== 'RUNNING') return;
      const now = Date.now();
      if (now - lastPrint < intervalMs) return;
      lastPrint = now;
      const cost = costOf(job);
      write(`Progress: ${percent(job.progress)}%${cost ? ` · cost so far ${formatUsd(cost.usd)}` : ''}\n`);
    },
    finish(job) {
      write(`Progress: ${percent(job.progress)}%\n`);
    },
    log(line) {
      write(`${line}\n`);
    },
    close() {},
  };
}

const FULL = '█';
const EMPTY = '░';
const LEVELS = ' ▁▂▃▄▅▆▇█';

function bar(progress: number, width: number): string {
  const filled = Math.max(0, Math.min(width, Math.floor(progress * width)));
  return FULL.repeat(filled) + EMPTY.repeat(width - filled);
}

function estimateText(job: JobView): string {
  if (!job.estimate) return '';
  return `π ≈ ${job.estimate.pi.toFixed(6)} ± ${job.estimate.standardError.toPrecision(2)}`;
}

/** The frame for a terminal of `columns` × `rows`: an overall bar, then one bar per task (or a strip when they do not fit). */
export function renderFrame(job: JobView, columns: number, rows: number): string[] {
  const width = Math.max(10, Math.min(40, columns - 60));
  const lines = [
    `${job.status.padEnd(9)} ${bar(job.progress, width)} ${String(percent(job.progress)).padStart(3)}%  ` +
      `${formatCount(job.done)} / ${formatCount(job.samples)}  ${estimateText(job)}`,
  ];
  const cost = costOf(job);
  if (cost) lines.push(`  ${job.status === 'RUNNING' ? 'cost so far' : 'cost'}: ${describeCost(cost)}`);
  const tasks = [...job.taskProgress].sort((a, b) => a.taskId - b.taskId);
  const idWidth = String(Math.max(0, job.tasks - 1)).length;
  if (tasks.length <= Math.max(1, rows - 3 - lines.length)) {
    for (const task of tasks) {
      const note = task.failure ? `  failed: ${task.failure}` : '';
      lines.push(
        `  task ${String(task.taskId).padStart(idWidth)} ${bar(task.progress, width)} ${String(percent(task.progress)).padStart(3)}%${note}`,
      );
    }
  } else {
    // One character per task, its height the task's progress.
    const perLine = Math.max(10, columns - 10);
    for (let i = 0; i < tasks.length; i += perLine) {
      const strip = tasks
        .slice(i, i + perLine)
        .map((t) => (t.failure ? '✗' : LEVELS[Math.min(8, Math.floor(t.progress * 8))]))
        .join('');
      lines.push(`  ${strip}`);
    }
    const failed = tasks.filter((t) => t.failure).length;
    const finished = tasks.filter((t) => t.progress >= 1).length;
    lines.push(`  ${finished}/${tasks.length} tasks done${failed ? `, ${failed} failed` : ''}`);
  }
  // A line that wraps would throw off the cursor movement of the next redraw.
  return lines.map((line) => line.slice(0, Math.max(1, columns - 1)));
}

/** A terminal: bars redrawn in place. */
function terminalProgress(stream: NodeJS.WriteStream): ProgressDisplay {
  let drawn = 0;
  let drawnText = '';
  let last: JobView | undefined;
  let closed = false;
  const clear = () => {
    // Up to the first line of the frame, then erase everything below.
    if (drawn > 0) stream.write(`\x1b[${drawn}F\x1b[J`);
    drawn = 0;
  };
  const draw = (job: JobView) => {
    const lines = renderFrame(job, stream.columns || 80, stream.rows || 24);
    drawnText = `${lines.join('\n')}\n`;
    stream.write(drawnText);
    drawn = lines.length;
  };
  stream.write('\x1b[?25l'); // hide the cursor while redrawing
  return {
    update(job) {
      if (closed) return;
      last = job;
      const lines = renderFrame(job, stream.columns || 80, stream.rows || 24);
      if (drawn > 0 && `${lines.join('\n')}\n` === drawnText) return; // nothing moved: no flicker
      clear();
      draw(job);
    },
    finish(job) {
      if (closed) return;
      last = job;
      clear();
      draw(job);
      drawn = 0; // the final frame stays on screen
    },
    log(line) {
      if (closed) {
        stream.write(`${line}\n`);
        return;
      }
      clear();
      stream.write(`${line}\n`);
      if (last) draw(last);
    },
    close() {
      if (closed) return;
      closed = true;
      stream.write('\x1b[?25h');
    },
  };
}

export function progressDisplay(stream: NodeJS.WriteStream): ProgressDisplay {
  return stream.isTTY ? terminalProgress(stream) : plainProgress((text) => stream.write(text));
}
