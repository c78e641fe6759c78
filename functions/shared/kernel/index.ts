import type { Kernel } from './kernel.js';
import { tsKernel } from './ts-kernel.js';
import { createWasmKernel, wasmKernelBytes, webAssembly } from './wasm-kernel.js';

export type { Kernel } from './kernel.js';
export * from './stream-rule.js';

/**
 * Whether this runtime has WebAssembly with SIMD: validates the kernel module itself (1.4 KB),
 * which covers every instruction it uses.
 */
export function wasmSimdSupported(): boolean {
  return webAssembly()?.validate(wasmKernelBytes()) === true;
}

/** The WebAssembly SIMD kernel where supported, else the plain TypeScript one (same counts). */
export function selectKernel(simd: boolean = wasmSimdSupported()): Kernel {
  if (!simd) return tsKernel;
  try {
    return createWasmKernel();
  } catch {
    return tsKernel;
  }
}

/** The fastest kernel this runtime supports, chosen once at start-up. */
export const kernel: Kernel = selectKernel();
