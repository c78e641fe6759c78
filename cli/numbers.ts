import { isAbsolute, relative } from 'node:path';

/** A path as the user would type it: relative to the working folder when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/** A user mistake on the command line: printed as one line, never as a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Reads a count the way people write big numbers: `100000000`, `1e8`, `2.5e6`, `100_000_000`,
 * `100,000,000`. The value is passed on as the number it denotes, even when the API will refuse it
 * (0, 1.5, too big): the API owns the rules and says what to fix.
 */
export function parseCount(option: string, text: string): number {
  const cleaned = text.trim().replace(/[_,](?=\d)/g, '');
  const value = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(cleaned) ? Number(cleaned) : Number.NaN;
  if (!Number.isFinite(value)) {
    throw new UsageError(`${option} must be a number like 100000000 or 1e8, got "${text}"`);
  }
  return value;
}

/** A TCP port: a whole number from 0 (any free one) to 65535. */
export function parsePort(option: string, text: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!(value >= 0 && value <= 65_535)) throw new UsageError(`${option} must be a port from 0 to 65535, got "${text}"`);
  return value;
}

const grouped = new Intl.NumberFormat('en-US');

/** 100000000 → "100,000,000". */
export function formatCount(value: number): string {
  return grouped.format(value);
}

/** Seconds with a sensible number of digits: 0.042 s, 1.23 s, 12.3 s, 123 s. */
export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  if (s < 1) return `${s.toFixed(3)} s`;
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 100) return `${s.toFixed(1)} s`;
  return `${Math.round(s)} s`;
}

/** 238123456.7 → "238 M", for rates. */
export function formatRate(perSecond: number): string {
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, unit] of units) {
    if (perSecond >= size) return `${(perSecond / size).toPrecision(3)} ${unit}`;
  }
  return String(Math.round(perSecond));
}
