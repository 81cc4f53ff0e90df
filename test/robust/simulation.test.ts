import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeParams } from '../../src/core/params.js';
import { MemoryLogger } from '../../src/core/log.js';
import { FedAvg } from '../../src/strategy/fedavg.js';
import { runSimulation } from '../../src/sim/simulation.js';
import { clientIds } from '../../src/sim/virtual-clients.js';
import type { Dataset } from '../../src/data/dataset.js';
import type { FitOptions, FitOutcome } from '../../src/client/trainer.js';
import { CoordinateMedian } from '../../src/robust/median.js';
import { Krum } from '../../src/robust/krum.js';
import { RobustStrategy } from '../../src/aggregate/robust-strategy.js';
import { planAttack } from '../../src/robust/attacks.js';
import { FakeTrainer, sizedDataset } from '../helpers/fake-trainer.js';

const D = 4;
const N = 10;
const ids = clientIds(N);
// Ten clients with ten examples each (nine train, one validation).
const partitions = Array.from({ length: N }, (_, c) => Int32Array.from({ length: 10 }, (_, k) => c * 10 + k));
const trainConfig = { epochs: 1, batchSize: 1, learningRate: 0.5 };

function simulate(strategy: FedAvg | RobustStrategy, rounds: number, logger = new MemoryLogger()) {
  // Three of ten clients send −10 × their honest update (sign flipping with a scale).
  const attack = planAttack({ kind: 'sign-flip', fraction: 0.3, scale: 10 }, ids, 1);
  const trainer = new FakeTrainer(D, 1);
  return {
    attack,
    logger,
    run: runSimulation({
      train: sizedDataset(100),
      partitions,
      createTrainer: () => new FakeTrainer(D, 1),
      initialParams: makeParams(trainer.layout, new Float32Array(D)),
      strategy,
      rounds,
      seed: 1,
      sampling: { fraction: 1, minClients: N },
      evaluation: false,
      layers: attack.layers,
      clientData: attack.poisonData,
      logger,
    }),
  };
}

test('in simulation, FedAvg is driven away by sign flippers while the coordinate median follows the honest clients', async () => {
  // Honest update 0.5·(1 − w); three attackers send −5·(1 − w). The median of 10 is the honest value.
  const robust = new RobustStrategy(new FedAvg({ trainConfig }), { aggregator: new CoordinateMedian(), reputation: { decay: 1, excludeAt: 2 } });
  const r = simulate(robust, 3);
  const res = await r.run;
  for (const v of res.params.data) assert.ok(Math.abs(v - 0.875) < 1e-6, `robust: ${v} (honest clients alone reach 1 − 0.5³)`);
  const plain = await simulate(new FedAvg({ trainConfig }), 3).run;
  // (7·0.5 − 3·5)/10 = −1.15 per unit of (1 − w): the model runs away from the clients' target 1.
  for (const v of plain.params.data) assert.ok(v < -3, `fedavg: ${v}`);

  // Anomalies: exactly the attackers, every round; recorded in the history and logged.
  const malicious = [...r.attack.malicious];
  assert.equal(malicious.length, 3);
  for (const rec of res.history) {
    assert.equal(rec.status, 'completed');
    const flagged = (rec.events ?? []).filter((e) => e.kind === 'robust/anomaly').map((e) => e.clientId);
    assert.deepEqual(flagged, malicious, `round ${rec.round}`);
    assert.equal(rec.train?.metrics.robust_flagged, 3);
  }
  // Flagged in rounds 1 and 2 (penalty 2, no decay): excluded from round 3.
  const excluded = (res.history[2].events ?? []).filter((e) => e.kind === 'robust/excluded').map((e) => e.clientId);
  assert.deepEqual(excluded, malicious);
  assert.equal(res.history[2].train?.metrics.robust_used, 7);
  const logged = r.logger.entries.filter((e) => (e.fields as { kind?: string }).kind === 'robust/anomaly');
  assert.equal(logged.length, 9);
  assert.equal(logged[0].level, 'info');
  assert.match(logged[0].message, /flagged in round 1: cosine -1\.000 < 0/);
  assert.equal((logged[0].fields as { round?: number }).round, 1);
});

test('a round with too few updates for the rule is skipped with the reason; the model is kept', async () => {
  const robust = new RobustStrategy(new FedAvg({ trainConfig }), { aggregator: new Krum({ f: 4 }) });
  const res = await simulate(robust, 1).run;
  assert.equal(res.history[0].status, 'skipped');
  assert.match(res.history[0].reason ?? '', /aggregation failed: insufficient_results: krum: n = 10 updates are too few to tolerate f = 4 .*n > 2f \+ 2 = 10/);
  assert.deepEqual([...res.params.data], [0, 0, 0, 0]);
});

/** Records the labels each fit saw. */
class LabelRecorder extends FakeTrainer {
  static seen: number[][] = [];
  override async fit(data: Dataset, o: FitOptions): Promise<FitOutcome> {
    LabelRecorder.seen.push([...data.y]);
    return super.fit(data, o);
  }
}

test('data poisoning reaches the malicious clients\' trainers through runSimulation (label flipping)', async () => {
  const attack = planAttack({ kind: 'label-flip', fraction: 0.2 }, ids, 3);
  const labels = Int32Array.from({ length: 100 }, (_, i) => i % 10);
  const train: Dataset = { x: new Float32Array(100), y: labels, numFeatures: 1, numClasses: 10 };
  LabelRecorder.seen = [];
  const t = new LabelRecorder(D, 1);
  await runSimulation({
    train,
    partitions,
    validationFraction: 0,
    createTrainer: () => new LabelRecorder(D, 1),
    initialParams: makeParams(t.layout, new Float32Array(D)),
    strategy: new FedAvg({ trainConfig }),
    rounds: 1,
    seed: 1,
    sampling: { fraction: 1, minClients: N },
    evaluation: false,
    clientData: attack.poisonData,
  });
  // Every client holds labels 0..9 once; the two malicious ones train on 9..0.
  const sorted = LabelRecorder.seen.map((y) => y.join(',')).sort();
  assert.equal(sorted.length, 10);
  assert.equal(sorted.filter((s) => s === '0,1,2,3,4,5,6,7,8,9').length, 8);
  assert.equal(sorted.filter((s) => s === '9,8,7,6,5,4,3,2,1,0').length, 2);
});
