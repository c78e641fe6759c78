import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { KERNEL_MODULE, KERNEL_WASM, buildKernel } from '../../scripts/build-kernel.js';
import { wasmKernelBytes } from '../../functions/shared/kernel/wasm-kernel.js';

describe('the committed WebAssembly kernel', () => {
  it('is what its source builds to, byte for byte (pi-kernel.wasm and pi-kernel.wasm.ts)', async () => {
    const built = await buildKernel();
    expect(Buffer.from(built.wasm).equals(await readFile(KERNEL_WASM))).toBe(true);
    expect(built.module).toBe(await readFile(KERNEL_MODULE, 'utf8'));
  });

  it('is the module the kernel loads', async () => {
    expect(Buffer.from(wasmKernelBytes()).equals(await readFile(KERNEL_WASM))).toBe(true);
  });
});
