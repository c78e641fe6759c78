import type { Kernel } from './kernel.js';
import { tsKernel } from './ts-kernel.js';

export type { Kernel } from './kernel.js';
export * from './stream-rule.js';

/** The fastest kernel this runtime supports, chosen once at start-up. */
export const kernel: Kernel = tsKernel;
