/** Configuration fails fast: handlers read their environment at cold start, not on first use. */
export function getStringFromEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} environment variable is not set`);
  return value;
}

export function getIntFromEnv(name: string, fallback?: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`${name} environment variable is not set`);
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} environment variable must be a non-negative integer, got "${raw}"`);
  }
  return value;
}
