/**
 * TF.js backend for a page: the first of webgl, wasm and cpu that initialises (or the one asked
 * for). The wasm backend fetches its `.wasm` binaries from `wasmPaths`, by default the directory
 * the bundle was loaded from (the build copies them next to `federa-browser.js`), so nothing is
 * fetched from anywhere else.
 */
import { FederaError } from '../core/errors.js';
import { activeBackend, initBackend, type BackendName } from '../models/backend.js';

export type BrowserBackendName = 'webgl' | 'wasm' | 'cpu';

export const BROWSER_BACKENDS: readonly BrowserBackendName[] = ['webgl', 'wasm', 'cpu'];

export interface BrowserBackendOptions {
  /** Use this backend or fail (default: the first of webgl, wasm, cpu that works). */
  preferred?: BrowserBackendName;
  /** Directory URL (ending in `/`) holding `tfjs-backend-wasm*.wasm`; default: next to this bundle. */
  wasmPaths?: string;
}

/** The directory this module was loaded from (the bundle's, in a page). */
export function bundleDirectory(): string {
  return new URL('./', import.meta.url).href;
}

/** The WebGL renderer's name (unmasked where the browser tells it), or undefined without WebGL. */
export function webglRenderer(): string | undefined {
  try {
    const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1) : undefined;
    const gl = (canvas?.getContext('webgl2') ?? canvas?.getContext('webgl')) as WebGLRenderingContext | null | undefined;
    if (!gl) return undefined;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return name;
  } catch {
    return undefined;
  }
}

/** Renderers that draw WebGL on the CPU: TF.js on them is several times slower than its wasm backend. */
const SOFTWARE_GL = /SwiftShader|llvmpipe|softpipe|Software Rasterizer|Microsoft Basic Render/i;

/**
 * Initialises the page's TF.js backend once and returns its name; later calls return the active
 * one. webgl is tried first because it is the fastest where a GPU exists — but not when WebGL is
 * rendered in software (SwiftShader in headless Chromium, llvmpipe): there TF.js's webgl backend
 * measured 4–9× slower than wasm (docs/browser.md), so the automatic choice skips it. webgl is not
 * bitwise reproducible across devices (see models/backend.ts), which a browser federation accepts.
 */
export async function initBrowserBackend(options: BrowserBackendOptions = {}): Promise<string> {
  const active = await activeBackend();
  if (active !== undefined) return active;
  const wasmPaths = options.wasmPaths ?? bundleDirectory();
  if (options.preferred !== undefined) {
    if (!BROWSER_BACKENDS.includes(options.preferred)) {
      throw new FederaError('invalid_argument', `backend must be one of ${BROWSER_BACKENDS.join(', ')}, got "${String(options.preferred)}"`);
    }
    return initBackend(options.preferred as BackendName, { wasmPaths });
  }
  const failures: string[] = [];
  for (const name of BROWSER_BACKENDS) {
    if (name === 'webgl') {
      const renderer = webglRenderer();
      if (renderer === undefined || SOFTWARE_GL.test(renderer)) {
        failures.push(`webgl: ${renderer === undefined ? 'no WebGL' : `software renderer (${renderer})`}`);
        continue;
      }
    }
    try {
      return await initBackend(name, { wasmPaths });
    } catch (e) {
      failures.push(`${name}: ${(e as Error)?.message ?? String(e)}`);
    }
  }
  throw new FederaError('unsupported', `no TensorFlow.js backend could be initialised in this browser (${failures.join('; ')})`);
}
