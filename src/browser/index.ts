/**
 * federa/browser — a federated learning client that runs in a web page.
 *
 * ```ts
 * import { BrowserClient, loadMnistSubset } from 'federa/browser';
 * const client = new BrowserClient({ server: 'wss://fl.example.org:8443', token, data: await loadMnistSubset() });
 * client.on((e) => console.log(e));
 * await client.start();
 * ```
 *
 * The esbuild bundle `dist/browser/federa-browser.js` holds this module with TF.js and the wasm
 * backend; a federa server serves it, the example page and the wasm binaries at `/client/`.
 */
export { BrowserClient, type BrowserClientOptions, type BrowserClientEvent, type BrowserClientListener } from './client.js';
export { loadOrCreateBrowserIdentity, markBrowserEnrolled, forgetBrowserIdentity, serverHost, IDENTITY_DB, type BrowserIdentity, type IdentityOptions, type KeyStorage } from './identity.js';
export { createTfjsTrainer, type CreateTfjsTrainerOptions } from '../models/tfjs-trainer.js';
export { initBrowserBackend, bundleDirectory, webglRenderer, BROWSER_BACKENDS, type BrowserBackendName, type BrowserBackendOptions } from './backend.js';
export {
  csvDataset,
  imageFolderDataset,
  squareSide,
  loadMnistSubset,
  decodeImageSubset,
  encodeImageSubset,
  MNIST_SUBSET_MAGIC,
  type CsvFileOptions,
  type ImageFile,
  type ImageFolder,
} from './data.js';
export { FederaError, isFederaError, describeError } from '../core/errors.js';
export { parseCsv, type CsvData, type CsvOptions } from '../data/csv.js';
export { makeDataset, subset, labelCounts, type Dataset } from '../data/dataset.js';
export type { ClientData, ClientLayer } from '../client/runtime.js';
export type { DataSource, DataContext, TrainerFactory } from '../client/session.js';
export type { Trainer } from '../client/trainer.js';
export type { WireClientOutcome } from '../wire/client.js';
export type { ModelSpec, Welcome } from '../wire/protocol.js';
export { dpClientLayer, type DpClientLayerOptions } from '../privacy/client-layer.js';
export { compressionClientLayer } from '../compress/index.js';
export { secAggClientLayer } from '../secagg/client-layer.js';
