/**
 * Text for next-token models (the Gboard / Shakespeare case): a corpus of records with a user
 * field, split into one client per user (natural partition), tokenised at character or word
 * level with a vocabulary that is built from the training text and then fixed, and cut into
 * windows of `seqLength` tokens, each labelled with the token that follows it.
 *
 * Isomorphic: works on parsed records; `src/node/text.ts` reads JSON Lines / JSON files.
 */
import { FederaError } from '../core/errors.js';
import { makeDataset, type Dataset } from './dataset.js';

export type TokenLevel = 'char' | 'word';

/** Token id 0: padding (short texts are left-padded); 1: out-of-vocabulary. */
export const PAD_TOKEN = '<pad>';
export const UNK_TOKEN = '<unk>';

/** A fixed token ↔ id mapping. Build it once (from training text) and reuse it for every split and client. */
export class Vocabulary {
  readonly level: TokenLevel;
  readonly tokens: readonly string[];
  private readonly ids: Map<string, number>;

  constructor(level: TokenLevel, tokens: readonly string[]) {
    if (tokens[0] !== PAD_TOKEN || tokens[1] !== UNK_TOKEN) throw new FederaError('invalid_argument', `Vocabulary: the first two tokens must be ${PAD_TOKEN} and ${UNK_TOKEN}`);
    this.level = level;
    this.tokens = [...tokens];
    this.ids = new Map(this.tokens.map((t, i) => [t, i] as const));
    if (this.ids.size !== this.tokens.length) throw new FederaError('invalid_argument', 'Vocabulary: duplicate tokens');
  }

  /**
   * The vocabulary of `texts`: every token seen at least `minCount` times, most frequent first
   * (ties by code unit order, so it is deterministic), at most `maxSize` entries including the
   * two special tokens.
   */
  static build(texts: Iterable<string>, level: TokenLevel, options: { minCount?: number; maxSize?: number } = {}): Vocabulary {
    const minCount = options.minCount ?? 1;
    const maxSize = options.maxSize ?? Infinity;
    if (!(maxSize >= 3)) throw new FederaError('invalid_argument', `Vocabulary.build: maxSize must be ≥ 3, got ${maxSize}`);
    const counts = new Map<string, number>();
    for (const t of texts) for (const tok of tokenize(t, level)) counts.set(tok, (counts.get(tok) ?? 0) + 1);
    counts.delete(PAD_TOKEN);
    counts.delete(UNK_TOKEN);
    const kept = [...counts.entries()]
      .filter(([, c]) => c >= minCount)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, maxSize - 2)
      .map(([t]) => t);
    return new Vocabulary(level, [PAD_TOKEN, UNK_TOKEN, ...kept]);
  }

  get size(): number {
    return this.tokens.length;
  }

  id(token: string): number {
    return this.ids.get(token) ?? 1;
  }

  encode(text: string): Int32Array {
    return Int32Array.from(tokenize(text, this.level), (t) => this.id(t));
  }

  toJSON(): { level: TokenLevel; tokens: string[] } {
    return { level: this.level, tokens: [...this.tokens] };
  }
}

/** Characters (code points), or words: runs of letters/digits/apostrophes, and single punctuation marks, lower-cased. */
export function tokenize(text: string, level: TokenLevel): string[] {
  if (level === 'char') return Array.from(text);
  return text.toLowerCase().match(/[\p{L}\p{N}']+|[^\s\p{L}\p{N}']/gu) ?? [];
}

export interface TextRecord {
  readonly [field: string]: unknown;
}

export interface TextCorpusOptions {
  /** Field naming the client (speaker, user, author). Default 'user'. */
  userField?: string;
  /** Field holding the text. Default 'text'. */
  textField?: string;
  level?: TokenLevel;
  /** Tokens of context per example (the model's input length). Default 20 for words, 80 for chars. */
  seqLength?: number;
  /** Step between windows (default 1: every position). */
  stride?: number;
  /** A fixed vocabulary (e.g. the training split's, for a test split); built from this corpus when absent. */
  vocabulary?: Vocabulary;
  minCount?: number;
  maxVocabulary?: number;
  /** Name used in errors. */
  source?: string;
}

