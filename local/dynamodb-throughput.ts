// DynamoDB throughput by partition key: the units each request consumes, charged to its table and
// partition key value over a sliding second, and the hot-partition throttling of an on-demand table.
// Pure bookkeeping: the front (dynamodb-front.ts) decides, forwards and answers.

/** AWS's per-partition limits of an on-demand table; the local cloud may scale them down. */
export interface DynamoDbQuotas {
  partitionWcuPerSecond: number;
  partitionRcuPerSecond: number;
}

export interface PartitionCounters {
  /** Most write units in any sliding second. */
  peakWcuPerSecond: number;
  peakRcuPerSecond: number;
  /** Units consumed since the start (or the last reset). */
  wcu: number;
  rcu: number;
}

export interface DynamoDbQuotaCounters {
  /** Requests (or batch items) refused because their partition was hot. */
  throttles: { read: number; write: number };
  /** By `TABLE/PARTITION_KEY_VALUE` (`TABLE:INDEX/VALUE` for a global secondary index, `TABLE/*scan*` for scans): the newest 100,000. */
  partitions: Record<string, PartitionCounters>;
  totals: { wcu: number; rcu: number };
}

/** The units one partition key value consumed, as the bill counts them. */
export interface PartitionUnits {
  table: string;
  /** Set for a global secondary index's partition. */
  index?: string;
  /** The partition key value (`*scan*` for scans, which read every partition). */
  partitionKey: string;
  readUnits: number;
  writeUnits: number;
}

export type Access = 'read' | 'write';

/** The sliding second: 10 buckets of 100 ms. */
const BUCKET_MS = 100;
const BUCKETS = 10;
/** A partition idle this long leaves the window map (its counters stay). */
const IDLE_TICKS = 60_000 / BUCKET_MS;
/** Counters are kept for this many partitions at most, the least recently created go first. */
const MAX_PARTITIONS = 100_000;
/** The bucket of scans: never throttled (a scan reads every partition). */
export const SCAN_PARTITION = '*scan*';

/** Units consumed per bucket over the last second. */
class SlidingSecond {
  private readonly units = new Float64Array(BUCKETS);
  private readonly ticks = new Float64Array(BUCKETS).fill(-Infinity);

  add(units: number, tick: number, now: number): void {
    // A correction for a bucket already out of the window changes nothing the window sees.
    if (now - tick >= BUCKETS) return;
    const i = tick % BUCKETS;
    if (this.ticks[i] !== tick) {
      this.ticks[i] = tick;
      this.units[i] = 0;
    }
    this.units[i]! += units;
  }

  sum(now: number): number {
    let total = 0;
    for (let i = 0; i < BUCKETS; i++) if (now - this.ticks[i]! < BUCKETS) total += this.units[i]!;
    return total;
  }
}

interface Window {
  read: SlidingSecond;
  write: SlidingSecond;
  lastTick: number;
}

/** Units charged to a partition at admission; settled once the answer is known. */
export interface Charge {
  partition: string;
  access: Access;
  units: number;
  tick: number;
}

export class ThroughputMeter {
  private windows = new Map<string, Window>();
  private stats = new Map<string, PartitionCounters>();
  private totals = { wcu: 0, rcu: 0 };
  private throttles = { read: 0, write: 0 };
  private lastSweep = 0;

  constructor(private readonly quotas: DynamoDbQuotas | undefined) {}

  /** Whether the partition already used its limit in the last second (never with quotas off, never for scans). */
  isHot(partition: string, access: Access): boolean {
    if (!this.quotas || partition.endsWith(`/${SCAN_PARTITION}`)) return false;
    const window = this.windows.get(partition);
    if (!window) return false;
    const limit = access === 'write' ? this.quotas.partitionWcuPerSecond : this.quotas.partitionRcuPerSecond;
    return window[access].sum(this.tick()) >= limit;
  }

  throttled(access: Access): void {
    this.throttles[access]++;
  }

  /** Charges an estimate now, so concurrent requests see each other before their answers come. */
  charge(partition: string, access: Access, units: number): Charge {
    const charge = { partition, access, units: 0, tick: this.tick() };
    this.settle(charge, units);
    return charge;
  }

  /** Brings a charge to the units really consumed (0 for a request that did nothing). */
  settle(charge: Charge, units: number): void {
    const delta = units - charge.units;
    if (delta === 0) return;
    charge.units = units;
    const now = this.tick();
    const window = this.windowOf(charge.partition, now);
    window[charge.access].add(delta, charge.tick, now);
    const stats = this.statsOf(charge.partition);
    const perSecond = window[charge.access].sum(now);
    if (charge.access === 'write') {
      stats.wcu += delta;
      this.totals.wcu += delta;
      stats.peakWcuPerSecond = Math.max(stats.peakWcuPerSecond, perSecond);
    } else {
      stats.rcu += delta;
      this.totals.rcu += delta;
      stats.peakRcuPerSecond = Math.max(stats.peakRcuPerSecond, perSecond);
    }
  }

