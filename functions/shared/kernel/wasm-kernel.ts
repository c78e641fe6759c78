import type { Kernel } from './kernel.js';
import { PI_KERNEL_WASM_BASE64 } from './pi-kernel.wasm.js';
import { checkRange } from './range.js';
import { blockCount } from './stream-rule.js';

/**
 * Blocks per call into WebAssembly. V8 starts the kernel in its baseline compiler and switches to
 * the optimised code only between calls, so one long call would run slow to its end; 64 blocks
 * (about 1 ms) switches early at a negligible cost per call. A multiple of the kernel's 8 lanes,
 * so only the last call of a range runs a partly filled group.
 */
const BLOCKS_PER_CALL = 64;

type CountInside = (seed: number, startBlock: number, endBlock: number, jobSamples: number) => number;

/** The part of the WebAssembly JS API used here; typed locally as the project has no DOM lib. */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** The runtime's WebAssembly object, if it has one. */
export function webAssembly(): WebAssemblyApi | undefined {
  return (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
}

/** The kernel's bytes (pi-kernel.wat, built by scripts/build-kernel.ts). */
export function wasmKernelBytes(): Uint8Array {
  return Buffer.from(PI_KERNEL_WASM_BASE64, 'base64');
}

/** The WebAssembly SIMD kernel; throws where the runtime cannot compile it. */
export function createWasmKernel(): Kernel {
  const api = webAssembly();
  if (!api) throw new Error('this runtime has no WebAssembly');
  const instance = new api.Instance(new api.Module(wasmKernelBytes()));
  const count = instance.exports['countInside'] as CountInside;
  return {
    name: 'wasm-simd',
    countInside(seed, startBlock, endBlock, jobSamples) {
      checkRange(seed, startBlock, endBlock, jobSamples);
      // Blocks past the job hold no samples.
      const end = Math.min(endBlock, blockCount(jobSamples));
      let inside = 0;
      for (let block = startBlock; block < end; block += BLOCKS_PER_CALL) {
        inside += count(seed, block, Math.min(block + BLOCKS_PER_CALL, end), jobSamples);
      }
      return inside;
    },
  };
}
