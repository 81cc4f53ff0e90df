/**
 * Attacks for simulations: what malicious clients do, so that defences can be measured.
 *
 * Model poisoning is a `ClientLayer` on the malicious clients only; it rewrites the update the
 * client sends (`update = trained − global`):
 * - sign flipping: update ← −s · update;
 * - scaling (model replacement, Bagdasaryan et al. 2020): update ← γ · update;
 * - Gaussian noise: update ← N(0, σ²) per coordinate (the trained update is thrown away).
 *
 * Data poisoning changes the malicious clients' training data before they train:
 * - label flipping: label y → C − 1 − y for every example;
 * - pixel-pattern backdoor (Gu et al. 2017, BadNets): a square patch of bright pixels in a corner of
 *   a fraction of the client's images, relabelled to the target class. Its success rate is the
 *   fraction of triggered test images (whose true class is not the target) classified as the target.
 *
 * Which clients are malicious is drawn from the seed (`chooseMalicious`); the noise of the Gaussian
 * attack and the backdoor's choice of examples come from named streams of the same seed.
 */
import { FederaError } from '../core/errors.js';
import type { TrainReply } from '../core/messages.js';
import { Rng } from '../core/rng.js';
import type { ClientData, ClientLayer } from '../client/runtime.js';
import type { Trainer } from '../client/trainer.js';
import type { Dataset } from '../data/dataset.js';

export const ATTACK_KINDS = ['sign-flip', 'scale', 'noise', 'label-flip', 'backdoor'] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];

/** The malicious clients: round(fraction · N) of `ids`, drawn with the seed's `attack/malicious` stream. Sorted. */
export function chooseMalicious(ids: readonly string[], fraction: number, seed: number | string): string[] {
  if (!(fraction >= 0 && fraction <= 1)) throw new FederaError('invalid_config', `attack fraction must be in [0, 1], got ${fraction}`);
  const count = Math.round(fraction * ids.length);
  return new Rng(seed).stream('attack/malicious').sample(ids, count).sort();
}

/** A layer that rewrites the update of every train reply in place. */
function updateLayer(transform: (update: Float32Array, clientId: string, round: number) => void): ClientLayer {
  return (next, client) => async (message) => {
    const reply = await next(message);
    if (reply.type === 'train_result') transform((reply as TrainReply).update, client.clientId, reply.round);
    return reply;
  };
}

/** Sign flipping: update ← −scale · update (scale > 0, default 1: plain negation). */
export function signFlipLayer(scale = 1): ClientLayer {
  if (!(Number.isFinite(scale) && scale > 0)) throw new FederaError('invalid_config', `sign flip: scale must be a finite number > 0, got ${scale}`);
  const s = -scale;
  return updateLayer((u) => {
    for (let j = 0; j < u.length; j++) u[j] *= s;
  });
}

/** Scaled update (model replacement): update ← factor · update. */
export function scaleLayer(factor: number): ClientLayer {
  if (!Number.isFinite(factor)) throw new FederaError('invalid_config', `scaling attack: factor must be a finite number, got ${factor}`);
  return updateLayer((u) => {
    for (let j = 0; j < u.length; j++) u[j] *= factor;
  });
}

/**
 * Gaussian noise: the update is replaced by N(0, σ²) noise, drawn from the seed's stream
 * `attack/noise/<client>/<round>` (so a run is reproducible).
 */
export function gaussianNoiseLayer(sigma: number, seed: number | string): ClientLayer {
  if (!(Number.isFinite(sigma) && sigma > 0)) throw new FederaError('invalid_config', `noise attack: sigma must be a finite number > 0, got ${sigma}`);
  const root = new Rng(seed).stream('attack/noise');
  return updateLayer((u, clientId, round) => {
    const rng = root.stream(clientId).stream(round);
    for (let j = 0; j < u.length; j++) u[j] = sigma * rng.normal();
  });
}

/** A copy of `data` with every label y replaced by C − 1 − y. */
export function flipLabels(data: Dataset): Dataset {
  const c = data.numClasses;
  const y = new Int32Array(data.y.length);
  for (let i = 0; i < y.length; i++) y[i] = c - 1 - data.y[i];
  return { ...data, y };
}

