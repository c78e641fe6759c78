// CloudWatch embedded metric format (EMF): a function logs a JSON object whose `_aws` member says
// which of its members are metrics, in which namespace and by which dimensions; CloudWatch Logs
// turns it into metrics. The local cloud does the same with the lines its workers write.

/** Units CloudWatch accepts (PutMetricData's StandardUnit). */
const UNITS = new Set([
  'Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Kilobytes', 'Megabytes', 'Gigabytes', 'Terabytes',
  'Bits', 'Kilobits', 'Megabits', 'Gigabits', 'Terabits', 'Percent', 'Count',
  'Bytes/Second', 'Kilobytes/Second', 'Megabytes/Second', 'Gigabytes/Second', 'Terabytes/Second',
  'Bits/Second', 'Kilobits/Second', 'Megabits/Second', 'Gigabits/Second', 'Terabits/Second', 'Count/Second', 'None',
]);
/** EMF's limits: dimensions per set, values per metric. */
const MAX_DIMENSIONS = 30;
const MAX_VALUES = 100;

/** One metric value as CloudWatch would receive it. */
export interface MetricDatum {
  namespace: string;
  name: string;
  unit: string;
  /** Dimension name → value, e.g. `{ service: 'sampler' }`. */
  dimensions: Record<string, string>;
  values: number[];
}

/** What the local cloud made of a function's metric: every value of one namespace, name and dimension set. */
export interface MetricStat {
  namespace: string;
  name: string;
  unit: string;
  dimensions: Record<string, string>;
  sum: number;
  count: number;
  min: number;
  max: number;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The metrics of one log line: undefined when the line is no EMF blob (not a JSON object with
 * `_aws`), the data when it is a valid one; throws an Error saying what is wrong with an invalid one.
 */
export function readEmf(line: string): MetricDatum[] | undefined {
  const text = line.trim();
  if (!text.startsWith('{') || !text.includes('"_aws"')) return undefined;
  let blob: unknown;
  try {
    blob = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(blob) || !('_aws' in blob)) return undefined;
  const aws = blob._aws;
  if (!isObject(aws)) throw new Error('_aws is not an object');
  if (typeof aws.Timestamp !== 'number') throw new Error('_aws.Timestamp is not a number');
  if (!Array.isArray(aws.CloudWatchMetrics)) throw new Error('_aws.CloudWatchMetrics is not an array');
  const data: MetricDatum[] = [];
  for (const directive of aws.CloudWatchMetrics as unknown[]) {
    if (!isObject(directive)) throw new Error('a CloudWatchMetrics entry is not an object');
    const namespace = directive.Namespace;
    if (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > 255) throw new Error('Namespace must be a string of 1 to 255 characters');
    const sets = directive.Dimensions;
    if (!Array.isArray(sets)) throw new Error(`${namespace}: Dimensions is not an array`);
    const dimensionSets = sets.map((set: unknown) => {
      if (!Array.isArray(set) || set.length > MAX_DIMENSIONS) throw new Error(`${namespace}: a dimension set is not an array of at most ${MAX_DIMENSIONS} names`);
      return Object.fromEntries(
        set.map((name: unknown) => {
          if (typeof name !== 'string' || typeof blob[name] !== 'string') throw new Error(`${namespace}: dimension ${String(name)} has no string value`);
          return [name, blob[name] as string];
        }),
      );
    });
    if (!Array.isArray(directive.Metrics) || directive.Metrics.length === 0) throw new Error(`${namespace}: Metrics is not a non-empty array`);
    for (const definition of directive.Metrics as unknown[]) {
      if (!isObject(definition) || typeof definition.Name !== 'string' || definition.Name.length === 0) throw new Error(`${namespace}: a metric definition has no Name`);
      const name = definition.Name;
      const unit = definition.Unit ?? 'None';
      if (typeof unit !== 'string' || !UNITS.has(unit)) throw new Error(`${namespace}/${name}: unknown unit ${JSON.stringify(unit)}`);
      const raw = blob[name];
      const values = Array.isArray(raw) ? raw : [raw];
      if (values.length === 0 || values.length > MAX_VALUES || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new Error(`${namespace}/${name}: the value is not a number or an array of 1 to ${MAX_VALUES} numbers`);
      }
      // No dimension set at all is one metric without dimensions.
      for (const dimensions of dimensionSets.length > 0 ? dimensionSets : [{}]) data.push({ namespace, name, unit, dimensions, values: values as number[] });
    }
  }
  return data;
}

/** The functions' metrics, read from their log lines and aggregated as CloudWatch statistics. */
export class LocalMetrics {
  private readonly stats = new Map<string, MetricStat>();
  /** Functions already warned about an invalid blob: one warning each, not one per line. */
  private readonly warned = new Set<string>();

  constructor(private readonly warn: (text: string) => void) {}

  /** Reads one line a function wrote; anything but an EMF blob is ignored. */
  read(fn: string, line: string): void {
    let data: MetricDatum[] | undefined;
    try {
      data = readEmf(line);
    } catch (error) {
      if (!this.warned.has(fn)) {
        this.warned.add(fn);
        this.warn(`${fn}: invalid EMF blob ignored (${(error as Error).message}); further invalid blobs of ${fn} are ignored without a warning`);
      }
      return;
    }
    for (const datum of data ?? []) this.add(datum);
  }

  /** Every metric read so far, by namespace, name and dimension set. */
  snapshot(): MetricStat[] {
    return [...this.stats.values()].map((stat) => ({ ...stat, dimensions: { ...stat.dimensions } }));
  }

  clear(): void {
    this.stats.clear();
  }

  private add({ namespace, name, unit, dimensions, values }: MetricDatum): void {
    const dims = Object.entries(dimensions).sort(([a], [b]) => a.localeCompare(b));
    const key = JSON.stringify([namespace, name, dims]);
    let stat = this.stats.get(key);
    if (!stat) {
      stat = { namespace, name, unit, dimensions: Object.fromEntries(dims), sum: 0, count: 0, min: Infinity, max: -Infinity };
      this.stats.set(key, stat);
    }
    for (const value of values) {
      stat.sum += value;
      stat.count++;
      stat.min = Math.min(stat.min, value);
      stat.max = Math.max(stat.max, value);
    }
  }
}
