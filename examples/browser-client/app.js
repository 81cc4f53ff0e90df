// The example page of federa's browser client: pick local data, enter the server and an
// enrollment token, join. The data is decoded and trained on in this page; only model updates
// leave it. URL parameters fill the form (server, token, identity, backend, source=mnist|csv|images,
// shard, shards) and `autostart=1` joins at once — a reload then rejoins as the same client.
import { BrowserClient, FederaError, csvDataset, describeError, imageFolderDataset, loadMnistSubset, squareSide } from '/client/federa-browser.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

/** What the page knows, for people (the DOM) and for automated tests (window.federaPage). */
const page = (window.federaPage = { status: 'idle', clientId: undefined, error: undefined, events: [], rounds: [], welcomes: 0 });

let client;
let imageFolder; // decoded when picked
let csvFile;

function showError(message) {
  page.error = message;
  $('error').textContent = message;
  $('error').hidden = false;
}

function clearError() {
  page.error = undefined;
  $('error').hidden = true;
  $('error').textContent = '';
}

function setStatus(text, state) {
  $('status').textContent = text;
  if (state) page.status = state;
}

function source() {
  return document.querySelector('input[name=source]:checked').value;
}

const pct = (v) => (typeof v === 'number' ? `${(100 * v).toFixed(1)} %` : '—');
const bytes = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`);

function row(round) {
  let r = page.rounds.find((x) => x.round === round);
  if (!r) {
    r = { round };
    page.rounds.push(r);
    const tr = document.createElement('tr');
    tr.dataset.round = String(round);
    for (let i = 0; i < 7; i++) tr.appendChild(document.createElement('td'));
    tr.cells[0].textContent = String(round);
    $('rounds').tBodies[0].appendChild(tr);
  }
  return r;
}

function renderRow(r) {
  const tr = $('rounds').querySelector(`tr[data-round="${r.round}"]`);
  tr.cells[1].textContent = r.loss === undefined ? '—' : r.loss.toFixed(4);
  tr.cells[2].textContent = pct(r.accuracy);
  tr.cells[3].textContent = pct(r.validationAccuracy);
  tr.cells[4].textContent = r.examples === undefined ? '—' : String(r.examples);
  tr.cells[5].textContent = r.ms === undefined ? '—' : `${(r.ms / 1000).toFixed(2)} s`;
  tr.cells[6].textContent = r.sent === undefined ? '—' : bytes(r.sent);
}

/** The global model's accuracy from the server's history (only when the page comes from that server). */
async function refreshGlobal(serverUrl) {
  try {
    if (new URL(serverUrl).host !== location.host) return;
    const res = await fetch('/api/history', { cache: 'no-store' });
    if (!res.ok) return;
    const h = await res.json();
    const last = h.rounds?.filter((r) => r.centralEvaluation?.metrics?.accuracy !== undefined).at(-1);
    const first = h.initialEvaluation?.metrics?.accuracy;
    if (last) $('global').textContent = `round ${last.round}: accuracy ${pct(last.centralEvaluation.metrics.accuracy)} (at the start: ${pct(first)})`;
  } catch {
    // informational only
  }
}

function onEvent(e, serverUrl) {
  if (e.type !== 'training' && e.type !== 'log') page.events.push(e);
  switch (e.type) {
    case 'identity':
      page.clientId = e.clientId;
      $('client-id').textContent = `${e.clientId}${e.created ? ' (new)' : ''}`;
      $('key-storage').textContent =
        e.storage === 'webcrypto'
          ? 'Ed25519, non-extractable WebCrypto key kept in this browser (IndexedDB)'
          : 'Ed25519 raw key in IndexedDB (this browser has no WebCrypto Ed25519; any script of this site could read it)';
      break;
    case 'backend':
      $('backend-name').textContent = e.backend;
      break;
    case 'connecting':
      setStatus(e.attempt === 1 ? 'connecting…' : `reconnecting (attempt ${e.attempt})…`, 'connecting');
      break;
    case 'connected':
      setStatus('connected, authenticating…', 'connecting');
      break;
    case 'disconnected':
      if (page.status !== 'done' && page.status !== 'error') setStatus(`disconnected (${e.code}${e.reason ? `: ${e.reason}` : ''}); will retry`, 'disconnected');
      break;
    case 'welcome':
      page.welcomes++;
      $('run').textContent = `${e.runId}: model ${e.model.name} (${e.model.numFeatures} → ${e.model.numClasses}), round ${e.round}${e.enrolled ? ', enrolled now' : ''}`;
      setStatus('joined; waiting for the next round', 'joined');
      void refreshGlobal(serverUrl);
      break;
    case 'ready':
      $('data-summary').textContent = `${e.trainExamples} training and ${e.validationExamples} validation examples; ${e.parameters} model parameters`;
      break;
    case 'instruction':
      setStatus(e.kind === 'train' ? `round ${e.round}: training` : `round ${e.round}: ${e.kind}`, 'working');
      break;
    case 'training':
      $('training').value = e.total > 0 ? e.done / e.total : 0;
      $('training-text').textContent = `${e.done} / ${e.total} examples`;
      break;
    case 'metrics': {
      const r = row(e.round);
      if (e.kind === 'train') Object.assign(r, { loss: e.loss, accuracy: e.accuracy, examples: e.numExamples, ms: e.ms });
      else r.validationAccuracy = e.accuracy;
      renderRow(r);
      break;
    }
    case 'reply': {
      // With secure aggregation the update leaves as a masked vector.
      if (e.kind === 'train_result' || e.kind === 'secagg_masked_result') {
        const r = row(e.round);
        r.sent = e.bytes;
        renderRow(r);
      }
      setStatus(`round ${e.round}: sent; waiting for the next round`, 'joined');
      void refreshGlobal(serverUrl);
      break;
    }
    case 'done':
      setStatus(e.outcome.reason === 'run_complete' ? 'the run is complete' : 'left the federation', 'done');
      void refreshGlobal(serverUrl);
      break;
    case 'error':
      setStatus('stopped', 'error');
      showError(e.message);
      break;
  }
}

/** The data source for the BrowserClient: decoded here, checked against the server's model once it is known. */
async function dataSource() {
  switch (source()) {
    case 'mnist': {
      const shard = Number($('shard').value);
      const shards = Number($('shards').value);
      const ds = await loadMnistSubset({ url: '/client/mnist-subset.bin', shard, shards });
      $('data-summary').textContent = `MNIST subset part ${shard} of ${shards}: ${ds.y.length} images`;
      return ds;
    }
    case 'csv': {
      if (!csvFile) throw new FederaError('data_error', 'pick a CSV file first');
      const labelColumn = $('label-column').value.trim() || 'label';
      const file = csvFile;
      return async ({ model }) => (await csvDataset(file, { labelColumn, numClasses: model.numClasses })).dataset;
    }
    case 'images': {
      if (!imageFolder) throw new FederaError('data_error', 'pick a folder of images first');
      const folder = imageFolder;
      return ({ model }) => {
        if (folder.width * folder.height !== model.numFeatures) {
          const side = squareSide(model.numFeatures);
          throw new FederaError(
            'data_error',
            `the images are ${folder.width}×${folder.height} pixels (${folder.width * folder.height} values); the server's model takes ${model.numFeatures} features${side ? ` (${side}×${side} grayscale images)` : ''}`,
          );
        }
        if (folder.classNames.length > model.numClasses) {
          throw new FederaError('data_error', `the folder has ${folder.classNames.length} classes (${folder.classNames.join(', ')}); the server's model has ${model.numClasses}`);
        }
        return folder.dataset;
      };
    }
  }
  throw new FederaError('invalid_argument', `unknown data source ${source()}`);
}

