import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../src/core/buffers.js';
import { VectorArena, WeightedSum, subtract } from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';

const N = 70_001; // above the SIMD threshold, not a multiple of 8 (exercises kernel tails)

function random(n: number, seed: string): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.next() * 2 - 1);
}

test('pooled buffers of a large length live in the vector arena; the pool only takes back its own', () => {
  const pool = new BufferPool();
  const arena = VectorArena.forLength(N);
  assert.ok(arena, 'SIMD arenas exist on this platform');
  const a = pool.take(N);
  assert.equal(a.length, N);
  assert.ok(arena.holds(a));
  pool.give(a);
  pool.give(a); // a second give of the same buffer is ignored
  const b = pool.take(N);
  const c = pool.take(N);
  assert.notEqual(b.byteOffset, c.byteOffset, 'two buffers out at once never share memory');
  pool.give(new Float32Array(N)); // not issued by the pool: ignored
  pool.give(b);
  pool.give(c);
  // Exhausting the arena's slots falls back to ordinary arrays.
  const many = Array.from({ length: VectorArena.SLOTS + 3 }, () => pool.take(N));
  assert.equal(many.filter((x) => arena.holds(x)).length, VectorArena.SLOTS);
  assert.equal(new Set(many.filter((x) => arena.holds(x)).map((x) => x.byteOffset)).size, VectorArena.SLOTS);
  many.forEach((x) => pool.give(x));
  // Small lengths never use an arena.
  assert.equal(VectorArena.forLength(100), null);
});

test('subtract in place inside the arena equals the scalar result', () => {
  const pool = new BufferPool();
  const x = random(N, 'x'), y = random(N, 'y');
  const a = pool.take(N), b = pool.take(N);
  a.set(x);
  b.set(y);
  subtract(a, b, a);
  for (let i = 0; i < N; i++) assert.equal(a[i], Math.fround(x[i] - y[i]));
  // Mixed: operands outside the arena take the copy path, same values.
  const out = subtract(x, y);
  for (let i = 0; i < N; i++) assert.equal(out[i], a[i]);
  pool.give(a);
  pool.give(b);
});

test('a running sum fed arena buffers (no copy) equals one fed ordinary arrays, bit for bit', () => {
  const pool = new BufferPool();
  const inputs = Array.from({ length: 5 }, (_, i) => random(N, `u${i}`));
  const arena = VectorArena.forLength(N)!;
  const first = new WeightedSum(N); // takes one of the arena's accumulators
  const drained = [];
  for (let r = arena.takeAccumulator(); r; r = arena.takeAccumulator()) drained.push(r);
  const second = new WeightedSum(N); // every accumulator is taken: gets private memory
  drained.forEach((r) => arena.returnAccumulator(r));
  for (const [i, u] of inputs.entries()) {
    const buf = pool.take(N);
    buf.set(u);
    first.add(buf, i + 1);
    pool.give(buf);
    second.add(u, i + 1);
  }
  const m1 = first.mean(), m2 = second.mean();
  assert.ok(Buffer.from(m1.buffer).equals(Buffer.from(m2.buffer)));
  // A NaN inside an arena buffer is rejected and leaves the sum unchanged.
  const before = first.sum();
  const bad = pool.take(N);
  bad.set(inputs[0]);
  bad[N - 1] = NaN;
  assert.throws(() => first.add(bad, 1), /index 70000/);
  pool.give(bad);
  assert.deepEqual(first.sum(), before);
});

test('several running sums of one length alive at once each get an accumulator of the arena', () => {
  const n = 70_003; // a length no other test uses: a fresh arena
  const arena = VectorArena.forLength(n)!;
  const sums = Array.from({ length: VectorArena.ACCUMULATORS }, () => new WeightedSum(n));
  assert.equal(arena.takeAccumulator(), null, `${VectorArena.ACCUMULATORS} sums took every region`);
  // All of them add arena buffers in place and agree with the plain float64 sum.
  const pool = new BufferPool();
  const u = random(n, 'several');
  const buf = pool.take(n);
  buf.set(u);
  sums.forEach((s, i) => s.add(buf, i + 1));
  pool.give(buf);
  sums.forEach((s, i) => {
    const total = s.sum();
    for (const j of [0, 1, n >> 1, n - 1]) assert.equal(total[j], Math.fround((i + 1) * u[j])); // float32 partial sums
  });
});
