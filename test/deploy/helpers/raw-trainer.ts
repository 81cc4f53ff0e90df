// An adversarial client written from the protocol (proto/federa.proto) with the raw test peer:
// it enrolls, then answers every instruction with whatever `answer` makes of it — signed, well
// formed, and as hostile as the test wants. It reconnects when the server goes away (a restart).
import type { DecodedFrame } from '../../../src/wire/codec.js';
import type { MessageBase } from '../../../src/core/messages.js';
import { messageBody } from '../../../src/wire/codec.js';
import { nodeSigner, type ClientIdentity } from '../../../src/node/identity.js';
import { RawConnection } from './raw.js';

export interface RawTrainerOptions {
  identity: ClientIdentity;
  token: string;
  ca?: string;
  /** The reply to an instruction (type, run and round are filled in); undefined sends nothing. */
  answer: (instruction: DecodedFrame) => Omit<MessageBase, 'runId' | 'round'> | undefined | Promise<Omit<MessageBase, 'runId' | 'round'> | undefined>;
}

export interface RawTrainer {
  /** Instructions answered, as `<type>@<round>`. */
  readonly answered: string[];
  stop(): Promise<void>;
}

export function startRawTrainer(url: string, o: RawTrainerOptions): RawTrainer {
  const signer = nodeSigner(o.identity.privateKey);
  const answered: string[] = [];
  let stopped = false;
  let conn: RawConnection | undefined;
  const loop = (async () => {
    while (!stopped) {
      try {
        conn = await RawConnection.open(url, { ca: o.ca, timeoutMs: 5_000 });
        const r = await conn.hello(o.identity.clientId, signer, { token: o.token });
        if (!r.welcome) throw new Error(`refused: ${JSON.stringify(r.notice)}`);
        for (;;) {
          const ins = await conn.next('instruction', 600_000);
          const reply = await o.answer(ins);
          if (!reply) continue;
          const { type, ...rest } = reply as MessageBase;
          const body = messageBody({ ...rest, type, runId: ins.runId, round: ins.round } as MessageBase);
          await conn.sendFrame({ kind: 'reply', runId: ins.runId, round: ins.round, clientId: o.identity.clientId, requestId: ins.requestId, type, body }, signer);
          answered.push(`${ins.type}@${ins.round}`);
        }
      } catch {
        conn?.close();
        if (!stopped) await new Promise((r) => setTimeout(r, 300));
      }
    }
  })();
  return {
    answered,
    stop: async () => {
      stopped = true;
      conn?.close();
      await loop;
    },
  };
}

/** The attack of round r: odd rounds an error reply with a 20 MiB message, even rounds 50,000 metric names and 10¹² examples. */
export function oversizedStringsReply(round: number, d: number): MessageBase {
  if (round % 2) return { type: 'error', code: `E${'x'.repeat(999)}"} 1\nfake_metric{a="`, message: 'y'.repeat(20 * 1024 * 1024) } as unknown as MessageBase;
  const metrics: Record<string, number> = {};
  for (let i = 0; i < 50_000; i++) metrics[`metric_${i}_${'n'.repeat(80)}`] = i;
  return { type: 'train_result', update: new Float32Array(d), numExamples: 1e12, metrics } as unknown as MessageBase;
}
