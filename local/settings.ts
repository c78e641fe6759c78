// Per-function settings given from outside the template, as `sam local --env-vars env.json` does:
// environment overrides and timeouts, keyed by logical id or construct name.
import { readFileSync } from 'node:fs';
import type { FunctionDef } from './stack.js';
import { isObject } from './template.js';

/** Variables by function (logical id or construct name); `Parameters` applies to every function, as in SAM's env.json. */
export type EnvOverrides = Record<string, Record<string, string | number | boolean>>;
/** Timeout in seconds by function (logical id or construct name). */
export type TimeoutOverrides = Record<string, number>;

/** What a numeric setting accepts: at least `min`, at most `max`, a whole number when `integer`. */
export interface NumberRange {
  min: number;
  max: number;
  integer?: boolean;
}

/** Milliseconds a timer can wait (Node's setTimeout caps delays at 2^31 - 1). */
export const MS_RANGE: NumberRange = { min: 0, max: 2 ** 31 - 1, integer: true };

/**
 * Reads a number given as text for `name` (a setting's name, used in the error): a plain decimal
 * number within the range. Anything else (a typo, units, a value out of range) is an error naming
 * the setting, never a silent default.
 */
export function parseNumberSetting(name: string, text: string, range: NumberRange): number {
  const trimmed = text.trim();
  const n = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(trimmed) ? Number(trimmed) : NaN;
  const kind = range.integer ? 'a whole number' : 'a number';
  if (!Number.isFinite(n) || (range.integer && !Number.isInteger(n)) || n < range.min || n > range.max) {
    throw new Error(`${name} must be ${kind} from ${range.min} to ${range.max}, got "${text}"`);
  }
  return n;
}

/**
 * The rule for every numeric LOCAL_CLOUD_* environment variable: unset or empty means the default
 * (undefined here); any other value must be a number in range (see parseNumberSetting).
 */
export function numberSetting(envName: string, range: NumberRange): number | undefined {
  const raw = process.env[envName];
  if (raw === undefined || raw.trim() === '') return undefined;
  return parseNumberSetting(envName, raw, range);
}

/** The JSON an environment variable names: a file path, or the JSON itself when it starts with `{`. */
export function readJsonSetting(envName: string): unknown {
  const raw = process.env[envName];
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim().startsWith('{') ? raw : readFileSync(raw, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${envName}: not valid JSON (${(err as Error).message})`);
  }
}

/** What a function is known by: its logical id and its construct name. */
type FunctionNames = Pick<FunctionDef, 'logicalId' | 'friendlyName'>;

/** Finds a function by logical id or construct name (case-insensitive), like `sam local invoke`. */
export function findFunction<F extends FunctionNames>(functions: readonly F[], key: string): F | undefined {
  const lower = key.toLowerCase();
  return (
    functions.find((f) => f.logicalId === key) ??
    functions.find((f) => f.logicalId.toLowerCase() === lower || f.friendlyName.toLowerCase() === lower)
  );
}

/** The message for a name no function has, listing the names there are. */
export function noSuchFunction(key: string, functions: readonly FunctionNames[]): string {
  const names = functions.map((f) => `${f.friendlyName} (${f.logicalId})`).join(', ');
  return `no function "${key}" in the template; choose one of: ${names}`;
}

export function functionNamed<F extends FunctionNames>(where: string, key: string, functions: readonly F[]): F {
  const fn = findFunction(functions, key);
  if (fn) return fn;
  throw new Error(`${where}: ${noSuchFunction(key, functions)}`);
}

/**
 * Applies environment and timeout overrides to the function definitions, in place: first those
 * of the files named by LOCAL_CLOUD_ENV_VARS / LOCAL_CLOUD_TIMEOUTS, then the options. Unlike SAM,
 * a variable the template does not declare is added too.
 */
export function applyOverrides(functions: FunctionDef[], env: EnvOverrides | undefined, timeouts: TimeoutOverrides | undefined): void {
  forEachEntry('LOCAL_CLOUD_ENV_VARS', 'envOverrides', env, (where, key, vars) => {
    if (!isObject(vars)) throw new Error(`${where}.${key} must be an object of variables`);
    const targets = key === 'Parameters' ? functions : [functionNamed(where, key, functions)];
    for (const [name, v] of Object.entries(vars)) {
      if (!['string', 'number', 'boolean'].includes(typeof v)) throw new Error(`${where}.${key}.${name} must be a string, number or boolean`);
      for (const fn of targets) fn.environment[name] = String(v);
    }
  });
  forEachEntry('LOCAL_CLOUD_TIMEOUTS', 'timeoutOverrides', timeouts, (where, key, seconds) => {
    const fn = functionNamed(where, key, functions);
    // Lambda's range: 1 s to 15 min; fractions help tests.
    if (typeof seconds !== 'number' || !(seconds > 0 && seconds <= 900)) throw new Error(`${where}.${key} must be seconds between 0 and 900`);
    fn.timeoutSeconds = seconds;
  });
}

/** Visits each entry of the JSON object the variable `envName` names, then of the option (`where` names the source). */
function forEachEntry(envName: string, optionName: string, option: unknown, visit: (where: string, key: string, value: unknown) => void): void {
  const sources: [string, unknown][] = [
    [envName, readJsonSetting(envName)],
    [optionName, option],
  ];
  for (const [where, value] of sources) {
    if (value === undefined) continue;
    if (!isObject(value)) throw new Error(`${where} must be a JSON object`);
    for (const [key, entry] of Object.entries(value)) visit(where, key, entry);
  }
}
