/**
 * Development certificates for `wss://`: a CA of its own and a server certificate it signs, with
 * the subjectAltNames clients will connect to (DNS names and IP addresses). X.509 is built by
 * @peculiar/x509 on WebCrypto (ECDSA P-256, SHA-256); nothing here encodes ASN.1 by hand.
 * Clients trust the CA (`--ca ca.pem`); the server uses `server.pem` and `server-key.pem`.
 */
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { FederaError } from '../core/errors.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
const crypto = webcrypto as unknown as Crypto;

export interface CertificateOptions {
  /** Names clients use to reach the server: DNS names and IP addresses (at least one). */
  hosts: readonly string[];
  /** Folder the files go into (created if missing). */
  outDir: string;
  /** Validity of the server certificate, in days (default 90). */
  days?: number;
  /** Start of validity (default: now − 1 hour, to allow for clock skew). */
  notBefore?: Date;
  /** Replace an existing server certificate (the CA in `outDir` is kept and reused either way). */
  force?: boolean;
}

export interface CertificateFiles {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** True when a new CA was made; false when the one in `outDir` was reused. */
  newCa: boolean;
  /** subjectAltNames of the server certificate, as `DNS:name` / `IP:address`. */
  altNames: string[];
  notAfter: Date;
}

/** Checks a host name or IP address for a subjectAltName. */
export function checkHost(host: string): { type: 'dns' | 'ip'; value: string } {
  const h = host.trim();
  if (isIP(h)) return { type: 'ip', value: h };
  // RFC 1123 labels; a leading "*." wildcard is allowed.
  if (h.length > 0 && h.length <= 253 && /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(h)) return { type: 'dns', value: h.toLowerCase() };
  throw new FederaError('invalid_argument', `--host "${host}" is neither an IP address nor a DNS name`, { field: 'host' });
}

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').trim();
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string, path: string): Promise<CryptoKey> {
  const b64 = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  try {
    return await crypto.subtle.importKey('pkcs8', Buffer.from(b64, 'base64'), ALG, false, ['sign']);
  } catch (e) {
    throw new FederaError('invalid_config', `${path} is not a P-256 private key in PKCS#8 PEM (made by federa cert): ${(e as Error).message}`);
  }
}

/**
 * @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata
 * polyfill; both load only when a certificate is made, so importing federa/node changes no globals.
 */
async function loadX509(): Promise<typeof X509> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(crypto);
  return x509;
}

async function serial(): Promise<string> {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f; // positive
  return Buffer.from(b).toString('hex');
}

/** Writes (or reuses) `ca.pem` + `ca-key.pem` and writes `server.pem` + `server-key.pem` into `outDir`. */
export async function writeDevelopmentCertificates(options: CertificateOptions): Promise<CertificateFiles> {
  const x509 = await loadX509();
  if (options.hosts.length === 0) throw new FederaError('invalid_argument', 'give at least one --host (the name or IP address clients connect to)', { field: 'host' });
  const names = options.hosts.map(checkHost);
  const days = options.days ?? 90;
  if (!Number.isInteger(days) || days < 1 || days > 825) throw new FederaError('invalid_argument', `--days must be a whole number from 1 to 825, got ${days}`, { field: 'days' });
  const dir = options.outDir;
  mkdirSync(dir, { recursive: true });
  const files = { caCert: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server-key.pem') };
  if (!options.force && existsSync(files.serverCert)) {
    throw new FederaError('invalid_argument', `${files.serverCert} exists already; pass --force to replace it (the CA in ${dir} is kept)`);
  }
  const notBefore = options.notBefore ?? new Date(Date.now() - 3600_000);

  let caCert: X509.X509Certificate;
  let caSigningKey: CryptoKey;
  let newCa = false;
  if (existsSync(files.caCert) && existsSync(files.caKey)) {
    caCert = new x509.X509Certificate(readFileSync(files.caCert, 'utf8'));
    caSigningKey = await importKey(readFileSync(files.caKey, 'utf8'), files.caKey);
  } else {
    const caKeys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    caCert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: await serial(),
        name: 'CN=federa development CA, O=federa',
        notBefore,
        notAfter: new Date(notBefore.getTime() + 3650 * DAY_MS),
        signingAlgorithm: ALG,
        keys: caKeys,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
        ],
      },
      crypto,
    );
    writeFileSync(files.caCert, caCert.toString('pem') + '\n');
    writeFileSync(files.caKey, pemKey(await crypto.subtle.exportKey('pkcs8', caKeys.privateKey)), { mode: 0o600 });
    caSigningKey = caKeys.privateKey;
    newCa = true;
  }

  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notAfter = new Date(notBefore.getTime() + days * DAY_MS);
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: await serial(),
      subject: `CN=${names[0].value}`,
      issuer: caCert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: caSigningKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  writeFileSync(files.serverCert, leaf.toString('pem') + '\n');
  writeFileSync(files.serverKey, pemKey(await crypto.subtle.exportKey('pkcs8', keys.privateKey)), { mode: 0o600 });
  // Read back with node:crypto (OpenSSL): what the server and clients will parse.
  const check = new NodeX509(readFileSync(files.serverCert));
  const altNames = (check.subjectAltName ?? '').split(', ').filter(Boolean).map((s) => s.replace(/^IP Address:/, 'IP:'));
  if (!check.verify(new NodeX509(readFileSync(files.caCert)).publicKey)) throw new FederaError('internal', `${files.serverCert} does not verify against ${files.caCert}`);
  return { ...files, newCa, altNames, notAfter };
}
