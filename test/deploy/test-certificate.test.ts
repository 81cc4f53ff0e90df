// The test helper's self-signed certificate must always load: its DER is hand-written, and a
// random serial starting with a zero byte once made OpenSSL refuse one certificate in 256
// ("illegal padding"), failing whichever wss test drew it. Many certificates, every one parsed
// by node:crypto and accepted with its key by a TLS context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { makeSelfSignedCertificate, serialNumber } from './helpers/tls.js';

test('serial numbers are positive and minimally encoded', () => {
  for (let i = 0; i < 20_000; i++) {
    const b = serialNumber();
    assert.ok(b[0] >= 1 && b[0] <= 0x7f, `serial starts with ${b[0]}`);
  }
});

test('every generated certificate parses and pairs with its key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-test-cert-'));
  for (let i = 0; i < 1000; i++) {
    const cert = makeSelfSignedCertificate(dir);
    const x = new X509Certificate(cert.certPem);
    assert.ok(x.checkPrivateKey(createPrivateKey(cert.keyPem)), `certificate ${i}: key does not match`);
    assert.ok(x.checkIP('127.0.0.1'), `certificate ${i}: no 127.0.0.1 subjectAltName`);
    createSecureContext({ cert: cert.certPem, key: cert.keyPem });
  }
});
