// The local cloud's own bill: what AWS would charge for everything the cloud served, summed from
// its records (every invocation's billed duration and memory, the DynamoDB units its front metered,
// the API requests its stage answered). It is independent of what the functions account for
// themselves, so a job's `cost` can be checked against it.
import { FUNCTION_NAMES, emptyUsage, type JobUsage } from '../functions/shared/cost.js';
import type { LocalCloud } from '../local/index.js';

/**
 * Everything the cloud served since it started (DynamoDB units: since the last resetQuotaCounters()),
 * as a usage to price with `priceUsage`. Throws when an invocation is still running: its bill is not
 * known yet, so wait for the cloud to go quiet first.
 */
export function cloudUsage(cloud: LocalCloud): JobUsage {
  const usage = emptyUsage();
  for (const name of FUNCTION_NAMES) {
    const total = usage.functions[name];
    for (const record of cloud.invocations(name)) {
      if (record.billedMs === undefined) throw new Error(`${name} invocation ${record.requestId} has not ended: its billed duration is not known yet`);
      total.requests++;
      total.billedMs += record.billedMs;
      total.mbMs += record.billedMs * record.memoryMb;
    }
  }
  for (const partition of cloud.dynamodbUnits()) {
    usage.dynamodb.readUnits += partition.readUnits;
    usage.dynamodb.writeUnits += partition.writeUnits;
  }
  usage.apiRequests = cloud.apiRequests().filter((request) => request.billed).length;
  return usage;
}
