// CSV float targets (src/data/csv.ts targetColumns): regression datasets, and the errors that name
// the file, line and column.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv } from '../../src/data/csv.js';
import { numTargetsOf, subset } from '../../src/data/dataset.js';
import { isFederaError } from '../../src/core/errors.js';

const TEXT = 'site,age,bmi,cost,stay\na,50,22.5,1200.5,3\nb,61,30.1,2300,7.5\na,35,19,800.25,1\n';

test('one float target: features are the other columns, y is all zeros', () => {
  const { dataset, targetColumns, featureColumns, groups, labels } = parseCsv(TEXT, { targetColumns: ['cost'], groupColumn: 'site' });
  assert.deepEqual(targetColumns, ['cost']);
  assert.deepEqual(featureColumns, ['age', 'bmi', 'stay']);
  assert.deepEqual(groups, ['a', 'b', 'a']);
  assert.deepEqual(labels, []);
  assert.equal(numTargetsOf(dataset), 1);
  assert.deepEqual([...dataset.targets!], [1200.5, 2300, 800.25]);
  assert.deepEqual([...dataset.x], [50, 22.5, 3, 61, 30.100000381469727, 7.5, 35, 19, 1]);
  assert.deepEqual([...dataset.y], [0, 0, 0]);
  assert.equal(dataset.numClasses, 1);
});

test('several targets keep their column order, and subset copies them', () => {
  const { dataset } = parseCsv(TEXT, { targetColumns: ['stay', 'cost'], featureColumns: ['age', 'bmi'] });
  assert.equal(dataset.numTargets, 2);
  assert.deepEqual([...dataset.targets!], [3, 1200.5, 7.5, 2300, 1, 800.25]);
  const s = subset(dataset, [2, 0]);
  assert.deepEqual([...s.targets!], [1, 800.25, 3, 1200.5]);
  assert.equal(s.numTargets, 2);
});

test('a bad target names the source, line and column', () => {
  const bad = TEXT.replace('2300', 'n/a');
  assert.throws(
    () => parseCsv(bad, { targetColumns: ['cost'], groupColumn: 'site', source: 'clinic.csv' }),
    (e) => isFederaError(e, 'data_error') && /clinic\.csv line 3, column "cost": target "n\/a" is not a number/.test((e as Error).message),
  );
  assert.throws(
    () => parseCsv(TEXT.replace('800.25', ''), { targetColumns: ['cost'], groupColumn: 'site', source: 'clinic.csv' }),
    (e) => isFederaError(e, 'data_error') && /line 4, column "cost": target missing value/.test((e as Error).message),
  );
  assert.throws(
    () => parseCsv(TEXT, { targetColumns: ['price'], source: 'clinic.csv' }),
    (e) => isFederaError(e, 'data_error') && /column "price": no such column \(targetColumns\)/.test((e as Error).message),
  );
});

test('contradictory options are refused', () => {
  const refuses = (o: object, re: RegExp) => assert.throws(() => parseCsv(TEXT, o as never), (e) => isFederaError(e, 'invalid_config') && re.test((e as Error).message));
  refuses({ targetColumns: ['cost'], labelColumn: 'site' }, /not both/);
  refuses({ targetColumns: [] }, /non-empty/);
  refuses({ targetColumns: ['cost', 'cost'] }, /twice/);
  refuses({ targetColumns: ['cost'], featureColumns: ['age', 'cost'] }, /featureColumns includes the target column "cost"/);
  refuses({ targetColumns: ['cost'], numClasses: 3 }, /class labels/);
  refuses({}, /labelColumn must be a string/);
});
