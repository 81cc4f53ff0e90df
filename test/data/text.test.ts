// Text corpora for next-token models (src/data/text.ts, src/node/text.ts): one client per user,
// a vocabulary fixed before training and reused, windows and their labels, errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { textCorpus, tokenize, Vocabulary, PAD_TOKEN, UNK_TOKEN } from '../../src/data/text.js';
import { loadTextCorpus } from '../../src/node/text.js';
import { isFederaError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'federa-text-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const records = [
  { speaker: 'HAMLET', line: 'to be or not' },
  { speaker: 'OPHELIA', line: 'good my lord' },
  { speaker: 'HAMLET', line: 'to be' },
];

test('char level: one client per speaker, windows labelled with the next character', () => {
  const c = textCorpus(records, { userField: 'speaker', textField: 'line', level: 'char', seqLength: 4 });
  assert.deepEqual(c.users, ['HAMLET', 'OPHELIA']);
  const hamlet = 'to be or not\nto be';
  assert.equal(c.partitions[0].length, hamlet.length - 4);
  assert.equal(c.partitions[1].length, 'good my lord'.length - 4);
  const decode = (i: number) => Array.from(c.dataset.x.subarray(i * 4, i * 4 + 4), (t) => c.vocabulary.tokens[t]).join('');
  assert.equal(decode(0), 'to b');
  assert.equal(c.vocabulary.tokens[c.dataset.y[0]], 'e');
  assert.equal(decode(c.partitions[1][0]), 'good');
  assert.equal(c.vocabulary.tokens[c.dataset.y[c.partitions[1][0]]], ' ');
  assert.equal(c.dataset.numClasses, c.vocabulary.size);
  assert.deepEqual(c.vocabulary.tokens.slice(0, 3), [PAD_TOKEN, UNK_TOKEN, 'o'], 'most frequent first after the specials');
});

test('the vocabulary is fixed: a test split encoded with the training vocabulary maps new tokens to <unk>', () => {
  const train = textCorpus(records, { userField: 'speaker', textField: 'line', level: 'word', seqLength: 2 });
  const testSplit = textCorpus([{ speaker: 'HORATIO', line: 'to be a ghost' }], { userField: 'speaker', textField: 'line', vocabulary: train.vocabulary, seqLength: 2 });
  assert.equal(testSplit.vocabulary, train.vocabulary);
  assert.equal(testSplit.dataset.numClasses, train.dataset.numClasses);
  const ids = [...testSplit.dataset.x.subarray(0, 2), testSplit.dataset.y[0]];
  assert.deepEqual(ids.map((t) => train.vocabulary.tokens[t]), ['to', 'be', UNK_TOKEN]);
});

test('word tokens, left padding of short users, maxVocabulary', () => {
  assert.deepEqual(tokenize("Don't stop, Ophelia!", 'word'), ["don't", 'stop', ',', 'ophelia', '!']);
  const c = textCorpus([{ user: 'a', text: 'hi there' }], { level: 'word', seqLength: 3 });
  assert.equal(c.dataset.y.length, 1);
  assert.deepEqual([...c.dataset.x.subarray(0, 3)].map((t) => c.vocabulary.tokens[t]), [PAD_TOKEN, PAD_TOKEN, 'hi']);
  const v = Vocabulary.build(['a a a b b c'], 'word', { maxSize: 4 });
  assert.deepEqual(v.tokens, [PAD_TOKEN, UNK_TOKEN, 'a', 'b']);
  assert.equal(v.id('c'), 1);
});

test('JSON Lines files; bad records and files are named', () => {
  const p = join(dir, 'plays.jsonl');
  writeFileSync(p, records.map((r) => JSON.stringify(r)).join('\n') + '\n\n');
  const c = loadTextCorpus(p, { userField: 'speaker', textField: 'line', seqLength: 4 });
  assert.deepEqual(c.users, ['HAMLET', 'OPHELIA']);
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"user": "a", "text": "ok"}\n{"user": "b", "text": \n');
  assert.throws(() => loadTextCorpus(bad), (e) => isFederaError(e, 'data_error') && /bad\.jsonl line 2: is not valid JSON/.test((e as Error).message));
  assert.throws(() => textCorpus([{ user: 'a' }], { source: 'x.jsonl' }), (e) => isFederaError(e, 'data_error') && /x\.jsonl record 1: field "text" is missing/.test((e as Error).message));
  assert.throws(() => textCorpus([{ text: 'hello' }], { source: 'x.jsonl' }), (e) => isFederaError(e, 'data_error') && /field "user" is missing/.test((e as Error).message));
  assert.throws(() => textCorpus([{ user: 'a', text: 'x' }]), (e) => isFederaError(e, 'data_error') && /no user has two or more tokens/.test((e as Error).message));
});
