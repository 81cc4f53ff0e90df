// A hand-driven protocol peer for security and fuzz tests: sends exactly the frames a test makes
// (well-formed, forged, replayed or garbage) and records what the server answers. Like a real
// client it signs for the challenge of its connection and numbers its nonces 1, 2, 3, …
import { WebSocket } from 'ws';
import { decodeFrame, encodeFrame, type DecodedFrame, type FrameInit } from '../../../src/wire/codec.js';
import { signFrame, type FrameSigner } from '../../../src/wire/crypto.js';
import { CHALLENGE_BYTES, helloBody, parseChallenge, parseNotice, sequenceNonce, type Notice } from '../../../src/wire/protocol.js';
import { nodeFrameCrypto } from '../../../src/node/identity.js';
import { within } from '../../helpers/deadline.js';

/** How long a raw connection waits, by default, for the server (generous: CPU is shared in CI). */
export const RAW_WAIT_MS = 15_000;

export class RawConnection {
  readonly frames: DecodedFrame[] = [];
  private readonly closedPromise: Promise<{ code: number; reason: string }>;
  /** Waiters for the next frame or the close: each is woken (and re-checks) on every event. */
  private waiters = new Set<() => void>();
  private consumed = new Set<DecodedFrame>();
  /** Frames before this index are all consumed. */
  private cursor = 0;
  isClosed = false;
  closeInfo?: { code: number; reason: string };
  /** The server's challenge on this connection (once it arrived): what frames are signed for. */
  challenge?: Uint8Array;
  /** Nonces used so far (the next frame's nonce is `sequenceNonce(sequence + 1)`). */
  sequence = 0;

