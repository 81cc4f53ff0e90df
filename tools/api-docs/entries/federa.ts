/**
 * The isomorphic core (Node and browsers): parameters, strategies, the round engine, the client runtime, simulation, datasets, differential privacy, compression, robust aggregation, secure aggregation, the report renderer.
 * @module federa
 */
export * from '../../../src/index.js';
