// Issue 13, finding 10: clients must not trust the server's threshold. An honest client refuses,
// with an error reply naming the rule, t < 2 (every share would be the secret), t > m (the
// secrets could never be reconstructed), 2t ≤ m (two disjoint groups could each reconstruct one
// of its two secrets), and a masked-input request with fewer than t − 1 live peers. The unmasking
// never reveals both secrets of one client, nor answers for too few survivors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecAggDriver } from './helpers/driver.js';

test('setup: a threshold below 2 is refused (t = 1 makes every share equal to the secret)', async () => {
  const s = new SecAggDriver(3);
  for (const t of [1, 0, -3]) {
    const r = await s.send('c0', s.setupMessage('c0', t));
    assert.equal(r.type, 'error');
    assert.equal(r.code, 'malformed_message');
    assert.match(r.message, new RegExp(`secagg_setup \\(round 1\\): refused: threshold t = ${t}; at least 2 shares`));
  }
  assert.equal((await s.send('c0', s.setupMessage('c0', 2))).type, 'secagg_keys');
});

test('share: t > m and 2t ≤ m are refused; t just above m/2 is accepted', async () => {
  const s = new SecAggDriver(5);
  // m = 5 shares (4 peers + itself): t = 2 → 2t = 4 ≤ 5 refused; t = 6 > 5 refused; t = 3 accepted.
  const cases: Array<[number, RegExp | null]> = [
    [2, /refused: threshold t = 2 is not above half of the m = 5 shares \(4 peers \+ this client\).*need t > 2\.5/],
    [6, /refused: threshold t = 6 exceeds the m = 5 shares/],
    [3, null],
  ];
  for (const [t, want] of cases) {
    await s.setup(t);
    const peers = s.ids.filter((o) => o !== 'c0');
    const r = await s.send('c0', s.shareMessage('c0', peers));
    if (want) {
      assert.equal(r.type, 'error', `t = ${t}`);
      assert.match(r.message, want);
    } else assert.equal(r.type, 'secagg_shares', r.message);
  }
  // The server shrinking the neighbourhood below 2t is refused as well (t = 3 of m = 4 is fine, of m = 6 it is not).
  const big = new SecAggDriver(6);
  await big.setup(3);
  const r = await big.send('c0', big.shareMessage('c0', big.ids.filter((o) => o !== 'c0')));
  assert.equal(r.type, 'error');
  assert.match(r.message, /t = 3 is not above half of the m = 6 shares/);
});

test('masked: fewer than t − 1 live peers is refused; t − 1 are enough', async () => {
  const s = new SecAggDriver(5);
  await s.setup(4); // m = 5, t = 4: masking needs 3 live peers
  await s.shareAndVerify();
  const few = await s.masked('c0', ['c1', 'c2']);
  assert.equal(few.type, 'error');
  assert.match(few.message, /secagg_masked \(round 1\): refused: masked input asked with 2 live peer\(s\); threshold t = 4 needs at least 3/);
  const none = await s.masked('c1', []);
  assert.match(none.message, /refused: masked input asked with 0 live peer/);
  const ok = await s.masked('c0', ['c1', 'c2', 'c3']);
  assert.equal(ok.type, 'secagg_masked_result', ok.message);

  // Unmasking: never both secrets of a client, never for fewer than t survivors.
  const both = await s.send('c0', { type: 'secagg_unmask', survivors: ['c0', 'c1', 'c2', 'c3'], dropped: ['c3'] });
  assert.match(both.message, /both as survivors and as dropped/);
  const stranger = await s.send('c0', { type: 'secagg_unmask', survivors: ['c0', 'c1', 'c2', 'c4'], dropped: [] });
  assert.match(stranger.message, /not among this client's peers/);
  const fewSurvivors = await s.send('c0', { type: 'secagg_unmask', survivors: ['c0', 'c1', 'c2'], dropped: ['c3'] });
  assert.match(fewSurvivors.message, /at least 4 are needed/);
  const good = await s.send('c0', { type: 'secagg_unmask', survivors: ['c0', 'c1', 'c2', 'c3'], dropped: [] });
  assert.equal(good.type, 'secagg_unmask_result', good.message);
  assert.deepEqual(good.seedShareOf, ['c0', 'c1', 'c2', 'c3']);
});
