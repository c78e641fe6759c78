import { environmentOf, intVariable, readConfig, stringVariable, variableNames, type Config, type Env, type EnvironmentValues } from '../shared/env.js';

/** Every variable the sampler reads: its field, its name and the values it accepts. */
export const SAMPLER_VARIABLES = {
  progressFunctionName: stringVariable('PROGRESS_FUNCTION_NAME'),
  /** Least time between two progress reports of a run (0: at every block boundary, for tests). */
  reportIntervalMs: intVariable('REPORT_INTERVAL_MS', 0, 60_000),
} as const;

/** Field → environment variable name, e.g. `SAMPLER_ENV.reportIntervalMs` is `'REPORT_INTERVAL_MS'`. */
export const SAMPLER_ENV = variableNames(SAMPLER_VARIABLES);

export type SamplerConfig = Config<typeof SAMPLER_VARIABLES>;
export type SamplerEnvironment = EnvironmentValues<typeof SAMPLER_VARIABLES>;

/** Reads and checks the whole configuration; a missing or malformed variable throws, naming it. */
export function readSamplerConfig(env: Env = process.env): SamplerConfig {
  return readConfig(SAMPLER_VARIABLES, env);
}

/** The function's `environment` record. */
export function samplerEnvironment(values: SamplerEnvironment): Record<string, string> {
  return environmentOf(SAMPLER_VARIABLES, values);
}