  private constructor(readonly ws: WebSocket) {
    this.closedPromise = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.isClosed = true;
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      }),
    );
    ws.on('error', () => {});
    ws.on('message', (data: Buffer) => {
      try {
        const f = decodeFrame(new Uint8Array(data), { maxFrameBytes: 1 << 30 });
        if (f.kind === 'challenge' && !this.challenge) this.challenge = parseChallenge(f).challenge;
        this.frames.push(f);
      } catch {
        // the server only sends valid frames; ignore anything else
      }
      this.wake();
    });
  }

  /** Opens a WebSocket to `url` (…/ws); rejects if it is not open within `timeoutMs`. */
  static open(url: string, options: { ca?: string; timeoutMs?: number } = {}): Promise<RawConnection> {
    const timeoutMs = options.timeoutMs ?? RAW_WAIT_MS;
    const target = url.replace(/\/?$/, '/ws').replace(/\/ws\/ws$/, '/ws');
    const ws = new WebSocket(target, { ca: options.ca, maxPayload: 1 << 30, handshakeTimeout: timeoutMs });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a WebSocket connection to ${target}`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(new RawConnection(ws));
      });
      ws.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`could not open a WebSocket connection to ${target}: ${e.message}`));
      });
      ws.once('close', (code) => {
        clearTimeout(timer);
        reject(new Error(`the WebSocket connection to ${target} closed (code ${code}) before it opened`));
      });
    });
  }

  /** The server's close of this connection (bounded: rejects after `timeoutMs`). */
  get closed(): Promise<{ code: number; reason: string }> {
    return this.closedWithin(RAW_WAIT_MS);
  }

  closedWithin(timeoutMs: number): Promise<{ code: number; reason: string }> {
    return within(this.closedPromise, timeoutMs, `the server to close the connection (frames so far: ${this.frames.map((f) => f.kind).join(', ') || 'none'})`);
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /**
   * The next not-yet-taken frame of `kind`: waits for it at most `timeoutMs`; rejects as soon as
   * the connection is closed without one (frames received before the close are still found).
   */
  async next(kind: DecodedFrame['kind'] | Array<DecodedFrame['kind']>, timeoutMs = RAW_WAIT_MS): Promise<DecodedFrame> {
    const kinds = Array.isArray(kind) ? kind : [kind];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = this.cursor; i < this.frames.length; i++) {
        const f = this.frames[i];
        if (!kinds.includes(f.kind) || this.consumed.has(f)) continue;
        this.consumed.add(f);
        while (this.cursor < this.frames.length && this.consumed.has(this.frames[this.cursor])) this.cursor++;
        return f;
      }
      // Checked after the scan and before registering the waiter, in the same synchronous step:
      // a close that arrived at any point before is seen here, one that arrives later wakes us.
      if (this.isClosed) {
        throw new Error(`connection closed (code ${this.closeInfo?.code}${this.closeInfo?.reason ? `: ${this.closeInfo.reason}` : ''}) before a ${kinds.join('/')} frame arrived; frames received: ${this.frames.map((f) => f.kind).join(', ') || 'none'}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for a ${kinds.join('/')} frame; frames received: ${this.frames.map((f) => f.kind).join(', ') || 'none'}`);
      await new Promise<void>((r) => {
        const wake = () => {
          clearTimeout(t);
          this.waiters.delete(wake);
          r();
        };
        const t = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  async notice(timeoutMs = RAW_WAIT_MS): Promise<Notice> {
    return parseNotice(await this.next('notice', timeoutMs));
  }

  /** Sends raw bytes (a no-op once the connection is closed: the server may close first). */
  send(bytes: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  /** The next nonce of this connection's sequence. */
  nextNonce(): Uint8Array {
    return sequenceNonce(++this.sequence);
  }

  /**
   * Encodes (and signs, with `signer`, for this connection's challenge unless `options.challenge`
   * says otherwise) a frame with this connection's next nonce (or `options.nonce`); not sent.
   */
  async frameBytes(init: FrameInit, signer?: FrameSigner, options: { nonce?: Uint8Array; challenge?: Uint8Array } = {}): Promise<Uint8Array> {
    return frameBytes({ nonce: options.nonce ?? this.nextNonce(), ...init }, signer, options.challenge ?? this.challenge);
  }

  /** As `frameBytes`, and sends them; returns the bytes. */
  async sendFrame(init: FrameInit, signer?: FrameSigner, options: { nonce?: Uint8Array; challenge?: Uint8Array } = {}): Promise<Uint8Array> {
    const bytes = await this.frameBytes(init, signer, options);
    this.send(bytes);
    return bytes;
  }

  /**
   * Answers the challenge with a signed hello; resolves with the welcome or the server's notice
   * (a refusal: the server usually closes the connection right after it, which is fine — the
   * notice arrived first and is found among the frames). Rejects, naming what it waited for, when
   * the connection closes or the deadline passes with neither.
   */
  async hello(clientId: string, signer: FrameSigner, options: { token?: string; runId?: string; publicKey?: Uint8Array; timeoutMs?: number } = {}): Promise<{ welcome?: DecodedFrame; notice?: Notice; hello: Uint8Array }> {
    const timeoutMs = options.timeoutMs ?? RAW_WAIT_MS;
    const ch = parseChallenge(await this.next('challenge', timeoutMs));
    const hello = await this.sendFrame({ kind: 'hello', runId: options.runId ?? ch.runId, round: ch.round, clientId, body: helloBody({ challenge: ch.challenge, publicKey: options.publicKey ?? signer.publicKey, enrollmentToken: options.token }) }, signer);
    let f: DecodedFrame;
    try {
      f = await this.next(['welcome', 'notice'], timeoutMs);
    } catch (e) {
      throw new Error(`hello of ${clientId}: no welcome or notice: ${(e as Error).message}`);
    }
    return f.kind === 'welcome' ? { welcome: f, hello } : { notice: parseNotice(f), hello };
  }

  close(): void {
    this.ws.terminate();
  }
}

/** A frame's bytes, signed by `signer` for the connection of `challenge` (default: 32 zero bytes, no real connection's). */
export async function frameBytes(init: FrameInit, signer?: FrameSigner, challenge: Uint8Array = new Uint8Array(CHALLENGE_BYTES)): Promise<Uint8Array> {
  const bytes = encodeFrame(init, { reserveSignature: Boolean(signer) });
  return signer ? signFrame(bytes, signer, nodeFrameCrypto, challenge) : bytes;
}
