import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSimulationConfig } from '../../src/config/rules.js';
import { buildSimulationConfig } from '../../src/cli/main.js';
import { isFederaError } from '../../src/core/errors.js';

test('compression in the run config: stage arrays or the shorthand, validated with defaults', () => {
  const c = parseSimulationConfig({
    compression: { uplink: [{ codec: 'topk', fraction: 0.01 }, { codec: 'quantize', bits: 8 }, { codec: 'lossless' }], downlink: 'fp16' },
  });
  assert.deepEqual(c.compression, {
    uplink: [{ codec: 'topk', fraction: 0.01, errorFeedback: true }, { codec: 'quantize', bits: 8, chunk: 1024 }, { codec: 'lossless' }],
    downlink: [{ codec: 'fp16' }],
  });
  assert.deepEqual(parseSimulationConfig({ compression: { uplink: 'rotate,quantize:2' } }).compression, {
    uplink: [{ codec: 'rotate', block: 1024 }, { codec: 'quantize', bits: 2, chunk: 1024 }],
    downlink: [],
  });
  assert.equal(parseSimulationConfig({}).compression, undefined);
  // A validated config (as written to config.json) parses to itself.
  assert.deepEqual(parseSimulationConfig(JSON.parse(JSON.stringify(c))).compression, c.compression);
});

test('bad compression settings are refused, naming the field', () => {
  const bad = (raw: unknown, pattern: RegExp) =>
    assert.throws(() => parseSimulationConfig(raw), (e) => isFederaError(e, 'invalid_config') && pattern.test((e as Error).message));
  bad({ compression: { uplink: 'quantize:3' } }, /compression\.uplink: uplink\[0\] \(quantize\): bits must be one of 1, 2, 4, 8; got 3/);
  bad({ compression: { uplink: [{ codec: 'topk', k: 0 }] } }, /compression\.uplink: .*k must be an integer ≥ 1; got 0/);
  bad({ compression: { downlink: 'topk:0.1' } }, /compression\.downlink: downlink: topk is for updates/);
  bad({ compression: { uplink: 'fp16', sidelink: 'fp16' } }, /compression: unknown field\(s\) "sidelink"/);
  bad({ compression: { uplink: 8 } }, /compression\.uplink/);
});

test('--uplink and --downlink flags set the pipelines', () => {
  const c = buildSimulationConfig({ uplink: 'topk:0.01,quantize:8,lossless', downlink: 'fp16' });
  assert.equal(c.compression?.uplink.length, 3);
  assert.deepEqual(c.compression?.downlink, [{ codec: 'fp16' }]);
  assert.throws(() => buildSimulationConfig({ uplink: 'quantize:9' }), (e) => isFederaError(e, 'invalid_config') && /bits must be one of 1, 2, 4, 8; got 9/.test((e as Error).message));
});
