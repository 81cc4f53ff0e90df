/**
 * Node only: MNIST and CSV loaders, run folders and reports, the deployment server (`FederaServer`) and client (`FederaClient`), identities, development certificates.
 * @module federa/node
 */
export * from '../../../src/node/index.js';
