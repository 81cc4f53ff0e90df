// A small live deployment for the dashboard's tests and screenshot: an in-process FederaServer
// (toy linear model with a central evaluation, DP-FedAvg in central mode so ε is recorded) and
// scripted WireClients over real WebSocket connections on 127.0.0.1. One client answers rounds
// 2, 5, 8, … with an update of the wrong length (it fails them with shape_mismatch) and one raw
// peer sends a frame the server rejects, so the dashboard has failures and rejections to show.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/core/log.js';
import type { MessageBase } from '../../src/core/messages.js';
import { ParamLayout, makeParams } from '../../src/core/params.js';
import type { WireClient } from '../../src/wire/client.js';
import { createIdentity, nodeSigner } from '../../src/node/identity.js';
import { parseServerConfig } from '../../src/config/rules.js';
import { FederaServer, type ServerModel } from '../../src/server/server.js';
import { createStrategy } from '../../src/strategy/registry.js';
import { DpFedAvg } from '../../src/aggregate/dp-fedavg.js';
import { RawConnection } from '../deploy/helpers/raw.js';
import { scriptedWireClient } from '../deploy/helpers/scripted.js';

const D = 32;
const layout = ParamLayout.fromShapes([{ name: 'w', shape: [D] }]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mean(p: Float32Array): number {
  let s = 0;
  for (const v of p) s += v;
  return s / p.length;
}

/** Parameters start at 0 and clients pull them toward 1: "accuracy" rises as the mean nears 1. */
function toyModel(): ServerModel {
  return {
    spec: { name: 'toy', numFeatures: 2, numClasses: 2, layout: layout.toJSON() },
    initialParams: makeParams(layout),
    evaluate: async (_round, params) => {
      const gap = Math.min(1, Math.abs(1 - mean(params.data)));
      return { loss: gap * gap + 0.05, metrics: { accuracy: 0.1 + 0.85 * (1 - gap) } };
    },
  };
}

export interface DashboardRunOptions {
  rounds?: number;
  /** Each client's training time per round. */
  delayMs?: number;
  adminToken?: string;
}

export interface DashboardRun {
  server: FederaServer;
  httpUrl: string;
  url: string;
  adminToken: string;
  logger: MemoryLogger;
  /** Connects the raw peer whose frame is rejected, then the training clients. */
  startClients(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDashboardRun(options: DashboardRunOptions = {}): Promise<DashboardRun> {
  const rounds = options.rounds ?? 3;
  const adminToken = options.adminToken ?? 'dashboard-test-admin-token-5d1c9e';
  const dir = mkdtempSync(join(tmpdir(), 'federa-dashboard-'));
  const config = parseServerConfig({
    name: 'dashboard-demo',
    seed: 7,
    model: 'logreg',
    input: { numFeatures: 2, numClasses: 2 },
    rounds,
    clientsPerRound: 3,
    evaluation: { federatedEvery: 0, centralEvery: 1 },
    server: { host: '127.0.0.1', port: 0, database: join(dir, 'server.db'), enrollmentTokens: Array.from({ length: 10 }, (_, i) => `token-${i}`), heartbeatMs: 0, minClients: 4 },
  });
  const logger = new MemoryLogger();
  const server = new FederaServer(config, {
    model: toyModel(),
    processMetrics: false,
    adminToken,
    logger,
    strategy: (o) => new DpFedAvg(createStrategy({ name: 'fedavg' }, o), { clipNorm: 3, noiseMultiplier: 0.6, delta: 1e-5, populationSize: 40, clientsPerRound: 3 }),
  });
  const { url, httpUrl } = await server.start();
  const clients: WireClient[] = [];

  const scripted = (i: number, badShape = false) => {
    const client = scriptedWireClient(url, {
      index: i,
      train: async (ins) => {
        await sleep((options.delayMs ?? 300) * (1 + 0.3 * i));
        const update = new Float32Array(badShape && ins.round % 3 === 2 ? D - 1 : D);
        for (let j = 0; j < update.length; j++) update[j] = 0.5 * (1 - ins.params[j]);
        let loss = 0;
        for (const v of ins.params) loss += (1 - v) ** 2 / ins.params.length;
        return { type: 'train_result', runId: ins.runId, round: ins.round, update, numExamples: 20 + 5 * i, metrics: { loss } } as MessageBase;
      },
    });
    clients.push(client);
    void client.start().catch(() => {});
  };

  return {
    server,
    httpUrl,
    url,
    adminToken,
    logger,
    async startClients() {
      // A peer that enrolls, then sends a text frame (not part of the protocol) and leaves.
      const raw = await RawConnection.open(url);
      const id = createIdentity('client-9');
      const hello = await raw.hello(id.clientId, nodeSigner(id.privateKey), { token: 'token-9' });
      if (!hello.welcome) throw new Error(`raw peer not welcomed: ${JSON.stringify(hello.notice)}`);
      raw.ws.send('is this the training server?');
      await raw.notice();
      raw.close();
      for (let i = 0; i < 3; i++) scripted(i);
      scripted(3, true);
    },
    async stop() {
      for (const c of clients) c.stop();
      await server.stop();
    },
  };
}
