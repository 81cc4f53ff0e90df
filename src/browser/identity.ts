/**
 * Client identities in a page: an Ed25519 key pair kept in IndexedDB, so that a reload (or the
 * next visit) rejoins as the same client without a new enrollment token.
 *
 * Where the browser has WebCrypto Ed25519 (Chrome 137+, Firefox 129+, Safari 17+), the private key
 * is a **non-extractable** `CryptoKey`: IndexedDB stores the key object itself, and no script —
 * not even this one — can read its bytes; it can only ask the browser to sign with it. Elsewhere
 * the fallback is a raw 32-byte secret key used with @noble/curves and stored as bytes in
 * IndexedDB, readable by any script of the page's origin (`storage: 'raw-key'` says so).
 *
 * Identities are keyed by the server (host:port) and a name, like the Node client's identity
 * files (`~/.federa/identities/<host>/<name>.json`): several tabs of one origin can be several
 * clients by choosing different names.
 */
import { FederaError, describeError } from '../core/errors.js';
import { fingerprintId, generateSecretKey, nobleSigner, webCryptoSigner, webFrameCrypto, type FrameSigner } from '../wire/crypto.js';
import { checkClientId } from '../wire/protocol.js';

export const IDENTITY_DB = 'federa';
const STORE = 'identities';
const FORMAT = 'federa-browser-identity-v1';

/** How the private key is kept. */
export type KeyStorage = 'webcrypto' | 'raw-key';

export interface BrowserIdentity {
  readonly clientId: string;
  readonly publicKey: Uint8Array;
  readonly signer: FrameSigner;
  /** 'webcrypto': a non-extractable CryptoKey; 'raw-key': @noble/curves with the key bytes in IndexedDB. */
  readonly storage: KeyStorage;
  /** Servers (host:port) that have enrolled this identity: no token needed there any more. */
  readonly enrolledWith: readonly string[];
  /** The IndexedDB record key: `<host:port>/<name>`. */
  readonly key: string;
}

interface IdentityRecord {
  key: string;
  format: typeof FORMAT;
  clientId: string;
  publicKey: Uint8Array;
  keys?: CryptoKeyPair;
  secretKey?: Uint8Array;
  enrolledWith: string[];
  createdAt: string;
}

export interface IdentityOptions {
  /** Server URL; identities are per server (host:port). */
  server: string;
  /** Identity name (default "default"): one per client a page (origin) plays. */
  name?: string;
  /** Client id for a new identity (default: `client-` + 16 hex digits of SHA-256(public key)). */
  clientId?: string;
  /** Never use WebCrypto Ed25519 (tests of the fallback). */
  forceRawKey?: boolean;
  /** IndexedDB database name (default "federa"). */
  database?: string;
}

/** host:port of a server URL: what an enrollment is bound to. */
export function serverHost(server: string): string {
  try {
    return new URL(server).host;
  } catch {
    return server;
  }
}

function idb(): IDBFactory {
  const f = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!f) throw new FederaError('unsupported', 'IndexedDB is not available in this browser (private mode?): the client identity cannot be kept');
  return f;
}

function promised<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new FederaError('internal', `IndexedDB: ${req.error?.message ?? 'request failed'}`));
  });
}

async function openDb(name: string): Promise<IDBDatabase> {
  const req = idb().open(name, 1);
  req.onupgradeneeded = () => {
    if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE, { keyPath: 'key' });
  };
  return promised(req);
}

async function withStore<T>(database: string, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb(database);
  try {
    const tx = db.transaction(STORE, mode);
    const result = await promised(fn(tx.objectStore(STORE)));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(new FederaError('internal', `IndexedDB: ${tx.error?.message ?? 'transaction failed'}`));
      tx.onabort = () => reject(new FederaError('internal', `IndexedDB: ${tx.error?.message ?? 'transaction aborted'}`));
    });
    return result;
  } finally {
    db.close();
  }
}

/** A non-extractable WebCrypto Ed25519 key pair, or undefined when the browser has none. */
async function webCryptoKeys(): Promise<CryptoKeyPair | undefined> {
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!subtle) throw new FederaError('unsupported', 'WebCrypto (crypto.subtle) is not available: serve the page over https (or from localhost)');
  try {
    return (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  } catch {
    return undefined;
  }
}

