/**
 * The one composition check: which stages can run together, derived from what each declares
 * (stage.ts). The simulation config, the server config and a hand-built chain all go through it,
 * so they refuse the same things with the same words.
 */
import { FederaError } from '../core/errors.js';
import type { StageDeclaration } from './stage.js';

/** Throws `invalid_config` naming the first conflict among `stages` (`where` prefixes the message). */
export function checkStages(stages: readonly StageDeclaration[], where = 'aggregation'): void {
  const refuse = (message: string) => {
    throw new FederaError('invalid_config', `${where}: ${message}`);
  };
  const hiding = stages.find((s) => s.hidesUpdates);
  if (hiding) {
    // A secure sum hides every update from the server: no server half may need one.
    for (const s of stages) {
      if (s.needsUpdates) refuse(`${s.needsUpdates.reason}, which secure aggregation hides; ${s.needsUpdates.hint}`);
      if (s.encoding && !s.encoding.summable) refuse(`${s.field}: ${s.encoding.describe}, so the clients' encodings cannot be summed under secure aggregation`);
    }
  }
  // A stage that clips coordinates after another added noise changes the noisy values: with the
  // range C + 6σᵢ that happens with probability ≈ 2·10⁻⁹ per coordinate (docs/privacy.md).
  for (const e of stages) {
    if (!e.emitsCoordinates) continue;
    for (const c of stages) {
      if (c.clipsCoordinates && e.emitsCoordinates.bound > c.clipsCoordinates.range) {
        refuse(
          `${c.clipsCoordinates.field} = ${c.clipsCoordinates.range} clips the coordinates of ${e.title}'s noisy updates: ${e.emitsCoordinates.describe}; set ${c.clipsCoordinates.field} ≥ ${roundUp(e.emitsCoordinates.bound)} (or lower the clip norm), otherwise the clipped sum is not the Gaussian mechanism the accountant charges`,
        );
      }
    }
  }
  // Float noise under b-bit secure quantization: each noisy share rounded on its own releases
  // Σ round(xᵢ + nᵢ), not the Gaussian mechanism the accountant charges. Distributed DP asks the
  // quantized sum for Skellam noise on its integer codes instead (it then emits no float noise);
  // local DP's full per-client noise has no such form. The 32-bit encoding's step, c·m/2³¹, is
  // below 10⁻⁶ of the range and is kept. (Central DP never reaches here: it needs the updates.)
  const rounding = stages.find((s) => s.roundsCoordinates)?.roundsCoordinates;
  const noisy = rounding && stages.find((s) => s.emitsCoordinates);
  if (rounding && noisy) {
    refuse(`${noisy.title} adds Gaussian noise to each client's share and ${rounding.describe} (step ${rounding.step.toPrecision(3)}): the rounded noisy sum is not the Gaussian mechanism the accountant charges; use privacy.mode "distributed" (the secure sum then adds Skellam noise to its codes), or drop ${rounding.field} (secure aggregation's 32-bit encoding keeps the noise)`);
  }
  const reducers = stages.filter((s) => s.reducer);
  if (reducers.length > 1) refuse(`${reducers.map((r) => r.title).join(' and ')} each reduce the round's updates; use one of them`);
  for (const s of stages) {
    if (!s.boundsSensitivity) continue;
    for (const r of reducers) {
      if (r.reducer === 'robust') refuse(`privacy and ${r.title} cannot be combined: DP-FedAvg bounds the sensitivity of the clipped mean of the updates, not of a robust rule`);
      if (r.weighting === 'examples') refuse(`DP-FedAvg weighs clients equally (its sensitivity bound C/m allows no example weights); set ${r.field} = "uniform" (or leave it unset)`);
    }
    for (const c of stages) {
      if (c.crossClient) refuse(`privacy and ${c.title} cannot be combined: the bound then depends on the other clients' updates, so one client's influence is no longer bounded by the clip norm; use a fixed bound`);
    }
  }
}

/** Three significant digits, rounded up (a bound printed in a refusal must be enough). */
function roundUp(x: number): number {
  const p = 10 ** (Math.floor(Math.log10(x)) - 2);
  return Number((Math.ceil(x / p - 1e-9) * p).toPrecision(3));
}
