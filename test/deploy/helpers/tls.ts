// A self-signed X.509 certificate for 127.0.0.1 / localhost, made at test time with node:crypto
// only (ECDSA P-256, SHA-256): a minimal DER writer for the few ASN.1 types a certificate needs.
import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const ctx = (n: number, body: Buffer, constructed = true) => tlv((constructed ? 0xa0 : 0x80) | n, body);
const int = (b: Buffer) => tlv(0x02, b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const utcTime = (d: Date) => tlv(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z', 'ascii'));

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [];
    let v = p;
    do {
      chunk.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] |= 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/**
 * A random positive serial in its minimal DER form: the first byte is 0x01–0x7f (a leading 0x00
 * before a byte below 0x80 is a non-minimal INTEGER, which OpenSSL refuses as "illegal padding";
 * with 12 random bytes that happened once in 256 certificates).
 */
export function serialNumber(): Buffer {
  const b = randomBytes(12);
  b[0] = (b[0] % 0x7f) + 1;
  return b;
}

export interface TestCertificate {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

/** Writes `cert.pem` and `key.pem` for 127.0.0.1 and localhost into `dir`. */
export function makeSelfSignedCertificate(dir: string, commonName = 'federa test server'): TestCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(set(seq(oid('2.5.4.3'), utf8(commonName))));
  const now = Date.now();
  const san = seq(ctx(7, Buffer.from([127, 0, 0, 1]), false), ctx(2, Buffer.from('localhost', 'ascii'), false));
  const extensions = ctx(
    3,
    seq(
      seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true)))), // basicConstraints: CA (a self-signed trust anchor)
      seq(oid('2.5.29.15'), bool(true), octets(bits(Buffer.from([0x84])))), // keyUsage: digitalSignature, keyCertSign
      seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.1')))), // extKeyUsage: serverAuth
      seq(oid('2.5.29.17'), octets(san)), // subjectAltName
    ),
  );
  const tbs = seq(
    ctx(0, int(Buffer.from([2]))), // v3
    int(serialNumber()),
    ecdsaSha256,
    name,
    seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 7 * 86400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA signature
  const der = seq(tbs, ecdsaSha256, bits(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END CERTIFICATE-----\n`;
  const keyPem = createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })).export({ type: 'pkcs8', format: 'pem' }).toString();
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  writeFileSync(certFile, certPem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  return { certPem, keyPem, certFile, keyFile };
}
