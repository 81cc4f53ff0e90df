/** federa/node — the Node-only pieces: file loaders, run folders, the CLI. */
export { loadMnist, type MnistData } from './mnist.js';
export { loadCsvFile } from './csv.js';
export { readIdxFile, loadIdxPair, loadIdxFolder, loadFashionMnist, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, type IdxFolder } from './idx.js';
export { loadLeaf } from './leaf.js';
export { loadImageFolder, decodeImage, type ImageFolderOptions, type ImageFolderData } from './images.js';
export { loadTextCorpus, readTextRecords } from './text.js';
export { loadModelJson, modelJsonServerModel, type LoadedModelJson, type ModelJsonServerModelOptions } from './model-json.js';
export {
  resolveData,
  resolveModel,
  dataShapeOf,
  modelInputShape,
  DATA_CHOICES,
  MODEL_CHOICES,
  type ResolveDataOptions,
  type ResolvedData,
  type ResolvedModel,
  type DataShape,
} from './workloads.js';
export { writeReport, loadReportAssets } from './report-file.js';
export { rebuildReport, readHistoryFile, type RebuildReportOptions, type RebuiltReport } from '../server/rebuild-report.js';
export { writeDevelopmentCertificates, type CertificateOptions, type CertificateFiles } from './certificates.js';
export { writeModel, readModel, type ModelFiles } from './model-file.js';
export { simulate, type SimulateOutcome } from '../cli/simulate.js';
export { prepareData, type PreparedData } from './prepare-data.js';
export { exportClientData, writeClientCsvs, type ExportedData } from './export-data.js';
export { parseSimulationConfig, parseServerConfig } from '../config/rules.js';
export { SimulationConfigSchema, ServerConfigSchema, type SimulationConfig, type ServerConfig, type ServerSettings } from '../config/schema.js';
export { FederaClient, type FederaClientOptions, type DataSource, type DataContext } from './client.js';
export {
  createIdentity,
  loadIdentity,
  saveIdentity,
  loadOrCreateIdentity,
  defaultIdentityName,
  checkTokenForIdentity,
  tokenFingerprint,
  defaultIdentityPath,
  nodeFrameCrypto,
  nodeSigner,
  verifyFrameSync,
  type ClientIdentity,
} from './identity.js';
export { FederaServer, zooServerModel, loadEvaluationData, type FederaServerOptions, type ServerModel, type ServerAddress, type RunOutcome } from '../server/server.js';
export { WebSocketGrid, type WebSocketGridOptions, type RejectionCode, type RateLimit, type ConnectionStatus } from '../server/grid.js';
export { Store, type ClientDirectory, type RunRow, type Checkpoint, type ClientRow, type TokenRow, type ClientEvent } from '../server/store.js';
export { ServerMetrics } from '../server/metrics.js';
