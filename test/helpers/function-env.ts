// Tests tune a function by its configuration's fields (`stallSeconds: 2`), never by spelling its
// variable names: the function's config module names them once.
import { orchestratorConfig, type OrchestratorConfig } from '../../functions/orchestrator/config.js';
import { progressConfig, type ProgressConfig } from '../../functions/progress/config.js';
import { samplerConfig, type SamplerConfig } from '../../functions/sampler/config.js';

/** Settings per function, by field. */
export interface FunctionSettings {
  orchestrator?: Partial<OrchestratorConfig>;
  sampler?: Partial<SamplerConfig>;
  progress?: Partial<ProgressConfig>;
}

/** Field → value, as variable name → value. */
function named(names: Readonly<Record<string, string>>, values: Readonly<Record<string, string | number>> = {}): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([field, value]) => [names[field]!, String(value)]));
}

/** The environment variables of each function's settings. */
export function variablesFor(settings: FunctionSettings): { orchestrator: Record<string, string>; sampler: Record<string, string>; progress: Record<string, string> } {
  return {
    orchestrator: named(orchestratorConfig.names, settings.orchestrator),
    sampler: named(samplerConfig.names, settings.sampler),
    progress: named(progressConfig.names, settings.progress),
  };
}
