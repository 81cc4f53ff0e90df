import assert from 'node:assert/strict';
import { isFederaError, type FederaErrorCode } from '../../src/core/errors.js';

/** Asserts that `fn` throws a FederaError with `code` (and, optionally, a message containing `messageIncludes`). */
export function throwsCode(fn: () => unknown, code: FederaErrorCode, messageIncludes?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isFederaError(e), `expected a FederaError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (messageIncludes !== undefined) assert.ok(e.message.includes(messageIncludes), `message "${e.message}" lacks "${messageIncludes}"`);
    return true;
  });
}
