// A scripted deployment client: a real WireClient (enrolled identity, signed frames, real
// WebSocket on 127.0.0.1) whose "training" is a function of the instruction. No ML, so tests
// of rounds, faults and the dashboard stay fast.
import { WebSocket } from 'ws';
import type { MessageBase, TrainInstruction } from '../../../src/core/messages.js';
import { WireClient, type WebSocketLike, type WireClientOptions } from '../../../src/wire/client.js';
import { createIdentity, nodeFrameCrypto, nodeSigner, type ClientIdentity } from '../../../src/node/identity.js';

export interface ScriptedClientOptions {
  /** Enrolls with `token-<i>` and, by default, the identity `client-<i>`. */
  index: number;
  identity?: ClientIdentity;
  /** Answers a train instruction (the reply's type, run and round are the caller's to set). */
  train: (instruction: TrainInstruction) => MessageBase | Promise<MessageBase>;
  onReplySent?: WireClientOptions['onReplySent'];
}

export function scriptedWireClient(url: string, o: ScriptedClientOptions): WireClient {
  const identity = o.identity ?? createIdentity(`client-${o.index}`);
  return new WireClient({
    url,
    connect: (u) => new WebSocket(u) as unknown as WebSocketLike,
    clientId: identity.clientId,
    signer: nodeSigner(identity.privateKey),
    crypto: nodeFrameCrypto,
    enrollmentToken: `token-${o.index}`,
    onWelcome: () => async (m: MessageBase) => o.train(m as TrainInstruction),
    ...(o.onReplySent ? { onReplySent: o.onReplySent } : {}),
  });
}
