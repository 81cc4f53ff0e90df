/**
 * Browsers: `BrowserClient` (IndexedDB identity, browser WebSocket, progress events), page data loaders, TF.js backend choice.
 * @module federa/browser
 */
export * from '../../../src/browser/index.js';
