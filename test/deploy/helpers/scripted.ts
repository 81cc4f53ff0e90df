// A scripted deployment client: a real WireClient (enrolled identity, signed frames, real
// WebSocket on 127.0.0.1) whose "training" is a function of the instruction. No ML, so tests
// of rounds, faults and the dashboard stay fast.
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ParamLayout, makeParams } from '../../../src/core/params.js';
import { parseServerConfig } from '../../../src/config/rules.js';
import type { ServerConfig } from '../../../src/config/schema.js';
import type { FederaServer, ServerModel } from '../../../src/server/server.js';
import type { MessageBase, TrainInstruction } from '../../../src/core/messages.js';
import { WireClient, type WebSocketLike, type WireClientOptions } from '../../../src/wire/client.js';
import { createIdentity, nodeFrameCrypto, nodeSigner, type ClientIdentity } from '../../../src/node/identity.js';

export interface ScriptedClientOptions {
  /** Enrolls with `token-<i>` and, by default, the identity `client-<i>`. */
  index: number;
  identity?: ClientIdentity;
  /** Enrollment token (default `token-<index>`). */
  token?: string;
  /** PEM of the CA that signed the server's certificate (wss with a test CA). */
  ca?: string;
  /** Answers a train instruction (the reply's type, run and round are the caller's to set). */
  train: (instruction: TrainInstruction) => MessageBase | Promise<MessageBase>;
  onReplySent?: WireClientOptions['onReplySent'];
  /** Send frames over the server's announced limit (default true: scripted clients play hostile ones). */
  ignoreServerLimit?: boolean;
}

export function scriptedWireClient(url: string, o: ScriptedClientOptions): WireClient {
  const identity = o.identity ?? createIdentity(`client-${o.index}`);
  return new WireClient({
    url,
    connect: (u) => new WebSocket(u, o.ca ? { ca: o.ca } : {}) as unknown as WebSocketLike,
    clientId: identity.clientId,
    signer: nodeSigner(identity.privateKey),
    crypto: nodeFrameCrypto,
    enrollmentToken: o.token ?? `token-${o.index}`,
    onWelcome: () => async (m: MessageBase) => o.train(m as TrainInstruction),
    ignoreServerLimit: o.ignoreServerLimit ?? true,
    ...(o.onReplySent ? { onReplySent: o.onReplySent } : {}),
  });
}

/** Starts `clients`, waits for the server's run to end, then stops them; returns the run's outcome. */
export async function runWithClients(server: FederaServer, clients: readonly WireClient[]): Promise<Awaited<FederaServer['done']>> {
  const done = clients.map((c) => c.start());
  try {
    return await server.done;
  } finally {
    clients.forEach((c) => c.stop());
    await Promise.allSettled(done);
  }
}

/** A toy model of `d` parameters for servers whose clients are scripted. */
export function toyModel(d: number): ServerModel {
  const layout = ParamLayout.fromShapes([{ name: 'w', shape: [d] }]);
  return { spec: { name: 'toy', numFeatures: 2, numClasses: 2, layout: layout.toJSON() }, initialParams: makeParams(layout) };
}

/** A server config for scripted clients: no evaluation, a database in `dir`, tokens token-0 … token-9. */
export function toyServerConfig(dir: string, run: Record<string, unknown>, server: Record<string, unknown> = {}): ServerConfig {
  return parseServerConfig({
    name: 'toy-run',
    seed: 3,
    model: 'logreg',
    input: { numFeatures: 2, numClasses: 2 },
    evaluation: { federatedEvery: 0, centralEvery: 0 },
    ...run,
    server: { port: 0, database: join(dir, 'server.db'), enrollmentTokens: Array.from({ length: 10 }, (_, i) => `token-${i}`), heartbeatMs: 0, ...server },
  });
}
