/**
 * `federa/wire`: the deployment protocol for writing your own client or tooling — the frame codec
 * (proto/federa.proto), frame signatures, protocol constants and the isomorphic WireClient.
 */
export {
  encodeFrame,
  decodeFrame,
  attachSignature,
  unsignedPart,
  encodeRecord,
  decodeRecord,
  messageBody,
  frameMessage,
  FrameKind,
  DEFAULT_MAX_FRAME_BYTES,
  type Frame,
  type FrameInit,
  type FrameKindName,
  type DecodedFrame,
  type DecodeLimits,
  type WireValue,
  type WireRecord,
} from './codec.js';
export { signFrame, verifyFrame, signingMessage, webFrameCrypto, nobleSigner, webCryptoSigner, generateSecretKey, type FrameCrypto, type FrameSigner } from './crypto.js';
export { CloseCode, backoffDelay, type BackoffOptions, type ModelSpec, type Welcome } from './protocol.js';
export { PROTOCOL_VERSION } from '../core/messages.js';
export { WireClient, websocketUrl, type WireClientOptions, type WireClientOutcome, type WebSocketLike } from './client.js';
