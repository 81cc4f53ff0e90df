/**
 * Picks and initialises the TensorFlow.js backend once per process (or page).
 *
 * Order when nothing is requested: `tensorflow` (tfjs-node, only if it happens to be installed —
 * it is an optional accelerator and is never a dependency), then `wasm`, then `cpu`.
 *
 * Browser safety: this module has no static `node:` imports. Node-only work (finding the `.wasm`
 * binaries in node_modules) runs behind a runtime check through dynamic imports whose specifiers
 * are held in variables, so bundlers neither resolve nor bundle them.
 *
 * Determinism: federa promises that the same seed gives bitwise-identical trained parameters.
 * In Node the wasm backend is always single-threaded (tfjs disables wasm threads there; forcing
 * them fails at worker creation), and two runs were checked to agree bit for bit. In browsers the
 * threaded build would use one XNNPACK thread per core; as that could not be verified here, federa
 * forces one thread unless `wasmThreads` says otherwise.
 */
import * as tf from '@tensorflow/tfjs';
import { FederaError } from '../core/errors.js';
import { registerWasmConvKernels } from './wasm-kernels.js';

/** Backends federa knows how to set up. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgl';

export interface InitBackendOptions {
  /**
   * XNNPACK threads for the wasm backend (browsers with cross-origin isolation only; Node always
   * runs it on one thread). Default 1, because determinism across runs is part of federa's
   * contract and multi-threaded kernels were not verified to be bitwise reproducible.
   */
  wasmThreads?: number;
  /**
   * Where the page serves the wasm binaries (a directory prefix ending in `/`, or a map file name →
   * URL, as `setWasmPaths` accepts). Browsers must pass it when their bundler does not copy the
   * `.wasm` files next to the script; in Node the binaries are found in node_modules.
   */
  wasmPaths?: string | Record<string, string>;
}

/** The environment variable that overrides any backend preference given in code. */
export const BACKEND_ENV_VAR = 'FEDERA_TFJS_BACKEND';

const KNOWN: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu', 'webgl'];

let active: Promise<string> | undefined;

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

function envOverride(): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = p?.env?.[BACKEND_ENV_VAR]?.trim();
  return v ? v : undefined;
}

/** Dynamic import the bundler and tsc must not follow (optional or Node-only modules). */
async function importOpaque(specifier: string): Promise<any> {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);
}

/** Directory (with trailing separator) holding the wasm binaries, resolved from node_modules. */
async function nodeWasmDir(): Promise<string> {
  const { createRequire } = await importOpaque('node:module');
  const pkgJson: string = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json');
  const cut = Math.max(pkgJson.lastIndexOf('/'), pkgJson.lastIndexOf('\\'));
  const sep = pkgJson[cut] ?? '/';
  return `${pkgJson.slice(0, cut)}${sep}dist${sep}`;
}

/**
 * The cpu backend prints a "use tfjs-node" banner on its first tensor in Node. federa chooses the
 * backend deliberately, so swallow that one message by making the first write here, with
 * `console.warn` filtered only for its duration.
 */
function silenceCpuBanner(): void {
  if (!isNode()) return;
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    if (args.some((a) => typeof a === 'string' && a.includes('tfjs-node'))) return;
    original.apply(console, args);
  };
  try {
    tf.tidy(() => tf.scalar(0)).dispose();
  } finally {
    console.warn = original;
  }
}

async function trySet(name: BackendName, options: InitBackendOptions): Promise<void> {
  switch (name) {
    case 'tensorflow': {
      if (!isNode()) throw new Error('tfjs-node only runs in Node');
      // Registers the 'tensorflow' backend as a side effect. Never a dependency of federa.
      await importOpaque('@tensorflow/tfjs-node');
      break;
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (options.wasmPaths !== undefined) wasm.setWasmPaths(options.wasmPaths as Parameters<typeof wasm.setWasmPaths>[0]);
      else if (isNode()) wasm.setWasmPaths(await nodeWasmDir());
      wasm.setThreadsCount(options.wasmThreads ?? 1);
      break;
    }
    case 'cpu':
    case 'webgl':
      // Registered by @tensorflow/tfjs itself.
      break;
  }
  // setBackend reports failure by returning false (and logging), not by throwing.
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) throw new Error(`tf.setBackend('${name}') failed`);
  await tf.ready();
  // tfjs-backend-wasm cannot train convolutions without these (see wasm-kernels.ts).
  if (name === 'wasm') registerWasmConvKernels();
  if (name === 'cpu') silenceCpuBanner();
}

async function select(preferred: BackendName | undefined, options: InitBackendOptions): Promise<string> {
  const override = envOverride();
  let requested: BackendName | undefined = preferred;
  if (override !== undefined) {
    if (!(KNOWN as readonly string[]).includes(override)) {
      throw new FederaError('invalid_config', `${BACKEND_ENV_VAR}="${override}" is not one of ${KNOWN.join(', ')}`);
    }
    requested = override as BackendName;
  }
  if (requested !== undefined) {
    if (!KNOWN.includes(requested)) {
      throw new FederaError('invalid_argument', `initBackend: preferred must be one of ${KNOWN.join(', ')}, got "${String(requested)}"`);
    }
    try {
      await trySet(requested, options);
    } catch (e) {
      throw new FederaError('unsupported', `TensorFlow.js backend "${requested}" could not be initialised: ${(e as Error)?.message ?? String(e)}`, { backend: requested }, { cause: e });
    }
    return tf.getBackend();
  }
  const failures: string[] = [];
  for (const name of ['tensorflow', 'wasm', 'cpu'] as const) {
    try {
      await trySet(name, options);
      return tf.getBackend();
    } catch (e) {
      failures.push(`${name}: ${(e as Error)?.message ?? String(e)}`);
    }
  }
  throw new FederaError('unsupported', `no TensorFlow.js backend could be initialised (${failures.join('; ')})`);
}

/**
 * Chooses and initialises the tfjs backend; returns its name.
 *
 * Call it before building models: tensors created under one backend are not usable under another.
 * Idempotent: later calls (whatever they ask for) return the backend already active, so library
 * code can call it freely. `FEDERA_TFJS_BACKEND` overrides `preferred`. An explicit request
 * (argument or environment) that cannot be honoured throws `FederaError('unsupported')` rather than
 * silently running on something slower; with no request, the first backend that works is used.
 * `webgl` is never picked automatically: it is fast in browsers but GPU-dependent (and often
 * float16), so runs are not bitwise reproducible across devices.
 */
export function initBackend(preferred?: BackendName, options: InitBackendOptions = {}): Promise<string> {
  if (active === undefined) {
    active = select(preferred, options).catch((e: unknown) => {
      active = undefined; // allow a retry with other settings
      throw e;
    });
  }
  return active;
}

/** The backend chosen by {@link initBackend}, or undefined before it has finished. */
export async function activeBackend(): Promise<string | undefined> {
  if (active === undefined) return undefined;
  try {
    return await active;
  } catch {
    return undefined;
  }
}
