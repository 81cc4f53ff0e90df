// A hand-driven secure-aggregation server for client-side tests: honest client runtimes (the real
// secAggClientLayer) taken through the stages by the test, which plays the server and may lie in
// any request it builds.
import { ClientRuntime } from '../../../src/client/runtime.js';
import type { MessageBase } from '../../../src/core/messages.js';
import { secAggClientLayer } from '../../../src/secagg/client-layer.js';
import { SHARE_CIPHERTEXT_BYTES } from '../../../src/secagg/protocol.js';
import { encodingFor } from '../../../src/secagg/encoding.js';
import { KnownUpdateTrainer, indexedData, knownUpdates } from './clients.js';

export const D = 8;
export type Reply = MessageBase & Record<string, any>;

export class SecAggDriver {
  readonly ids: string[];
  readonly clients = new Map<string, ClientRuntime>();
  readonly keys = new Map<string, { encryptionKey: Uint8Array; maskKey: Uint8Array }>();
  /** ciphertexts[to][from] */
  readonly inbox = new Map<string, Map<string, Uint8Array>>();
  readonly head: { runId: string; round: number };

  constructor(n: number, round = 1, runId = 'run') {
    this.ids = Array.from({ length: n }, (_, i) => `c${i}`);
    this.head = { runId, round };
    const updates = knownUpdates(n, D, 5);
    const { train, partitions } = indexedData(Array.from({ length: n }, () => 3));
    this.ids.forEach((id, i) => {
      const rows = partitions[i];
      const data = { x: Float32Array.from(rows, (r) => train.x[r]), y: Int32Array.from(rows, (r) => train.y[r]), numFeatures: 1, numClasses: 2 };
      this.clients.set(id, new ClientRuntime({ clientId: id, trainer: new KnownUpdateTrainer(updates), data: { train: data }, layers: [secAggClientLayer({ randomness: 'seeded', seed: 7 })] }));
    });
  }

  send(id: string, m: Record<string, unknown>): Promise<Reply> {
    return this.clients.get(id)!.handle({ ...this.head, ...m } as unknown as MessageBase) as Promise<Reply>;
  }

  setupMessage(id: string, threshold: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const enc = encodingFor(32, 1, this.ids.length);
    return { type: 'secagg_setup', index: this.ids.indexOf(id) + 1, threshold, vectorLength: D + 1, bits: 32, clipRange: 1, scale: enc.scale, weightScale: enc.weightScale, metricScale: enc.metricScale, secureMetrics: [], maxWeight: 10, weighting: 'uniform', ...extra };
  }

  async setup(threshold: number): Promise<void> {
    for (const id of this.ids) {
      const r = await this.send(id, this.setupMessage(id, threshold));
      if (r.type !== 'secagg_keys') throw new Error(`setup of ${id}: ${r.message}`);
      this.keys.set(id, { encryptionKey: r.encryptionKey, maskKey: r.maskKey });
    }
  }

  shareMessage(id: string, peers: readonly string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    const e = new Uint8Array(32 * peers.length);
    const m = new Uint8Array(32 * peers.length);
    peers.forEach((p, k) => (e.set(this.keys.get(p)!.encryptionKey, 32 * k), m.set(this.keys.get(p)!.maskKey, 32 * k)));
    return { type: 'secagg_share', peers, indices: Int32Array.from(peers, (p) => this.ids.indexOf(p) + 1), encryptionKeys: e, maskKeys: m, ...extra };
  }

  /** Share and verify among `peersOf` (default: everyone with everyone). */
  async shareAndVerify(peersOf: (id: string) => string[] = (id) => this.ids.filter((o) => o !== id)): Promise<void> {
    for (const id of this.ids) {
      const r = await this.send(id, this.shareMessage(id, peersOf(id)));
      if (r.type !== 'secagg_shares') throw new Error(`share of ${id}: ${r.message}`);
      (r.recipients as string[]).forEach((to, k) => {
        if (!this.inbox.has(to)) this.inbox.set(to, new Map());
        this.inbox.get(to)!.set(id, r.ciphertexts.slice(SHARE_CIPHERTEXT_BYTES * k, SHARE_CIPHERTEXT_BYTES * (k + 1)));
      });
    }
    for (const id of this.ids) {
      const senders = peersOf(id);
      const cts = new Uint8Array(SHARE_CIPHERTEXT_BYTES * senders.length);
      senders.forEach((s, k) => cts.set(this.inbox.get(id)!.get(s)!, SHARE_CIPHERTEXT_BYTES * k));
      const r = await this.send(id, { type: 'secagg_verify', senders, ciphertexts: cts });
      if (r.type !== 'secagg_verify_result' || r.complaints.length) throw new Error(`verify of ${id}: ${r.message ?? r.complaints}`);
    }
  }

  masked(id: string, peers: readonly string[]): Promise<Reply> {
    return this.send(id, { type: 'secagg_masked', peers, params: new Float32Array(D), config: { seed: 3 } });
  }
}
