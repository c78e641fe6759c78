import { functionConfig, intVariable, stringVariable } from '../shared/env.js';

/** Every variable the sampler reads: its field, its name and the values it accepts. */
const VARIABLES = {
  progressFunctionName: stringVariable('PROGRESS_FUNCTION_NAME'),
  /** Least time between two progress reports of a run (0: at every block boundary, for tests). */
  reportIntervalMs: intVariable('REPORT_INTERVAL_MS', 0, 60_000),
} as const;

export const samplerConfig = functionConfig(VARIABLES);
/** Field → environment variable name, e.g. `SAMPLER_ENV.reportIntervalMs`. */
export const SAMPLER_ENV = samplerConfig.names;
export type SamplerConfig = ReturnType<typeof samplerConfig.read>;
