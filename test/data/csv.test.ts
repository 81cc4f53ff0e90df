import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFederaError, type FederaErrorCode } from '../../src/core/errors.js';
import { parseCsv, type CsvOptions } from '../../src/data/csv.js';
import { loadCsvFile } from '../../src/node/csv.js';

function throwsWith(fn: () => unknown, code: FederaErrorCode, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isFederaError(e), `expected a FederaError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    return true;
  });
}

const GOOD = 'age,bmi,label\n34,22.5,0\n51,30.25,1\n-2,1e3,1\n';

test('parseCsv: a good file with integer labels', () => {
  const r = parseCsv(GOOD, { labelColumn: 'label' });
  assert.deepEqual(r.dataset.x, Float32Array.from([34, 22.5, 51, 30.25, -2, 1000]));
  assert.deepEqual(r.dataset.y, Int32Array.from([0, 1, 1]));
  assert.equal(r.dataset.numFeatures, 2);
  assert.equal(r.dataset.numClasses, 2);
  assert.deepEqual(r.labels, ['0', '1']);
  assert.deepEqual(r.featureColumns, ['age', 'bmi']);
  assert.equal('groups' in r, false);
  assert.equal(r.dataset.featureShape, undefined);
});

test('parseCsv: integer labels give numClasses = max + 1 unless numClasses is given', () => {
  const text = 'f,y\n1,0\n2,3\n3,007\n';
  const r = parseCsv(text, { labelColumn: 'y' });
  assert.deepEqual(r.dataset.y, Int32Array.from([0, 3, 7]));
  assert.equal(r.dataset.numClasses, 8);
  assert.deepEqual(r.labels, ['0', '1', '2', '3', '4', '5', '6', '7']);
  const r10 = parseCsv(text, { labelColumn: 'y', numClasses: 10 });
  assert.equal(r10.dataset.numClasses, 10);
  assert.equal(r10.labels.length, 10);
  throwsWith(() => parseCsv(text, { labelColumn: 'y', numClasses: 5 }), 'data_error', 'csv line 4, column "y": label 7 is not below numClasses=5');
});

test('parseCsv: label column anywhere; featureColumns selects and orders features', () => {
  const text = 'id,label,a,b,c\n1,1,10,20,30\n2,0,11,21,31\n';
  const all = parseCsv(text, { labelColumn: 'label' });
  assert.deepEqual(all.featureColumns, ['id', 'a', 'b', 'c']);
  assert.deepEqual(all.dataset.x, Float32Array.from([1, 10, 20, 30, 2, 11, 21, 31]));
  const some = parseCsv(text, { labelColumn: 'label', featureColumns: ['c', 'a'] });
  assert.deepEqual(some.featureColumns, ['c', 'a']);
  assert.equal(some.dataset.numFeatures, 2);
  assert.deepEqual(some.dataset.x, Float32Array.from([30, 10, 31, 11]));
  assert.deepEqual(some.dataset.y, Int32Array.from([1, 0]));
});

test('parseCsv: class-name labels are sorted and numbered', () => {
  const text = 'x,animal\n1,dog\n2,cat\n3,ant\n4,dog\n5,Zebra\n';
  const r = parseCsv(text, { labelColumn: 'animal' });
  assert.deepEqual(r.labels, ['Zebra', 'ant', 'cat', 'dog']); // code-unit order: uppercase first
  assert.deepEqual(r.dataset.y, Int32Array.from([3, 2, 1, 3, 0]));
  assert.equal(r.dataset.numClasses, 4);
  // One non-integer label switches the whole column to names.
  const mixed = parseCsv('x,y\n1,1\n2,1.5\n3,10\n', { labelColumn: 'y' });
  assert.deepEqual(mixed.labels, ['1', '1.5', '10']);
  assert.deepEqual(mixed.dataset.y, Int32Array.from([0, 1, 2]));
  // numClasses pads names.
  const padded = parseCsv(text, { labelColumn: 'animal', numClasses: 6 });
  assert.deepEqual(padded.labels, ['Zebra', 'ant', 'cat', 'dog', '4', '5']);
  assert.equal(padded.dataset.numClasses, 6);
  throwsWith(() => parseCsv(text, { labelColumn: 'animal', numClasses: 3 }), 'data_error', 'csv: 4 distinct labels in column "animal" but numClasses=3');
});

test('parseCsv: classNames fixes the mapping across files', () => {
  const classNames = ['healthy', 'flu', 'covid'];
  const a = parseCsv('t,dx\n37,flu\n36,healthy\n', { labelColumn: 'dx', classNames });
  const b = parseCsv('t,dx\n39,covid\n38,flu\n', { labelColumn: 'dx', classNames });
  assert.deepEqual(a.dataset.y, Int32Array.from([1, 0]));
  assert.deepEqual(b.dataset.y, Int32Array.from([2, 1]));
  assert.equal(a.dataset.numClasses, 3);
  assert.deepEqual(a.labels, classNames);
  throwsWith(
    () => parseCsv('t,dx\n37,flu\n38,measles\n', { labelColumn: 'dx', classNames, source: 'c.csv' }),
    'data_error',
    'c.csv line 3, column "dx": label "measles" is not one of the classNames',
  );
});

test('parseCsv: quoted fields with delimiters, escaped quotes and line breaks', () => {
  const text = [
    'score,"label, full",note',
    '"1.5","flu, severe","say ""hi"""',
    '2,"multi',
    'line",plain',
    '"3" ,healthy,"x"',
  ].join('\n');
  const r = parseCsv(text, { labelColumn: 'label, full', groupColumn: 'note' });
  assert.deepEqual(r.labels, ['flu, severe', 'healthy', 'multi\nline']);
  assert.deepEqual(r.dataset.y, Int32Array.from([0, 2, 1]));
  assert.deepEqual(r.groups, ['say "hi"', 'plain', 'x']);
  assert.deepEqual(r.dataset.x, Float32Array.from([1.5, 2, 3]));
  assert.deepEqual(r.featureColumns, ['score']);
});

test('parseCsv: a quoted line break counts for later line numbers', () => {
  const text = 'a,label\n1,"x\ny"\n2,z\nabc,z\n';
  throwsWith(() => parseCsv(text, { labelColumn: 'label' }), 'data_error', 'csv line 5, column "a": "abc" is not a number');
});

test('parseCsv: CRLF gives the same result as LF, and the same line numbers', () => {
  const crlf = GOOD.replace(/\n/g, '\r\n');
  const a = parseCsv(GOOD, { labelColumn: 'label' });
  const b = parseCsv(crlf, { labelColumn: 'label' });
  assert.deepEqual(b, a);
  const bad = 'a,label\r\n1,0\r\n"2\r\n",1\r\nx,1\r\n';
  throwsWith(() => parseCsv(bad, { labelColumn: 'label' }), 'data_error', 'csv line 5, column "a": "x" is not a number');
  // Lone CR line endings too.
  assert.deepEqual(parseCsv(GOOD.replace(/\n/g, '\r'), { labelColumn: 'label' }), a);
});

test('parseCsv: empty lines are skipped but counted; BOM and surrounding spaces ignored', () => {
  const text = '\uFEFF\n age , label \n\n 1 , 0 \n   \n2,1\n\n\n';
  const r = parseCsv(text, { labelColumn: 'label' });
  assert.deepEqual(r.featureColumns, ['age']);
  assert.deepEqual(r.dataset.x, Float32Array.from([1, 2]));
  assert.deepEqual(r.dataset.y, Int32Array.from([0, 1]));
  throwsWith(() => parseCsv('a,label\n\n1,0\n\nq,1\n', { labelColumn: 'label' }), 'data_error', 'csv line 5, column "a": "q" is not a number');
});

test('parseCsv: group column gives per-example groups and is not a feature', () => {
  const text = 'site,age,label\nA,30,0\nB,40,1\nA,50,1\n';
  const r = parseCsv(text, { labelColumn: 'label', groupColumn: 'site' });
  assert.deepEqual(r.groups, ['A', 'B', 'A']);
  assert.deepEqual(r.featureColumns, ['age']);
  assert.deepEqual(r.dataset.x, Float32Array.from([30, 40, 50]));
});

test('parseCsv: other delimiters', () => {
  const semi = parseCsv('a;b;label\n1,5;2;0\n', { labelColumn: 'label', delimiter: ';', featureColumns: ['b'] });
  assert.deepEqual(semi.dataset.x, Float32Array.from([2]));
  const tab = parseCsv('a\tlabel\n"7"\t1\n', { labelColumn: 'label', delimiter: '\t' });
  assert.deepEqual(tab.dataset.x, Float32Array.from([7]));
  assert.deepEqual(tab.dataset.y, Int32Array.from([1]));
});

test('parseCsv: the example error message from the spec', () => {
  const rows = ['age,bmi,label'];
  for (let i = 0; i < 15; i++) rows.push(`${20 + i},${21.5 + i},${i % 2}`);
  rows.push('abc,22,1');
  const text = rows.join('\n');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', source: 'clinic-a.csv' }), 'data_error', 'clinic-a.csv line 17, column "age": "abc" is not a number');
});

test('parseCsv: bad rows name the source, line and column', () => {
  const opts: CsvOptions = { labelColumn: 'label', source: 'f.csv' };
  throwsWith(() => parseCsv('a,b,label\n1,2,0\n3,1\n', opts), 'data_error', 'f.csv line 3: expected 3 fields (as in the header), got 2');
  throwsWith(() => parseCsv('a,b,label\n1,2,0,9\n', opts), 'data_error', 'f.csv line 2: expected 3 fields (as in the header), got 4');
  throwsWith(() => parseCsv('a,b,label\n1,,0\n', opts), 'data_error', 'f.csv line 2, column "b": missing value');
  throwsWith(() => parseCsv('a,b,label\n1,2 3,0\n', opts), 'data_error', 'f.csv line 2, column "b": "2 3" is not a number');
  throwsWith(() => parseCsv('a,b,label\n1,0x10,0\n', opts), 'data_error', 'f.csv line 2, column "b": "0x10" is not a number');
  throwsWith(() => parseCsv('a,b,label\nNaN,1,0\n', opts), 'data_error', 'f.csv line 2, column "a": "NaN" is not a finite number');
  throwsWith(() => parseCsv('a,b,label\n1,-Infinity,0\n', opts), 'data_error', 'f.csv line 2, column "b": "-Infinity" is not a finite number');
  throwsWith(() => parseCsv('a,b,label\n1,1e999,0\n', opts), 'data_error', 'f.csv line 2, column "b": "1e999" is not a finite number');
  throwsWith(() => parseCsv('a,b,label\n1,1e39,0\n', opts), 'data_error', 'f.csv line 2, column "b": "1e39" is outside the float32 range');
  throwsWith(() => parseCsv('a,b,label\n1,2,0\n1,2, \n', opts), 'data_error', 'f.csv line 3, column "label": missing label');
  throwsWith(
    () => parseCsv('site,a,label\nx,1,0\n,2,1\n', { ...opts, groupColumn: 'site' }),
    'data_error',
    'f.csv line 3, column "site": missing group',
  );
  throwsWith(
    () => parseCsv('a,label\n1,0\n2,1234567\n', opts),
    'data_error',
    'f.csv line 3, column "label": integer label 1234567 is above 1000000; map labels to 0..numClasses-1 or use classNames',
  );
});

test('parseCsv: malformed quoting', () => {
  const opts: CsvOptions = { labelColumn: 'label', source: 'q.csv' };
  throwsWith(() => parseCsv('a,label\n1,0\n"2,1\n3,1\n', opts), 'data_error', 'q.csv line 3, column "a": quoted field is never closed');
  throwsWith(() => parseCsv('a,label\n1,"0"x\n', opts), 'data_error', 'q.csv line 2, column "label": unexpected "x" after a closing quote (write "" for a quote inside a quoted field)');
  throwsWith(() => parseCsv('"a,label\n1,0\n', opts), 'data_error', 'q.csv line 1, field 1: quoted field is never closed');
});

test('parseCsv: header problems and unknown columns', () => {
  throwsWith(() => parseCsv('', { labelColumn: 'label' }), 'data_error', 'csv: no header row (the input is empty)');
  throwsWith(() => parseCsv('\n\r\n  \n', { labelColumn: 'label' }), 'data_error', 'csv: no header row (the input is empty)');
  throwsWith(() => parseCsv('a,label\n\n', { labelColumn: 'label' }), 'data_error', 'csv: no data rows after the header');
  throwsWith(() => parseCsv('a,a,label\n1,2,0\n', { labelColumn: 'label' }), 'data_error', 'csv line 1: column name "a" appears twice (fields 1 and 2)');
  throwsWith(() => parseCsv('label\n0\n', { labelColumn: 'label' }), 'data_error', 'csv line 1: no feature columns (the header has only the label column)');
  const text = '\nage,label\n1,0\n';
  throwsWith(
    () => parseCsv(text, { labelColumn: 'diagnosis', source: 'x.csv' }),
    'data_error',
    'x.csv line 2, column "diagnosis": no such column (labelColumn); the header has "age", "label"',
  );
  throwsWith(
    () => parseCsv(text, { labelColumn: 'label', groupColumn: 'site' }),
    'data_error',
    'csv line 2, column "site": no such column (groupColumn); the header has "age", "label"',
  );
  throwsWith(
    () => parseCsv(text, { labelColumn: 'label', featureColumns: ['age', 'bmi'] }),
    'data_error',
    'csv line 2, column "bmi": no such column (featureColumns); the header has "age", "label"',
  );
});

test('parseCsv: contradictory options are invalid_config', () => {
  const text = 'a,b,label\n1,2,0\n';
  throwsWith(() => parseCsv(text, { labelColumn: 'label', delimiter: ';;' }), 'invalid_config', 'csv: delimiter must be one character other than a quote or line break, got ";;"');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', delimiter: '"' }), 'invalid_config', 'csv: delimiter must be one character other than a quote or line break, got "\\""');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', groupColumn: 'label' }), 'invalid_config', 'csv: groupColumn and labelColumn are both "label"');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', featureColumns: ['a', 'label'] }), 'invalid_config', 'csv: featureColumns includes the label column "label"');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', groupColumn: 'b', featureColumns: ['b'] }), 'invalid_config', 'csv: featureColumns includes the group column "b"');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', featureColumns: ['a', 'a'] }), 'invalid_config', 'csv: featureColumns lists "a" twice');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', featureColumns: [] }), 'invalid_config', 'csv: featureColumns is empty; omit it to use every other column');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', numClasses: 0 }), 'invalid_config', 'csv: numClasses must be an integer >= 1, got 0');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', classNames: ['x', 'x'] }), 'invalid_config', 'csv: classNames has duplicates');
  throwsWith(() => parseCsv(text, { labelColumn: 'label', classNames: ['x', 'y'], numClasses: 3 }), 'invalid_config', 'csv: numClasses=3 but classNames has 2 names');
});

test('parseCsv: errors carry details', () => {
  try {
    parseCsv('a,label\n1,0\nz,1\n', { labelColumn: 'label', source: 's.csv' });
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(isFederaError(e, 'data_error'));
    assert.deepEqual(e.details, { source: 's.csv', line: 3, column: 'a', value: 'z' });
  }
});

test('loadCsvFile: reads a file and uses its path as the source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'federa-csv-'));
  try {
    const good = join(dir, 'good.csv');
    writeFileSync(good, 'site,age,label\r\nA,30,sick\r\nB,40,well\r\n');
    const r = loadCsvFile(good, { labelColumn: 'label', groupColumn: 'site' });
    assert.deepEqual(r.dataset.x, Float32Array.from([30, 40]));
    assert.deepEqual(r.labels, ['sick', 'well']);
    assert.deepEqual(r.groups, ['A', 'B']);
    const bad = join(dir, 'clinic-a.csv');
    writeFileSync(bad, 'age,label\n1,0\n\n?,1\n');
    throwsWith(() => loadCsvFile(bad, { labelColumn: 'label' }), 'data_error', `${bad} line 4, column "age": "?" is not a number`);
    const missing = join(dir, 'missing.csv');
    assert.throws(
      () => loadCsvFile(missing, { labelColumn: 'label' }),
      (e: unknown) => isFederaError(e, 'not_found') && e.message.startsWith(`cannot read CSV file ${missing}: ENOENT`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
