// A hand-driven protocol peer for security and fuzz tests: sends exactly the frames a test makes
// (well-formed, forged, replayed or garbage) and records what the server answers.
import { WebSocket } from 'ws';
import { decodeFrame, encodeFrame, type DecodedFrame, type FrameInit } from '../../../src/wire/codec.js';
import { signFrame, type FrameSigner } from '../../../src/wire/crypto.js';
import { helloBody, parseChallenge, parseNotice, type Notice } from '../../../src/wire/protocol.js';
import { nodeFrameCrypto } from '../../../src/node/identity.js';

export class RawConnection {
  readonly frames: DecodedFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];
  private consumed = new Set<DecodedFrame>();
  /** Frames before this index are all consumed. */
  private cursor = 0;
  isClosed = false;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.isClosed = true;
        resolve({ code, reason: reason.toString() });
        this.wake();
      }),
    );
    ws.on('error', () => {});
    ws.on('message', (data: Buffer) => {
      try {
        this.frames.push(decodeFrame(new Uint8Array(data), { maxFrameBytes: 1 << 30 }));
      } catch {
        // the server only sends valid frames; ignore anything else
      }
      this.wake();
    });
  }

  static open(url: string, options: { ca?: string } = {}): Promise<RawConnection> {
    const ws = new WebSocket(url.replace(/\/?$/, '/ws').replace(/\/ws\/ws$/, '/ws'), { ca: options.ca, maxPayload: 1 << 30 });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawConnection(ws)));
      ws.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The next not-yet-taken frame of `kind` (waits for it; rejects if the connection closes first). */
  async next(kind: DecodedFrame['kind'] | Array<DecodedFrame['kind']>, timeoutMs = 15_000): Promise<DecodedFrame> {
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
      if (this.isClosed) throw new Error(`connection closed before a ${kinds.join('/')} frame arrived`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${kinds.join('/')} frame within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async notice(timeoutMs = 15_000): Promise<Notice> {
    return parseNotice(await this.next('notice', timeoutMs));
  }

  send(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  /** Encodes (and signs, with `signer`) a frame; returns its bytes after sending them. */
  async sendFrame(init: FrameInit, signer?: FrameSigner, options: { nonce?: Uint8Array } = {}): Promise<Uint8Array> {
    const bytes = await frameBytes({ nonce: options.nonce ?? nodeFrameCrypto.randomBytes(16), ...init }, signer);
    this.send(bytes);
    return bytes;
  }

  /** Answers the challenge with a signed hello; resolves with the welcome (or rejects with the server's notice). */
  async hello(clientId: string, signer: FrameSigner, options: { token?: string; runId?: string; publicKey?: Uint8Array } = {}): Promise<{ welcome?: DecodedFrame; notice?: Notice; hello: Uint8Array }> {
    const ch = parseChallenge(await this.next('challenge'));
    const hello = await this.sendFrame({ kind: 'hello', runId: options.runId ?? ch.runId, round: ch.round, clientId, body: helloBody({ challenge: ch.challenge, publicKey: options.publicKey ?? signer.publicKey, enrollmentToken: options.token }) }, signer);
    const f = await this.next(['welcome', 'notice']).catch(() => undefined);
    return f?.kind === 'welcome' ? { welcome: f, hello } : f ? { notice: parseNotice(f), hello } : { hello };
  }

  close(): void {
    this.ws.terminate();
  }
}

export async function frameBytes(init: FrameInit, signer?: FrameSigner): Promise<Uint8Array> {
  const bytes = encodeFrame(init, { reserveSignature: Boolean(signer) });
  return signer ? signFrame(bytes, signer, nodeFrameCrypto) : bytes;
}
