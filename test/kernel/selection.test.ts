import { describe, expect, it } from 'vitest';
import { kernel, selectKernel, wasmSimdSupported } from '../../functions/shared/kernel/index.js';
import { tsKernel } from '../../functions/shared/kernel/ts-kernel.js';

describe('kernel selection at start-up', () => {
  it('uses the WebAssembly SIMD kernel where the runtime validates it (Node 20 does)', () => {
    expect(wasmSimdSupported()).toBe(true);
    expect(kernel.name).toBe('wasm-simd');
  });

  it('falls back to the TypeScript kernel without WebAssembly SIMD', () => {
    expect(selectKernel(false)).toBe(tsKernel);
  });

  it('the kernel in use counts like the fallback', () => {
    expect(kernel.countInside(5, 10, 30, 29 * 16_384 + 3)).toBe(tsKernel.countInside(5, 10, 30, 29 * 16_384 + 3));
  });
});
