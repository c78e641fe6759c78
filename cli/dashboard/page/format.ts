// Numbers as the page shows them: the CLI's formats (cli/numbers.ts, cli/output.ts), without Node.

const grouped = new Intl.NumberFormat('en-US');
const significant = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });

/** 100000000 → "100,000,000". */
export const formatCount = (value: number) => grouped.format(value);

/** π exactly as `npm start` prints it ("Estimated value of π is: 3.14159..."): every digit. */
export const formatPi = (pi: number) => String(pi);

/** Dollars to three significant digits, however small: $0.000213, $1.23. */
export const formatUsd = (usd: number) => `$${significant.format(usd)}`;

export const formatPercent = (fraction: number) => `${Math.floor(fraction * 1000) / 10} %`;

/** 238123456.7 → "238 M", for rates. */
export function formatRate(perSecond: number): string {
  for (const [size, unit] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']] as const) {
    if (perSecond >= size) return `${(perSecond / size).toPrecision(3)} ${unit}`;
  }
  return String(Math.round(perSecond));
}

/** A duration for people: 0.4 s, 12 s, 3 min 05 s, 2 h 03 min. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** How long ago: "12 s ago". */
export const formatAge = (ms: number) => `${formatDuration(ms)} ago`;

/** The standard error with three significant digits, like the CLI's. */
export const formatStandardError = (se: number) => se.toPrecision(3);