export interface BackdoorTrigger {
  /** Side of the square patch in pixels (default 3). */
  size?: number;
  /** Pixel value written into the patch (default 1: white for data in [0, 1]). */
  value?: number;
  /** Corner of the image (default bottom-right). */
  corner?: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';
  /** Label the backdoor should produce (default 0). */
  target?: number;
}

function triggerGeometry(data: Dataset, t: BackdoorTrigger): { h: number; w: number; c: number; size: number; value: number; row0: number; col0: number; target: number } {
  const shape = data.featureShape;
  if (!shape || shape.length < 2 || shape.length > 3) {
    throw new FederaError('invalid_config', 'backdoor: the data must be images (featureShape [height, width] or [height, width, channels])');
  }
  const [h, w] = shape;
  const c = shape.length === 3 ? shape[2] : 1;
  const size = t.size ?? 3;
  const target = t.target ?? 0;
  if (!(Number.isInteger(size) && size >= 1 && size <= Math.min(h, w))) throw new FederaError('invalid_config', `backdoor: patch size must be an integer in [1, ${Math.min(h, w)}], got ${size}`);
  if (!(Number.isInteger(target) && target >= 0 && target < data.numClasses)) throw new FederaError('invalid_config', `backdoor: target must be a class in [0, ${data.numClasses}), got ${target}`);
  const corner = t.corner ?? 'bottom-right';
  const row0 = corner.startsWith('bottom') ? h - size : 0;
  const col0 = corner.endsWith('right') ? w - size : 0;
  return { h, w, c, size, value: t.value ?? 1, row0, col0, target };
}

/** Writes the trigger into example `index` of `x` (row-major examples of `data`'s shape), in place. */
export function applyTrigger(x: Float32Array, index: number, data: Dataset, trigger: BackdoorTrigger = {}): void {
  const g = triggerGeometry(data, trigger);
  stamp(x, index * data.numFeatures, g);
}

function stamp(x: Float32Array, base: number, g: ReturnType<typeof triggerGeometry>): void {
  for (let r = g.row0; r < g.row0 + g.size; r++) {
    for (let col = g.col0; col < g.col0 + g.size; col++) {
      for (let ch = 0; ch < g.c; ch++) x[base + (r * g.w + col) * g.c + ch] = g.value;
    }
  }
}

/**
 * A copy of `data` in which round(poisonFraction · size) examples, chosen with `rng`, carry the
 * trigger and the target label; the rest are unchanged.
 */
export function poisonBackdoor(data: Dataset, poisonFraction: number, rng: Rng, trigger: BackdoorTrigger = {}): Dataset {
  if (!(poisonFraction > 0 && poisonFraction <= 1)) throw new FederaError('invalid_config', `backdoor: poisonFraction must be in (0, 1], got ${poisonFraction}`);
  const g = triggerGeometry(data, trigger);
  const n = data.y.length;
  const x = data.x.slice();
  const y = data.y.slice();
  for (const i of rng.sampleIndices(n, Math.round(poisonFraction * n))) {
    stamp(x, i * data.numFeatures, g);
    y[i] = g.target;
  }
  return { ...data, x, y };
}

/** The backdoor test set: every example of `test` whose label is not the target, triggered and labelled with the target. */
export function triggeredTestSet(test: Dataset, trigger: BackdoorTrigger = {}): Dataset {
  const g = triggerGeometry(test, trigger);
  const keep: number[] = [];
  for (let i = 0; i < test.y.length; i++) if (test.y[i] !== g.target) keep.push(i);
  const f = test.numFeatures;
  const x = new Float32Array(keep.length * f);
  const y = new Int32Array(keep.length).fill(g.target);
  keep.forEach((i, k) => {
    x.set(test.x.subarray(i * f, (i + 1) * f), k * f);
    stamp(x, k * f, g);
  });
  return { ...test, x, y };
}

/** Fraction of `triggered` (from {@link triggeredTestSet}) that a trainer holding the model classifies as the target. */
export async function backdoorSuccessRate(trainer: Trainer, triggered: Dataset): Promise<number> {
  if (triggered.y.length === 0) return 0;
  const r = await trainer.evaluate(triggered);
  const acc = r.metrics.accuracy;
  if (typeof acc !== 'number') throw new FederaError('unsupported', 'backdoorSuccessRate: the trainer\'s evaluate reports no accuracy');
  return acc;
}

