/**
 * An empirical privacy audit of a finished simulated run (`federa audit <run folder>`): how well
 * an attacker who holds the final model tells the data it was trained on from data it was not.
 *
 * Loss-threshold membership inference (Yeom et al. 2018): a lower loss under the final model
 * suggests a member. Members are the training examples of the clients that took part in at least
 * one completed round (their training split, as the simulation cut it); non-members are the test
 * split, which no client held. Reported: the ROC AUC (0.5 = the attacker learns nothing) and the
 * true-positive rate at a 1 % false-positive rate (Carlini et al. 2022's low-FPR view). The same
 * at the level of clients: a client's mean training loss, members being the clients that trained,
 * non-members those never selected (when there are both).
 *
 * Not built here: the shadow-model (LiRA) attack and the canary-based empirical ε.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FederaError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { subset, type Dataset } from '../data/dataset.js';
import { splitIndices } from '../data/partition.js';
import { parseSimulationConfig } from '../config/rules.js';
import type { RoundRecord } from '../core/records.js';
import { clientIds as defaultClientIds } from '../sim/virtual-clients.js';
import { prepareData } from './prepare-data.js';
import { readModel } from './model-file.js';
import { dataShapeOf, resolveModel } from './workloads.js';

export interface AttackResult {
  readonly members: number;
  readonly nonMembers: number;
  /** ROC AUC of "lower loss ⇒ member". */
  readonly auc: number;
  /** Fraction of members flagged at the threshold that flags 1 % of the non-members. */
  readonly tprAt1PctFpr: number;
  /** Mean loss of each group. */
  readonly memberLoss: number;
  readonly nonMemberLoss: number;
}

export interface AuditReport {
  readonly runDir: string;
  readonly model: string;
  readonly epsilon?: number;
  readonly examples: AttackResult;
  readonly clients?: AttackResult;
}

/**
 * The loss-threshold attack's AUC (Mann–Whitney: P(member loss < non-member loss), ties ½) and its
 * TPR at 1 % FPR, from the two groups' losses.
 */
export function lossThresholdAttack(memberLosses: readonly number[], nonMemberLosses: readonly number[]): AttackResult {
  if (memberLosses.length === 0 || nonMemberLosses.length === 0) throw new FederaError('invalid_argument', 'membership inference needs at least one member and one non-member');
  const all = [...memberLosses.map((l) => ({ l, m: 1 })), ...nonMemberLosses.map((l) => ({ l, m: 0 }))].sort((a, b) => a.l - b.l);
  // Ranks with ties averaged; U counts the (member, non-member) pairs where the member's loss is lower.
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].l === all[i].l) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k].m === 1) rankSum += rank;
    i = j + 1;
  }
  const n1 = memberLosses.length;
  const n0 = nonMemberLosses.length;
  const uLow = rankSum - (n1 * (n1 + 1)) / 2; // pairs where the member ranks above (higher loss)
  const auc = 1 - uLow / (n1 * n0);
  const sortedNon = [...nonMemberLosses].sort((a, b) => a - b);
  // The threshold below which at most 1 % of the non-members fall.
  const k = Math.floor(0.01 * n0);
  const threshold = sortedNon[k];
  const tpr = memberLosses.filter((l) => l < threshold).length / n1;
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { members: n1, nonMembers: n0, auc, tprAt1PctFpr: tpr, memberLoss: mean(memberLosses), nonMemberLoss: mean(nonMemberLosses) };
}

/** Audits the run in `runDir` (config.json, history.jsonl and model.json/.bin written by `federa simulate`). */
export async function auditRun(runDir: string, o: { maxExamples?: number } = {}): Promise<AuditReport> {
  for (const f of ['config.json', 'history.jsonl', 'model.json', 'model.bin']) {
    if (!existsSync(join(runDir, f))) throw new FederaError('invalid_argument', `${runDir}: no ${f}; federa audit reads a run folder written by federa simulate`);
  }
  const config = parseSimulationConfig(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')));
  const history = readFileSync(join(runDir, 'history.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as RoundRecord);
  const data = prepareData(config);
  const ids = data.clientIds ?? defaultClientIds(data.partitions.length);
  const trained = new Set(history.filter((h) => h.status === 'completed').flatMap((h) => h.succeeded));
  const model = await resolveModel(config.model, dataShapeOf(data.train, config.task), { seed: config.seed });
  const trainer = await model.createTrainer();
  try {
    trainer.setParameters(readModel(runDir).data);
    const lossOf = async (d: Dataset, rows: Int32Array) => {
      const out: number[] = [];
      for (const i of rows) out.push((await trainer.evaluate(subset(d, Int32Array.of(i)))).loss);
      return out;
    };
    const max = o.maxExamples ?? 2000;
    const rng = new Rng(`audit/${String(config.seed)}`);
    // Each client's training split, exactly as the simulation cut it.
    const splitRng = new Rng(config.seed).stream('validation-split');
    const trainRows = ids.map((id, i) => splitIndices(data.partitions[i], config.validationFraction, splitRng.stream(id)).first);
    const memberRows = Int32Array.from(ids.flatMap((id, i) => (trained.has(id) ? [...trainRows[i]] : [])));
    if (memberRows.length === 0) throw new FederaError('invalid_argument', `${runDir}: no client completed a round; there are no members to audit`);
    const pick = (rows: Int32Array) => (rows.length <= max ? rows : Int32Array.from(rng.sample([...rows], max)));
    const members = await lossOf(data.train, pick(memberRows));
    const nonMembers = await lossOf(data.test, pick(Int32Array.from({ length: data.test.y.length }, (_, i) => i)));
    const examples = lossThresholdAttack(members, nonMembers);
    // Client level: a client's mean loss on its training split.
    let clients: AttackResult | undefined;
    if (trained.size > 0 && trained.size < ids.length) {
      // One trainer: evaluated one client after another.
      const inLoss: number[] = [];
      const outLoss: number[] = [];
      for (const [i, id] of ids.entries()) (trained.has(id) ? inLoss : outLoss).push((await trainer.evaluate(subset(data.train, trainRows[i]))).loss);
      clients = lossThresholdAttack(inLoss, outLoss);
    }
    const epsilon = [...history].reverse().find((h) => h.privacy)?.privacy?.epsilon;
    const report: AuditReport = { runDir, model: config.model, ...(epsilon !== undefined ? { epsilon } : {}), examples, ...(clients ? { clients } : {}) };
    writeFileSync(join(runDir, 'audit.json'), JSON.stringify(report, null, 2) + '\n');
    return report;
  } finally {
    trainer.dispose();
  }
}