  counters(): DynamoDbQuotaCounters {
    return {
      throttles: { ...this.throttles },
      partitions: Object.fromEntries([...this.stats].map(([k, v]) => [k, { ...v }])),
      totals: { ...this.totals },
    };
  }

  /** Units consumed so far by each partition key value (the newest 100,000), oldest partition first. */
  units(): PartitionUnits[] {
    return [...this.stats].map(([partition, stats]) => ({ ...partitionNamed(partition), readUnits: stats.rcu, writeUnits: stats.wcu }));
  }

  reset(): void {
    this.stats.clear();
    this.totals = { wcu: 0, rcu: 0 };
    this.throttles = { read: 0, write: 0 };
    // The window stays: a reset forgets the history, not the load the partitions are under.
  }

  private tick(): number {
    return Math.floor(Date.now() / BUCKET_MS);
  }

  private windowOf(partition: string, now: number): Window {
    this.sweep(now);
    let window = this.windows.get(partition);
    if (!window) {
      window = { read: new SlidingSecond(), write: new SlidingSecond(), lastTick: now };
      this.windows.set(partition, window);
    }
    window.lastTick = now;
    return window;
  }

  private statsOf(partition: string): PartitionCounters {
    let stats = this.stats.get(partition);
    if (!stats) {
      if (this.stats.size >= MAX_PARTITIONS) this.stats.delete(this.stats.keys().next().value!);
      stats = { peakWcuPerSecond: 0, peakRcuPerSecond: 0, wcu: 0, rcu: 0 };
      this.stats.set(partition, stats);
    }
    return stats;
  }

  /** Drops the windows of idle partitions, at most once a second. */
  private sweep(now: number): void {
    if (now - this.lastSweep < BUCKETS) return;
    this.lastSweep = now;
    for (const [partition, window] of this.windows) if (now - window.lastTick > IDLE_TICKS) this.windows.delete(partition);
  }
}

/** Reads a partition's name, `TABLE/VALUE` or `TABLE:INDEX/VALUE` (table and index names have no `/` or `:`). */
function partitionNamed(partition: string): Pick<PartitionUnits, 'table' | 'index' | 'partitionKey'> {
  const slash = partition.indexOf('/');
  const [table, index] = partition.slice(0, slash).split(':') as [string, string | undefined];
  return { table, ...(index !== undefined && { index }), partitionKey: partition.slice(slash + 1) };
}

// ---- DynamoDB's unit arithmetic (AWS: "Capacity unit consumption") ----

export type AttributeValue = Record<string, unknown>;
export type Item = Record<string, AttributeValue>;

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** A number's size: about one byte per two significant digits, plus one (and one for the sign). */
function numberSize(n: string): number {
  const digits = n.replace(/^[-+]/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  if (digits.length === 0) return 1;
  return 1 + Math.ceil(digits.length / 2) + (n.startsWith('-') ? 1 : 0);
}

function valueSize(value: AttributeValue): number {
  const [type, v] = Object.entries(value)[0] ?? [];
  switch (type) {
    case 'S':
      return utf8Bytes(v as string);
    case 'N':
      return numberSize(v as string);
    case 'B':
      return Buffer.byteLength(v as string, 'base64');
    case 'SS':
      return (v as string[]).reduce((n, s) => n + utf8Bytes(s), 0);
    case 'NS':
      return (v as string[]).reduce((n, s) => n + numberSize(s), 0);
    case 'BS':
      return (v as string[]).reduce((n, s) => n + Buffer.byteLength(s, 'base64'), 0);
    case 'L':
      return 3 + (v as AttributeValue[]).reduce((n, e) => n + 1 + valueSize(e), 0);
    case 'M':
      return 3 + Object.entries(v as Item).reduce((n, [k, e]) => n + 1 + utf8Bytes(k) + valueSize(e), 0);
    default:
      // BOOL and NULL.
      return 1;
  }
}

/** An item's size in bytes: its attribute names and values. */
export function itemSize(item: Item): number {
  return Object.entries(item).reduce((n, [name, value]) => n + utf8Bytes(name) + valueSize(value), 0);
}

/** Write units of writing an item: one per KB, at least one. */
export function writeUnits(item: Item | undefined): number {
  return item ? Math.max(1, Math.ceil(itemSize(item) / 1024)) : 1;
}

/** Read units of reading an item: one per 4 KB strongly consistent, half that eventually consistent; a missing item costs the minimum. */
export function readUnits(item: Item | undefined, consistent: boolean): number {
  const blocks = item ? Math.max(1, Math.ceil(itemSize(item) / 4096)) : 1;
  return consistent ? blocks : blocks / 2;
}