export interface TextCorpus {
  /** x: `seqLength` token ids (as floats) per example; y: the next token's id; numClasses = vocabulary size. */
  dataset: Dataset;
  vocabulary: Vocabulary;
  /** Users in first-appearance order; client i holds `partitions[i]`. */
  users: string[];
  partitions: Int32Array[];
}

/**
 * Builds next-token examples from `records`. A user's records are joined (with a newline for
 * characters, a sentence break for words) into one stream; each window of `seqLength` tokens is
 * an example labelled with the token after it. Users with fewer than `seqLength + 1` tokens are
 * left-padded with `<pad>`, so every user with at least two tokens contributes.
 */
export function textCorpus(records: readonly TextRecord[], options: TextCorpusOptions = {}): TextCorpus {
  const source = options.source ?? 'text';
  const userField = options.userField ?? 'user';
  const textField = options.textField ?? 'text';
  const level = options.vocabulary?.level ?? options.level ?? 'char';
  const seqLength = options.seqLength ?? (level === 'char' ? 80 : 20);
  const stride = options.stride ?? 1;
  if (!Number.isInteger(seqLength) || seqLength < 1) throw new FederaError('invalid_config', `${source}: seqLength must be an integer ≥ 1, got ${seqLength}`);
  if (!Number.isInteger(stride) || stride < 1) throw new FederaError('invalid_config', `${source}: stride must be an integer ≥ 1, got ${stride}`);
  if (options.vocabulary && options.level && options.vocabulary.level !== options.level) {
    throw new FederaError('invalid_config', `${source}: level "${options.level}" but the vocabulary is "${options.vocabulary.level}"-level`);
  }
  const byUser = new Map<string, string[]>();
  records.forEach((r, i) => {
    if (r === null || typeof r !== 'object') throw new FederaError('data_error', `${source} record ${i + 1}: not an object`, { source, record: i + 1 });
    const u = r[userField];
    const t = r[textField];
    if (typeof u !== 'string' && typeof u !== 'number') throw new FederaError('data_error', `${source} record ${i + 1}: field "${userField}" is missing or not a string`, { source, record: i + 1 });
    if (typeof t !== 'string') throw new FederaError('data_error', `${source} record ${i + 1}: field "${textField}" is missing or not a string`, { source, record: i + 1 });
    const key = String(u);
    const list = byUser.get(key) ?? [];
    list.push(t);
    byUser.set(key, list);
  });
  if (byUser.size === 0) throw new FederaError('data_error', `${source}: no records`, { source });
  const joiner = level === 'char' ? '\n' : ' . ';
  const streams = [...byUser.entries()].map(([u, texts]) => [u, texts.join(joiner)] as const);
  const vocabulary = options.vocabulary ?? Vocabulary.build(streams.map(([, s]) => s), level, { minCount: options.minCount, maxSize: options.maxVocabulary });
  const users: string[] = [];
  const partitions: Int32Array[] = [];
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [u, s] of streams) {
    const ids = vocabulary.encode(s);
    if (ids.length < 2) continue;
    const padded = ids.length >= seqLength + 1 ? ids : Int32Array.from([...new Array(seqLength + 1 - ids.length).fill(0), ...ids]);
    const start = ys.length;
    for (let i = 0; i + seqLength < padded.length; i += stride) {
      for (let j = 0; j < seqLength; j++) xs.push(padded[i + j]);
      ys.push(padded[i + seqLength]);
    }
    users.push(u);
    partitions.push(Int32Array.from({ length: ys.length - start }, (_, k) => start + k));
  }
  if (ys.length === 0) throw new FederaError('data_error', `${source}: no user has two or more tokens of text`, { source });
  return { dataset: makeDataset(Float32Array.from(xs), Int32Array.from(ys), seqLength, vocabulary.size, [seqLength]), vocabulary, users, partitions };
}
