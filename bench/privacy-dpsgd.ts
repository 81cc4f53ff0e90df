/**
 * Cost of sample-level DP-SGD in the TF.js trainer: one local epoch over MNIST examples with
 * plain SGD vs DP-SGD (per-example clipping, Gaussian noise per batch) with vectorised
 * per-example gradients (dense stacks) and with microbatches of one, for the zoo models at a few
 * batch sizes. Also prints the test accuracy after that epoch (same seed and data) so the utility
 * cost is visible next to the time cost.
 *
 *   npx tsx bench/privacy-dpsgd.ts
 *   npx tsx bench/privacy-dpsgd.ts --examples 2000 --batch 10,32 --models logreg
 *
 * Prints one JSON line per (model, batch size), then a table.
 */
import { Command } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../src/node/mnist.js';
import { subset } from '../src/data/dataset.js';
import { createTfjsTrainer } from '../src/models/tfjs-trainer.js';
import { activeBackend } from '../src/models/backend.js';
import type { ModelName } from '../src/models/zoo.js';

const opts = new Command('bench-privacy-dpsgd')
  .option('--examples <n>', 'training examples (one epoch)', (v) => Number(v), 1000)
  .option('--batch <list>', 'batch sizes', (v) => v.split(',').map(Number), [10, 32])
  .option('--models <list>', 'models', (v) => v.split(','), ['logreg', '2nn'])
  .option('--clip <C>', 'per-example clip norm', (v) => Number(v), 1)
  .option('--noise <sigma>', 'noise multiplier', (v) => Number(v), 1)
  .option('--lr <lr>', 'learning rate', (v) => Number(v), 0.1)
  .option('--repeats <n>', 'timed epochs per setting (median reported)', (v) => Number(v), 3)
  .parse()
  .opts<{ examples: number; batch: number[]; models: string[]; clip: number; noise: number; lr: number; repeats: number }>();

const { train, test } = loadMnist();
const data = subset(train, Int32Array.from({ length: Math.min(opts.examples, train.y.length) }, (_, i) => i));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows: string[][] = [];

for (const model of opts.models as ModelName[]) {
  for (const batchSize of opts.batch) {
    const trainer = await createTfjsTrainer(model, 784, 10, { seed: 1 });
    const initial = trainer.getParameters();
    const run = async (dp: false | 'auto' | 'microbatch') => {
      const times: number[] = [];
      let accuracy = 0;
      for (let r = 0; r < opts.repeats + 1; r++) {
        trainer.setParameters(initial);
        const t0 = performance.now();
        await trainer.fit(data, {
          epochs: 1,
          batchSize,
          learningRate: opts.lr,
          seed: 1,
          ...(dp ? { dpSgd: { l2NormClip: opts.clip, noiseMultiplier: opts.noise, noise: 'seeded' as const, perExampleGradients: dp } } : {}),
        });
        if (r > 0) times.push(performance.now() - t0); // the first epoch warms up kernels
        accuracy = (await trainer.evaluate(test)).metrics.accuracy;
      }
      return { ms: median(times), accuracy };
    };
    const plain = await run(false);
    const tensorsBefore = tf.memory().numTensors;
    const dp = await run('auto');
    const micro = await run('microbatch');
    const leaked = tf.memory().numTensors - tensorsBefore;
    trainer.dispose();
    const line = {
      model,
      batchSize,
      examples: data.y.length,
      plainMs: Math.round(plain.ms),
      dpSgdMs: Math.round(dp.ms),
      dpSgdMicrobatchMs: Math.round(micro.ms),
      slowdown: dp.ms / plain.ms,
      microbatchSlowdown: micro.ms / plain.ms,
      plainExamplesPerSecond: (data.y.length / plain.ms) * 1000,
      dpSgdExamplesPerSecond: (data.y.length / dp.ms) * 1000,
      plainAccuracy: plain.accuracy,
      dpSgdAccuracy: dp.accuracy,
      dpSgdMicrobatchAccuracy: micro.accuracy,
      leakedTensors: leaked,
      backend: await activeBackend(),
    };
    console.log(JSON.stringify(line));
    rows.push([
      model,
      String(batchSize),
      `${line.plainMs} ms`,
      `${line.dpSgdMs} ms (${line.slowdown.toFixed(1)}×)`,
      `${line.dpSgdMicrobatchMs} ms (${line.microbatchSlowdown.toFixed(1)}×)`,
      line.plainAccuracy.toFixed(4),
      line.dpSgdAccuracy.toFixed(4),
    ]);
  }
}

console.log(`\nOne epoch over ${data.y.length} MNIST examples, lr ${opts.lr}; DP-SGD with C = ${opts.clip}, σ = ${opts.noise}; median of ${opts.repeats} epochs (${await activeBackend()} backend)`);
console.log('| model | batch | plain SGD | DP-SGD vectorised | DP-SGD microbatches of 1 | acc plain | acc DP-SGD |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
