/// <reference lib="dom" />
import type { JobView } from './contract.js';
import { formatCount, formatPercent } from './format.js';

type TaskView = JobView['taskProgress'][number];

const HINT = 'Point at a task, or focus the grid and use the arrow keys, to see its numbers.';

/** Fill levels a cell shows: a change smaller than one step is not worth touching the page for. */
const STEPS = 20;

interface CellState {
  step: number;
  kind: 'waiting' | 'running' | 'done' | 'failed';
  /** Started more than once: shown by stripes over whatever else the cell shows. */
  restarted: boolean;
}

function cellState(task: TaskView): CellState {
  const restarted = (task.invocations ?? 0) > 1;
  const step = Math.floor(task.progress * STEPS);
  if (task.failure !== undefined && task.done < task.samples) return { step, kind: 'failed', restarted };
  if (task.done >= task.samples) return { step: STEPS, kind: 'done', restarted };
  if (task.invocations === 0 && task.done === 0) return { step, kind: 'waiting', restarted };
  return { step, kind: 'running', restarted };
}

const sameState = (a: CellState, b: CellState) => a.step === b.step && a.kind === b.kind && a.restarted === b.restarted;

/** A task's numbers in words: what hover or keyboard focus shows. */
export function describeTask(task: TaskView): string {
  const parts = [`Task ${task.taskId}: ${formatCount(task.done)} of ${formatCount(task.samples)} samples (${formatPercent(task.progress)})`];
  if (task.invocations !== undefined) {
    parts.push(`${task.invocations} invocation${task.invocations === 1 ? '' : 's'}${task.invocations > 1 ? ' (restarted)' : ''}`);
  }
  if (task.failure !== undefined) parts.push(`failed: ${task.failure}`);
  return parts.join(' · ');
}

/**
 * Every task of a job as one small cell, filled as far as the task has come. Updates touch only the
 * cells whose fill step or state changed, so a 1,000-task job stays cheap to redraw. Failed cells
 * carry a cross and restarted ones stripes, not only a colour. The grid is one tab stop: arrow keys,
 * Home and End move between tasks, and the task under the pointer or the keyboard is described in
 * `detail`.
 */
export class TaskGrid {
  readonly element: HTMLElement;
  private cells: HTMLElement[] = [];
  private states: CellState[] = [];
  private tasks: TaskView[] = [];
  private active = 0;
  private shown: number | undefined;

  constructor(private readonly detail: HTMLElement) {
    this.element = document.createElement('div');
    this.element.className = 'task-grid';
    this.element.id = 'task-grid';
    this.element.tabIndex = 0;
    this.element.setAttribute('role', 'listbox');
    this.element.setAttribute('aria-describedby', 'task-detail');
    this.element.addEventListener('keydown', (event) => this.onKey(event));
    this.element.addEventListener('focus', () => this.show(this.active));
    this.element.addEventListener('mouseover', (event) => {
      const index = Number((event.target as HTMLElement).dataset.task);
      if (Number.isInteger(index)) this.show(index);
    });
    this.element.addEventListener('mouseleave', () => document.activeElement === this.element || this.hide());
    this.element.addEventListener('blur', () => this.hide());
  }

  /** Shows the job's tasks; returns how many cells changed. */
  update(tasks: readonly TaskView[]): number {
    this.tasks = tasks as TaskView[];
    if (this.cells.length !== tasks.length) this.build(tasks.length);
    let changed = 0;
    for (let i = 0; i < tasks.length; i++) {
      const next = cellState(tasks[i]!);
      const before = this.states[i]!;
      if (sameState(before, next)) continue;
      const cell = this.cells[i]!;
      if (before.step !== next.step) cell.style.setProperty('--p', String(next.step / STEPS));
      if (before.kind !== next.kind || before.restarted !== next.restarted) cell.className = `task ${next.kind}${next.restarted ? ' restarted' : ''}`;
      this.states[i] = next;
      changed++;
    }
    if (this.shown !== undefined) this.describe(this.shown);
    return changed;
  }

  private build(count: number): void {
    // One string parsed once is much faster than a thousand createElement calls.
    this.element.innerHTML = Array.from(
      { length: count },
      (_, i) => `<div class="task waiting" id="task-${i}" data-task="${i}" role="option" aria-selected="false"></div>`,
    ).join('');
    this.cells = Array.from(this.element.children) as HTMLElement[];
    this.states = this.cells.map(() => ({ step: -1, kind: 'waiting', restarted: false }));
    this.element.dataset.size = count > 200 ? 'small' : count > 40 ? 'medium' : 'large';
    this.element.setAttribute('aria-label', `Tasks (${count}): arrow keys move between them`);
    this.active = 0;
    this.shown = undefined;
  }

  private onKey(event: KeyboardEvent): void {
    const count = this.cells.length;
    if (count === 0) return;
    const columns = this.columns();
    const moves: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: columns,
      ArrowUp: -columns,
      Home: -count,
      End: count,
      PageDown: columns * 5,
      PageUp: -columns * 5,
    };
    const move = moves[event.key];
    if (move === undefined) return;
    event.preventDefault();
    this.show(Math.min(count - 1, Math.max(0, this.active + move)));
  }

  /** Cells per row as laid out now. */
  private columns(): number {
    const top = this.cells[0]?.offsetTop;
    const index = this.cells.findIndex((cell) => cell.offsetTop !== top);
    return index > 0 ? index : this.cells.length;
  }

  private show(index: number): void {
    if (index < 0 || index >= this.cells.length) return;
    this.cells[this.active]?.setAttribute('aria-selected', 'false');
    this.active = index;
    const cell = this.cells[index]!;
    cell.setAttribute('aria-selected', 'true');
    this.element.setAttribute('aria-activedescendant', cell.id);
    this.shown = index;
    this.describe(index);
  }

  private describe(index: number): void {
    const task = this.tasks[index];
    if (!task) return;
    const text = describeTask(task);
    this.cells[index]!.setAttribute('aria-label', text);
    if (this.detail.textContent !== text) this.detail.textContent = text;
  }

  private hide(): void {
    this.shown = undefined;
    this.detail.textContent = HINT;
  }
}
