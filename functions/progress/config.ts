import { functionConfig, stringVariable } from '../shared/env.js';

/** Every variable the progress function reads. */
const VARIABLES = {
  tableName: stringVariable('TABLE_NAME'),
} as const;

export const progressConfig = functionConfig(VARIABLES);
/** Field → environment variable name, e.g. `PROGRESS_ENV.tableName`. */
export const PROGRESS_ENV = progressConfig.names;
export type ProgressConfig = ReturnType<typeof progressConfig.read>;
