/** federa/node — the Node-only pieces: file loaders, run folders, the CLI. */
export { loadMnist, type MnistData } from './mnist.js';
export { loadCsvFile } from './csv.js';
export { writeReport, loadReportAssets } from './report-file.js';
export { writeModel, readModel, type ModelFiles } from './model-file.js';
export { simulate, prepareData, type SimulateOutcome } from '../cli/simulate.js';
export { parseSimulationConfig, SimulationConfigSchema, type SimulationConfig } from '../cli/config.js';
