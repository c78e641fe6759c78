// Configuration fails fast: a handler reads all of its environment at cold start, not on first use,
// and a missing or malformed value is an error naming the variable and what it accepts. No value
// is ever replaced by a default: the stack writes every variable, so a missing one is a mistake.

/** Where configuration is read from: `process.env`, or a test's record. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A string variable, such as a table or function name. */
export interface StringVariable<N extends string = string> {
  readonly kind: 'string';
  readonly name: N;
  /** Set by the Lambda runtime (such as AWS_LAMBDA_FUNCTION_NAME), not by the stack. */
  readonly setByLambda: boolean;
}

/** An integer variable with its allowed range, both ends included. */
export interface IntVariable<N extends string = string> {
  readonly kind: 'int';
  readonly name: N;
  readonly min: number;
  readonly max: number;
}

export type Variable = StringVariable | IntVariable;
export type Variables = Readonly<Record<string, Variable>>;

export const stringVariable = <N extends string>(name: N): StringVariable<N> & { readonly setByLambda: false } => ({
  kind: 'string',
  name,
  setByLambda: false,
});

/** A variable the Lambda runtime sets for every function; the stack does not write it. */
export const lambdaVariable = <N extends string>(name: N): StringVariable<N> & { readonly setByLambda: true } => ({
  kind: 'string',
  name,
  setByLambda: true,
});

export const intVariable = <N extends string>(name: N, min: number, max: number): IntVariable<N> => {
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max) throw new Error(`${name}: bad range ${min}..${max}`);
  return { kind: 'int', name, min, max };
};

type ValueOf<V extends Variable> = V extends IntVariable ? number : string;

/** The typed configuration a set of variables reads into. */
export type Config<V extends Variables> = { readonly [K in keyof V]: ValueOf<V[K]> };

/** The values the stack writes: every variable but those Lambda sets. */
export type EnvironmentValues<V extends Variables> = {
  readonly [K in keyof V as V[K] extends { readonly setByLambda: true } ? never : K]: ValueOf<V[K]>;
};

/** Field → variable name, with the names as literal types. */
export type VariableNames<V extends Variables> = { readonly [K in keyof V]: V[K]['name'] };

export function variableNames<V extends Variables>(variables: V): VariableNames<V> {
  return Object.fromEntries(Object.entries(variables).map(([field, v]) => [field, v.name])) as VariableNames<V>;
}

/** "an integer from 1 to 10000" */
export function describeRange(range: { readonly min: number; readonly max: number }): string {
  return `an integer from ${range.min} to ${range.max}`;
}

export function isInRange(value: number, range: { readonly min: number; readonly max: number }): boolean {
  return Number.isSafeInteger(value) && value >= range.min && value <= range.max;
}

export function readString(env: Env, variable: StringVariable): string {
  const value = env[variable.name];
  if (value === undefined || value === '') throw new Error(`${variable.name} environment variable is not set`);
  return value;
}

/** Decimal digits only: "1e3", "0x10", "5.0" and " 5" are mistakes, not numbers. */
const DECIMAL_INTEGER = /^-?\d+$/;

export function readInt(env: Env, variable: IntVariable): number {
  const raw = env[variable.name];
  if (raw === undefined || raw === '') {
    throw new Error(`${variable.name} environment variable is not set; it must be ${describeRange(variable)}`);
  }
  const value = DECIMAL_INTEGER.test(raw) ? Number(raw) : Number.NaN;
  if (!isInRange(value, variable)) {
    throw new Error(`${variable.name} environment variable must be ${describeRange(variable)}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Reads and checks every variable; the first missing or malformed one throws. */
export function readConfig<V extends Variables>(variables: V, env: Env): Config<V> {
  return Object.fromEntries(
    Object.entries(variables).map(([field, v]) => [field, v.kind === 'int' ? readInt(env, v) : readString(env, v)]),
  ) as Config<V>;
}

/**
 * The `environment` record of a function, from typed values: the names come from the variables,
 * and a value its handler would refuse at cold start is refused here already.
 */
export function environmentOf<V extends Variables>(variables: V, values: EnvironmentValues<V>): Record<string, string> {
  const given = values as Readonly<Record<string, string | number>>;
  const environment: Record<string, string> = {};
  for (const [field, v] of Object.entries(variables)) {
    if (v.kind === 'string' && v.setByLambda) continue;
    const value = given[field];
    if (v.kind === 'int') {
      if (typeof value !== 'number' || !isInRange(value, v)) {
        throw new Error(`${v.name} must be ${describeRange(v)}, got ${String(value)}`);
      }
      environment[v.name] = String(value);
    } else {
      if (typeof value !== 'string' || value === '') throw new Error(`${v.name} must be a non-empty string, got ${String(value)}`);
      environment[v.name] = value;
    }
  }
  return environment;
}

/** One function's configuration: its variables, their names, its reader and the stack's writer. */
export interface FunctionConfig<V extends Variables> {
  readonly variables: V;
  /** Field → variable name, e.g. `names.stallSeconds` is `'STALL_SECONDS'`. */
  readonly names: VariableNames<V>;
  /** Reads and checks the whole configuration; a missing or malformed variable throws, naming it. */
  read(env?: Env): Config<V>;
  /** The function's `environment` record (everything but what Lambda sets). */
  environment(values: EnvironmentValues<V>): Record<string, string>;
}

export function functionConfig<V extends Variables>(variables: V): FunctionConfig<V> {
  return {
    variables,
    names: variableNames(variables),
    read: (env = process.env) => readConfig(variables, env),
    environment: (values) => environmentOf(variables, values),
  };
}
