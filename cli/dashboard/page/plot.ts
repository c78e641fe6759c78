/// <reference lib="dom" />
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { ConvergencePoint } from './contract.js';
import { formatCount } from './format.js';

const HEIGHT = 300;
/** Early estimates swing far: keep the axis where the interval closes in on π. */
const Y_LIMITS: [number, number] = [Math.PI - 0.25, Math.PI + 0.25];

/**
 * The estimate against samples done (log x), its 95 % interval as a band, and π as a line. The
 * canvas is described in words (its aria-label) for those who cannot see it.
 */
export class ConvergencePlot {
  private readonly plot: uPlot;
  private readonly data: [number[], number[], number[], number[], number[]] = [[], [], [], [], []];

  constructor(private readonly container: HTMLElement) {
    container.setAttribute('role', 'img');
    const options: uPlot.Options = {
      width: Math.max(280, container.clientWidth),
      height: HEIGHT,
      scales: {
        x: { time: false, distr: 3 },
        y: {
          range: (_u, min, max) => {
            const low = Math.max(Y_LIMITS[0], Math.min(min, Math.PI));
            const high = Math.min(Y_LIMITS[1], Math.max(max, Math.PI));
            const pad = Math.max(1e-6, (high - low) * 0.1);
            return [low - pad, high + pad];
          },
        },
      },
      axes: [
        { label: 'samples done (log scale)', values: (_u, ticks) => ticks.map((t) => (t == null ? '' : shortCount(t))) },
        { label: 'estimate of π', size: 76, values: (_u, ticks) => fixedTicks(ticks) },
      ],
      series: [
        { label: 'samples' },
        { label: 'estimate', stroke: '#0b57d0', width: 2, value: (_u, v) => (v == null ? '–' : v.toFixed(6)) },
        { label: '95 % low', stroke: '#7a9cd6', width: 1, value: (_u, v) => (v == null ? '–' : v.toFixed(6)) },
        { label: '95 % high', stroke: '#7a9cd6', width: 1, value: (_u, v) => (v == null ? '–' : v.toFixed(6)) },
        { label: 'π', stroke: '#b3261e', width: 1.5, dash: [6, 4], value: () => Math.PI.toFixed(6) },
      ],
      bands: [{ series: [3, 2], fill: 'rgba(11, 87, 208, 0.14)' }],
      legend: { live: true },
    };
    this.plot = new uPlot(options, this.data, container);
    new ResizeObserver(() => {
      const width = Math.max(280, container.clientWidth);
      if (width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
    }).observe(container);
    this.describe();
  }

  /** Starts over with these points (a job opened anew). */
  reset(points: readonly ConvergencePoint[]): void {
    this.data.forEach((column) => (column.length = 0));
    for (const point of points) this.push(point);
    this.redraw();
  }

  /** Adds the newest point if samples advanced; returns whether it did. */
  add(point: ConvergencePoint): boolean {
    const x = this.data[0];
    if (x.length > 0 && x[x.length - 1]! >= point[0]) return false;
    this.push(point);
    this.redraw();
    return true;
  }

  private push([done, pi, low, high]: ConvergencePoint): void {
    this.data[0].push(done);
    this.data[1].push(pi);
    this.data[2].push(low);
    this.data[3].push(high);
    this.data[4].push(Math.PI);
  }

  private redraw(): void {
    this.plot.setData(this.data);
    this.describe();
  }

  private describe(): void {
    const n = this.data[0].length;
    this.container.setAttribute(
      'aria-label',
      n === 0
        ? 'Convergence plot: no samples yet'
        : `Convergence plot: after ${formatCount(this.data[0][n - 1]!)} samples the estimate is ${this.data[1][n - 1]!.toFixed(6)}, ` +
            `95 % interval ${this.data[2][n - 1]!.toFixed(6)} to ${this.data[3][n - 1]!.toFixed(6)}; π is ${Math.PI.toFixed(6)}`,
    );
    this.container.dataset.points = String(n);
  }
}

/** 1e6 → "1M": short tick labels. */
function shortCount(value: number): string {
  for (const [size, unit] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (value >= size) return `${+(value / size).toPrecision(3)}${unit}`;
  }
  return String(value);
}

/** Tick labels with as many decimals as the step between ticks needs (3.1415, 3.1420, not 3.142 twice). */
function fixedTicks(ticks: number[]): string[] {
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1;
  const decimals = Math.min(10, Math.max(0, Math.ceil(-Math.log10(step || 1))));
  return ticks.map((t) => t.toFixed(decimals));
}
