/**
 * The DP keys that travel between server and clients: in the train config (server → client) and
 * in the train reply's metrics (client → server). Both halves (DpFedAvg and dpClientLayer) read
 * these names from here.
 */

/** Train-config keys. */
export const DP_CONFIG = {
  /** The round's clip norm C. */
  clipNorm: 'dp.clipNorm',
  /** 'central' | 'distributed' | 'local'. */
  mode: 'dp.mode',
  /** Standard deviation of the Gaussian noise the client adds to each coordinate of its clipped update (0 in central mode). */
  noiseStd: 'dp.noiseStd',
  /** Standard deviation of the noise the client adds to its centred unclipped bit (adaptive clipping; 0 in central mode). */
  countNoiseStd: 'dp.countNoiseStd',
} as const;

/** Reply metric keys. */
export const DP_METRICS = {
  /** b − 1/2 (+ the client's count noise), b = 1 when the update's norm was ≤ C (not clipped). */
  unclippedCentered: 'dp.unclippedCentered',
  /** 1 when the client added its share of noise. */
  noised: 'dp.noised',
} as const;

/** Prefix of every DP key; DpFedAvg strips such metrics before they reach the history. */
export const DP_PREFIX = 'dp.';

export type DpMode = 'central' | 'distributed' | 'local';
export const DP_MODES: readonly DpMode[] = ['central', 'distributed', 'local'];
