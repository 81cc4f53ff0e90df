// The privacy audit (src/node/audit.ts, `federa audit`): the loss-threshold attack's AUC and TPR
// at 1 % FPR against hand-computed values, and a run audited end to end from its folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lossThresholdAttack } from '../../src/node/audit.js';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { simulate } from '../../src/cli/simulate.js';
import { ROOT } from '../deploy/helpers/procs.js';

test('loss-threshold attack: AUC = P(member loss < non-member loss), ties count ½; TPR at the 1 % FPR threshold', () => {
  const r = lossThresholdAttack([0.1, 0.2, 0.3], [0.25, 0.5]);
  assert.ok(Math.abs(r.auc - 5 / 6) < 1e-12, `${r.auc}`);
  assert.ok(Math.abs(r.tprAt1PctFpr - 2 / 3) < 1e-12, 'threshold at the lowest non-member loss: 0.1 and 0.2 are below it');
  assert.equal(lossThresholdAttack([0.5], [0.5]).auc, 0.5);
  assert.equal(lossThresholdAttack([1, 2], [0, 0.5]).auc, 0);
  // 200 non-members: the threshold is the 3rd lowest (index ⌊0.01·200⌋ = 2).
  const non = Array.from({ length: 200 }, (_, i) => i + 1);
  assert.equal(lossThresholdAttack([0.5, 2.5, 3.5], non).tprAt1PctFpr, 2 / 3);
  assert.throws(() => lossThresholdAttack([], [1]), /at least one member and one non-member/);
});

test('federa audit on a finished run: members fit better than non-members, clients that trained are told apart from those never selected', { timeout: 240_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'federa-audit-'));
  const config = parseSimulationConfig({ name: 'audit', seed: 3, model: '2nn', clients: 400, clientsPerRound: 10, rounds: 4, partition: { kind: 'iid' }, local: { epochs: 30, batchSize: 10, learningRate: 0.1 }, evaluation: { federatedEvery: 0, centralEvery: 4 }, output: out });
  const run = await simulate(config, { out: { write: () => true }, progress: false });
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'test/deploy/helpers/cli.ts'), 'audit', run.runDir, '--json'], { cwd: ROOT, timeout: 200_000 }, (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
  );
  assert.equal(code, 0, stderr + stdout);
  const r = JSON.parse(stdout);
  console.log(`# audit: examples AUC ${r.examples.auc.toFixed(4)} (member loss ${r.examples.memberLoss.toFixed(3)} vs ${r.examples.nonMemberLoss.toFixed(3)}), clients AUC ${r.clients.auc.toFixed(4)}`);
  assert.ok(r.examples.memberLoss < r.examples.nonMemberLoss, 'the model fits its training data better');
  assert.ok(r.examples.auc > 0.5 && r.examples.auc < 1);
  assert.ok(r.clients.auc > 0.55, `client-level AUC ${r.clients.auc}`);
  assert.equal(r.clients.members, new Set(run.history.flatMap((h) => h.succeeded)).size);
  assert.ok(existsSync(join(run.runDir, 'audit.json')));
  assert.deepEqual(JSON.parse(readFileSync(join(run.runDir, 'audit.json'), 'utf8')), r);
  const bad = await new Promise<{ code: number; stderr: string }>((done) =>
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'test/deploy/helpers/cli.ts'), 'audit', out], { cwd: ROOT }, (err, _o, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })),
  );
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /no config\.json; federa audit reads a run folder written by federa simulate/);
});
