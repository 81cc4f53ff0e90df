// Loads ../shared/testdata/dp-accounting-reference.json (beside the repository, in CI too) and
// fails with a clear message when it is missing.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ForwardCase {
  q: number;
  sigma: number;
  steps: number;
  delta: number;
  eps_rdp: number;
  eps_rdp_exact: number;
  eps_pld: number;
  eps_exact_gaussian?: number;
  rdp_exact_optimal_order: number;
  label?: string;
}

export interface InverseCase {
  q: number;
  steps: number;
  delta: number;
  target_eps: number;
  sigma_rdp: number;
  sigma_rdp_exact: number;
  sigma_pld: number;
  label?: string;
}

export interface Reference {
  orders: number[];
  forward: ForwardCase[];
  inverse: InverseCase[];
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const REFERENCE_PATH = join(repoRoot, '..', 'shared', 'testdata', 'dp-accounting-reference.json');

export function loadReference(): Reference {
  assert.ok(
    existsSync(REFERENCE_PATH),
    `privacy reference vectors not found at ${REFERENCE_PATH}: the repository expects shared/testdata/ beside it (../shared relative to the repository root)`,
  );
  const json = JSON.parse(readFileSync(REFERENCE_PATH, 'utf8')) as { orders: number[]; cases: Array<Record<string, unknown>> };
  const forward = json.cases.filter((c) => c.target_eps === undefined) as unknown as ForwardCase[];
  const inverse = json.cases.filter((c) => c.target_eps !== undefined) as unknown as InverseCase[];
  assert.ok(forward.length > 100 && inverse.length > 0, `unexpected reference file: ${forward.length} forward, ${inverse.length} inverse cases`);
  return { orders: json.orders, forward, inverse };
}

export function describeCase(c: { q: number; steps: number; delta: number; sigma?: number; target_eps?: number; label?: string }): string {
  return `q=${c.q} ${c.sigma !== undefined ? `σ=${c.sigma}` : `target ε=${c.target_eps}`} steps=${c.steps} δ=${c.delta}${c.label ? ` (${c.label})` : ''}`;
}