export interface AttackSettings {
  kind: AttackKind;
  /** Fraction of all clients that are malicious, in [0, 1]. */
  fraction: number;
  /** sign-flip: s in update ← −s·update (default 1); scale: γ in update ← γ·update (default 10). */
  scale?: number;
  /** noise: standard deviation per coordinate (default 1). */
  sigma?: number;
  /** backdoor: the target label (default 0). */
  target?: number;
  /** backdoor: fraction of a malicious client's training examples that are poisoned (default 0.5). */
  poisonFraction?: number;
  /** backdoor: side of the square patch (default 3). */
  patchSize?: number;
}

export interface AttackPlan {
  readonly settings: AttackSettings;
  /** Malicious client ids (sorted). */
  readonly malicious: readonly string[];
  /** Client layers: the attack's for malicious clients, none for the others. */
  layers(clientId: string, index: number): ClientLayer[];
  /** Rewrites a malicious client's data (data-poisoning attacks); others' data is returned as is. */
  poisonData(clientId: string, index: number, data: ClientData): ClientData;
  /** The backdoor trigger, for the backdoor attack. */
  readonly trigger?: BackdoorTrigger;
  /** One line for logs and summaries. */
  readonly description: string;
}

/**
 * Sets up an attack on a simulated population: picks the malicious clients from the seed and
 * returns the layers and data rewrite to hand to `runSimulation` (`layers`, `clientData`).
 * Data poisoning applies to the training split only; validation splits stay clean.
 */
export function planAttack(settings: AttackSettings, ids: readonly string[], seed: number | string): AttackPlan {
  const kind = settings.kind;
  if (!(ATTACK_KINDS as readonly string[]).includes(kind)) throw new FederaError('invalid_config', `attack.kind must be one of ${ATTACK_KINDS.join(', ')}; got "${String(kind)}"`);
  const malicious = chooseMalicious(ids, settings.fraction, seed);
  const bad = new Set(malicious);
  let layer: ClientLayer | undefined;
  let detail: string;
  switch (kind) {
    case 'sign-flip': {
      const s = settings.scale ?? 1;
      layer = signFlipLayer(s);
      detail = `update ← −${s}·update`;
      break;
    }
    case 'scale': {
      const s = settings.scale ?? 10;
      layer = scaleLayer(s);
      detail = `update ← ${s}·update`;
      break;
    }
    case 'noise': {
      const sigma = settings.sigma ?? 1;
      layer = gaussianNoiseLayer(sigma, seed);
      detail = `update ← N(0, ${sigma}²)`;
      break;
    }
    case 'label-flip':
      detail = 'labels y → C−1−y';
      break;
    case 'backdoor':
      detail = `${settings.patchSize ?? 3}×${settings.patchSize ?? 3} patch → label ${settings.target ?? 0} on ${Math.round((settings.poisonFraction ?? 0.5) * 100)} % of their examples`;
      break;
  }
  const trigger: BackdoorTrigger | undefined = kind === 'backdoor' ? { size: settings.patchSize ?? 3, target: settings.target ?? 0 } : undefined;
  const poisonFraction = settings.poisonFraction ?? 0.5;
  if (kind === 'backdoor' && !(poisonFraction > 0 && poisonFraction <= 1)) {
    throw new FederaError('invalid_config', `backdoor: poisonFraction must be in (0, 1], got ${poisonFraction}`);
  }
  const dataRng = new Rng(seed).stream('attack/backdoor');
  return {
    settings,
    malicious,
    trigger,
    description: `${kind}: ${malicious.length} of ${ids.length} clients malicious (${detail})`,
    layers: (clientId) => (layer && bad.has(clientId) ? [layer] : []),
    poisonData: (clientId, _index, data) => {
      if (!bad.has(clientId)) return data;
      if (kind === 'label-flip') return { ...data, train: flipLabels(data.train) };
      if (kind === 'backdoor') return { ...data, train: poisonBackdoor(data.train, poisonFraction, dataRng.stream(clientId), trigger) };
      return data;
    },
  };
}
