import type { Page } from 'playwright-core';

// Main-thread time of a page, read from Chromium's own trace. A task's thread time (`tdur`) is the CPU
// time its thread spent on it, so on a loaded machine the waits for a core are not counted: what the
// page costs, not how busy the machine was.

/** One task the page's main thread ran, in milliseconds. */
export interface MainThreadTask {
  start: number;
  end: number;
  /** CPU time of the main thread in the task. */
  cpu: number;
}

export interface MainThreadTrace {
  /** The renderer's top-level tasks, in order. */
  tasks: MainThreadTask[];
  /** Every `performance.mark` the page made, by name: when (same clock as the tasks). */
  marks: Map<string, number[]>;
}

interface TraceEvent {
  name: string;
  cat: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
}

const CATEGORIES = ['disabled-by-default-devtools.timeline', 'blink.user_timing'];

/** Traces the page while `run` runs; the tasks are those of the thread that made the page's marks. */
export async function traceMainThread(page: Page, run: () => Promise<void>): Promise<MainThreadTrace> {
  const session = await page.context().newCDPSession(page);
  const events: TraceEvent[] = [];
  session.on('Tracing.dataCollected', ({ value }) => events.push(...(value as unknown as TraceEvent[])));
  const complete = new Promise<void>((resolve) => session.once('Tracing.tracingComplete', () => resolve()));
  await session.send('Tracing.start', { traceConfig: { includedCategories: CATEGORIES }, transferMode: 'ReportEvents' });
  try {
    await run();
  } finally {
    await session.send('Tracing.end');
    await complete;
    await session.detach();
  }

  const marks = new Map<string, number[]>();
  const userTiming = events.filter((e) => e.cat.includes('blink.user_timing') && (e.ph === 'I' || e.ph === 'R' || e.ph === 'i'));
  for (const e of userTiming) marks.set(e.name, [...(marks.get(e.name) ?? []), e.ts / 1000]);
  const thread = userTiming[0];
  const tasks: MainThreadTask[] = [];
  if (thread) {
    const runs = events
      .filter((e) => e.name === 'RunTask' && e.ph === 'X' && e.pid === thread.pid && e.tid === thread.tid)
      .sort((a, b) => a.ts - b.ts);
    let end = -Infinity;
    for (const e of runs) {
      if (e.ts < end) continue; // nested in the task before it: already counted there
      end = e.ts + (e.dur ?? 0);
      tasks.push({ start: e.ts / 1000, end: end / 1000, cpu: (e.tdur ?? e.dur ?? 0) / 1000 });
    }
  }
  return { tasks, marks };
}

/** The task running at `at` (a mark's time), if any. */
export const taskAt = (trace: MainThreadTrace, at: number): MainThreadTask | undefined =>
  trace.tasks.find((task) => task.start <= at && at <= task.end);