async function join(ev) {
  ev?.preventDefault();
  clearError();
  const serverUrl = $('server').value.trim();
  if (!serverUrl) return showError('enter the server URL (wss://host:port)');
  $('start').disabled = true;
  let data;
  try {
    data = await dataSource();
  } catch (e) {
    $('start').disabled = false;
    return showError(describeError(e));
  }
  try {
    client = new BrowserClient({
      server: serverUrl,
      token: $('token').value.trim() || undefined,
      identityName: $('identity').value.trim() || 'default',
      backend: $('backend').value || undefined,
      data,
    });
  } catch (e) {
    $('start').disabled = false;
    return showError(describeError(e));
  }
  client.on((e) => onEvent(e, serverUrl));
  $('stop').disabled = false;
  try {
    await client.start();
  } catch {
    // shown by the 'error' event
  } finally {
    $('stop').disabled = true;
    $('start').disabled = false;
  }
}

async function pickCsv() {
  clearError();
  csvFile = $('csv-file').files[0];
  document.querySelector('input[name=source][value=csv]').checked = true;
  if (!csvFile) return;
  try {
    const { dataset, labels, featureColumns } = await csvDataset(csvFile, { labelColumn: $('label-column').value.trim() || 'label' });
    $('data-summary').textContent = `${csvFile.name}: ${dataset.y.length} rows, ${featureColumns.length} features, ${labels.length} classes`;
  } catch (e) {
    csvFile = undefined;
    $('data-summary').textContent = '';
    showError(describeError(e));
  }
}

async function pickImages() {
  clearError();
  imageFolder = undefined;
  document.querySelector('input[name=source][value=images]').checked = true;
  const files = [...$('image-folder').files];
  if (files.length === 0) return;
  $('data-summary').textContent = `decoding ${files.length} files…`;
  try {
    const folder = await imageFolderDataset(files);
    imageFolder = folder;
    $('data-summary').textContent = `${folder.dataset.y.length} images of ${folder.width}×${folder.height}, ${folder.classNames.length} classes (${folder.classNames.join(', ')})${folder.skipped.length ? `; ${folder.skipped.length} other files skipped` : ''}`;
  } catch (e) {
    $('data-summary').textContent = '';
    showError(describeError(e));
  }
}

function init() {
  const defaultServer = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  $('server').value = params.get('server') ?? defaultServer;
  $('token').value = params.get('token') ?? '';
  $('identity').value = params.get('identity') ?? 'default';
  $('backend').value = params.get('backend') ?? '';
  if (params.has('shard')) $('shard').value = params.get('shard');
  if (params.has('shards')) $('shards').value = params.get('shards');
  const src = params.get('source');
  if (src) document.querySelector(`input[name=source][value=${CSS.escape(src)}]`)?.click();
  $('join').addEventListener('submit', join);
  $('stop').addEventListener('click', () => client?.stop());
  $('csv-file').addEventListener('change', pickCsv);
  $('image-folder').addEventListener('change', pickImages);
  $('label-column').addEventListener('change', () => csvFile && pickCsv());
  page.ready = true;
  if (params.get('autostart') === '1') void join();
}

init();
