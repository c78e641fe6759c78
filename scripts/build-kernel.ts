/**
 * Builds the WebAssembly kernel from its source, functions/shared/kernel/pi-kernel.wat, with wabt:
 * writes pi-kernel.wasm and pi-kernel.wasm.ts (the same bytes as a module that any bundle can
 * import, so the kernel loads without file-system access). `npm run build:kernel`.
 * The output depends only on the source and the locked wabt version (a test rebuilds and compares).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import wabt from 'wabt';

const kernelDir = fileURLToPath(new URL('../functions/shared/kernel/', import.meta.url));
export const KERNEL_SOURCE = `${kernelDir}pi-kernel.wat`;
export const KERNEL_WASM = `${kernelDir}pi-kernel.wasm`;
export const KERNEL_MODULE = `${kernelDir}pi-kernel.wasm.ts`;

export interface KernelBuild {
  wasm: Uint8Array;
  module: string;
}

export async function buildKernel(): Promise<KernelBuild> {
  const source = await readFile(KERNEL_SOURCE, 'utf8');
  const toolkit = await wabt();
  const parsed = toolkit.parseWat('pi-kernel.wat', source, { simd: true });
  try {
    parsed.validate();
    const wasm = parsed.toBinary({ canonicalize_lebs: true, write_debug_names: false }).buffer;
    return { wasm, module: wasmModule(wasm) };
  } finally {
    parsed.destroy();
  }
}

function wasmModule(wasm: Uint8Array): string {
  const base64 = Buffer.from(wasm).toString('base64');
  const lines = base64.match(/.{1,96}/g) ?? [];
  return [
    '// Generated from pi-kernel.wat by scripts/build-kernel.ts (npm run build:kernel). Do not edit.',
    `/** pi-kernel.wasm (${wasm.length} bytes), base64. */`,
    'export const PI_KERNEL_WASM_BASE64 =',
    ...lines.map((line, i) => `  '${line}'${i === lines.length - 1 ? ';' : ' +'}`),
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { wasm, module } = await buildKernel();
  await writeFile(KERNEL_WASM, wasm);
  await writeFile(KERNEL_MODULE, module);
  console.log(`pi-kernel.wasm: ${wasm.length} bytes`);
}
