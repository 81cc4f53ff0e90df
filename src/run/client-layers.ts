/**
 * The client layer stack every federa client runs, simulated or deployed: secure aggregation
 * outermost (it answers the secagg stages and masks what the inner layers produced; anything else
 * passes through), then compression (decodes a compressed model, encodes updates with the
 * pipeline the server announces in its train config), then DP (acts only on DP-FedAvg
 * instructions), then q-FedAvg (only on its instructions), then any layers of the caller's
 * (simulated attackers, custom transforms).
 *
 * No layer has a setting of its own: a client follows the server's `[compression]`, `[privacy]`
 * and `[secagg]` as announced, so simulated clients exercise exactly the deployed path. Only where
 * randomness comes from differs: the CSPRNG (deployment, the default) or the run seed (simulation).
 */
import type { ClientLayer } from '../client/runtime.js';
import { compressionClientLayer } from '../compress/layers.js';
import { dpClientLayer } from '../privacy/client-layer.js';
import { secAggClientLayer } from '../secagg/client-layer.js';
import { qfflClientLayer } from '../aggregate/qffl.js';

export interface ClientLayerOptions {
  /**
   * `secure` (default): keys, masks, DP noise and compression coins from the CSPRNG. `seeded`:
   * derived from `seed` per run, round and client — reproducible simulations only.
   */
  randomness?: 'secure' | 'seeded';
  /** The run seed (`seeded` randomness; compression's stochastic rounding in simulation). */
  seed?: number | string;
  /** Secure aggregation's keys and masks, when they differ from `randomness` (a simulation's `secagg.randomness`). */
  secaggRandomness?: 'secure' | 'seeded';
  /** Layers inside the standard ones, outermost first (they see the instruction last and the reply first). */
  inner?: readonly ClientLayer[];
}

/** The standard stack, outermost first (see the module comment). */
export function createClientLayers(options: ClientLayerOptions = {}): ClientLayer[] {
  const randomness = options.randomness ?? 'secure';
  const secagg = options.secaggRandomness ?? randomness;
  return [
    secAggClientLayer(secagg === 'seeded' ? { randomness: 'seeded', seed: options.seed } : {}),
    // Stochastic-rounding coins: seeded only in a seeded (simulated) run, else the CSPRNG.
    compressionClientLayer(randomness === 'seeded' && options.seed !== undefined ? { seed: options.seed } : {}),
    dpClientLayer({ noise: randomness === 'seeded' ? 'seeded' : 'secure' }),
    // q-FedAvg (acts only on its instructions): rescales the update by F^q·L, reports h.
    qfflClientLayer(),
    ...(options.inner ?? []),
  ];
}

/**
 * A deployed client's stack (Node or browser): the standard layers from the CSPRNG, or `layers`
 * inside secure aggregation when the caller replaces compression and DP with its own.
 */
export function deployedClientLayers(layers?: readonly ClientLayer[]): ClientLayer[] {
  return layers ? [secAggClientLayer(), ...layers] : createClientLayers();
}