async function fromRecord(r: IdentityRecord): Promise<BrowserIdentity> {
  let signer: FrameSigner;
  let storage: KeyStorage;
  if (r.keys) {
    signer = await webCryptoSigner(r.keys);
    storage = 'webcrypto';
  } else if (r.secretKey instanceof Uint8Array) {
    signer = nobleSigner(r.secretKey);
    storage = 'raw-key';
  } else {
    throw new FederaError('invalid_config', `stored identity ${r.key} has no key`);
  }
  if (signer.publicKey.length !== r.publicKey.length || signer.publicKey.some((b, i) => b !== r.publicKey[i])) {
    throw new FederaError('invalid_config', `stored identity ${r.key}: the public key does not match the private key`);
  }
  return { clientId: checkClientId(r.clientId), publicKey: signer.publicKey, signer, storage, enrolledWith: r.enrolledWith ?? [], key: r.key };
}

/**
 * The identity stored for (server, name), or a new one (made and saved). A given `clientId` must
 * match a stored identity's.
 */
export async function loadOrCreateBrowserIdentity(options: IdentityOptions): Promise<{ identity: BrowserIdentity; created: boolean }> {
  const database = options.database ?? IDENTITY_DB;
  const key = `${serverHost(options.server)}/${options.name ?? 'default'}`;
  let stored: IdentityRecord | undefined;
  try {
    stored = await withStore<IdentityRecord | undefined>(database, 'readonly', (s) => s.get(key) as IDBRequest<IdentityRecord | undefined>);
  } catch (e) {
    throw new FederaError('unsupported', `cannot read the client identity from IndexedDB: ${describeError(e)}`);
  }
  if (stored && stored.format === FORMAT) {
    const identity = await fromRecord(stored);
    if (options.clientId !== undefined && options.clientId !== identity.clientId) {
      throw new FederaError('invalid_config', `the identity "${key}" stored in this browser belongs to client "${identity.clientId}", not "${options.clientId}"`);
    }
    return { identity, created: false };
  }
  const keys = options.forceRawKey ? undefined : await webCryptoKeys();
  const record: IdentityRecord = { key, format: FORMAT, clientId: '', publicKey: new Uint8Array(0), enrolledWith: [], createdAt: new Date().toISOString() };
  if (keys) record.keys = keys;
  else record.secretKey = generateSecretKey();
  const signer = keys ? await webCryptoSigner(keys) : nobleSigner(record.secretKey!);
  record.publicKey = signer.publicKey;
  record.clientId = checkClientId(options.clientId ?? (await fingerprintId(signer.publicKey, webFrameCrypto())));
  // add(), not put(): two tabs racing to create the same identity must not overwrite each other.
  try {
    await withStore(database, 'readwrite', (s) => s.add(record));
  } catch {
    const again = await withStore<IdentityRecord | undefined>(database, 'readonly', (s) => s.get(key) as IDBRequest<IdentityRecord | undefined>);
    if (!again) throw new FederaError('unsupported', `cannot save the client identity "${key}" in IndexedDB`);
    return { identity: await fromRecord(again), created: false };
  }
  return { identity: await fromRecord(record), created: true };
}

/** Records that `server` has enrolled the identity. */
export async function markBrowserEnrolled(identity: BrowserIdentity, server: string, database = IDENTITY_DB): Promise<BrowserIdentity> {
  const host = serverHost(server);
  if (identity.enrolledWith.includes(host)) return identity;
  const record = await withStore<IdentityRecord | undefined>(database, 'readonly', (s) => s.get(identity.key) as IDBRequest<IdentityRecord | undefined>);
  if (record) {
    record.enrolledWith = [...new Set([...(record.enrolledWith ?? []), host])];
    await withStore(database, 'readwrite', (s) => s.put(record));
  }
  return { ...identity, enrolledWith: [...identity.enrolledWith, host] };
}

/** Deletes a stored identity (the next start makes a new one, which needs a new token). */
export async function forgetBrowserIdentity(server: string, name = 'default', database = IDENTITY_DB): Promise<void> {
  await withStore(database, 'readwrite', (s) => s.delete(`${serverHost(server)}/${name}`));
}
