import { environmentOf, readConfig, stringVariable, variableNames, type Config, type Env, type EnvironmentValues } from '../shared/env.js';

/** Every variable the progress function reads. */
export const PROGRESS_VARIABLES = {
  tableName: stringVariable('TABLE_NAME'),
} as const;

/** Field → environment variable name: `PROGRESS_ENV.tableName` is `'TABLE_NAME'`. */
export const PROGRESS_ENV = variableNames(PROGRESS_VARIABLES);

export type ProgressConfig = Config<typeof PROGRESS_VARIABLES>;
export type ProgressEnvironment = EnvironmentValues<typeof PROGRESS_VARIABLES>;

/** Reads and checks the whole configuration; a missing variable throws, naming it. */
export function readProgressConfig(env: Env = process.env): ProgressConfig {
  return readConfig(PROGRESS_VARIABLES, env);
}

/** The function's `environment` record. */
export function progressEnvironment(values: ProgressEnvironment): Record<string, string> {
  return environmentOf(PROGRESS_VARIABLES, values);
}
