/**
 * Device profiles and the simulated clock of a simulation (engine/clock.ts): each virtual client
 * gets a device — training speed, downlink and uplink bandwidth, latency, and when it is online —
 * drawn from a seeded distribution or read from an availability trace, so that rounds, deadlines,
 * stragglers and dropouts happen in the time the devices would take.
 *
 * Seeded profiles (`kind: "lognormal"`): speeds and bandwidths log-normal around their medians, a
 * straggler fraction slowed down by a factor (the heavy tail of real fleets), and availability as
 * alternating online and offline sessions of exponential length (an online fraction and a mean
 * session). A trace (`kind: "trace"`) gives the devices explicitly in the JSON format below, in
 * the spirit of FedScale's device and availability traces; client i gets device i mod the count.
 *
 *   { "format": "federa-devices/1",
 *     "period": 86400,                        optional: the online intervals repeat every period s
 *     "devices": [ { "speed": 120,            training examples per second
 *                    "downlinkMbps": 20, "uplinkMbps": 5, "latencyMs": 80,
 *                    "online": [[0, 3600], [7200, 9000]] } ] }    optional: [start, end) in s
 *
 * A request's simulated duration: 2 × latency + the message's bytes over the downlink + the
 * training (epochs × training examples ÷ speed, for train and secure-aggregation masked-input
 * requests; validation examples ÷ speed for evaluation) + the reply's expected bytes over the
 * uplink. The reply is not known before the client ran, so its size is estimated: an update the
 * size of the float32 model (times `uplinkRatio`, for a compressed uplink), 1 KB otherwise.
 */
import { FederaError } from '../core/errors.js';
import { payloadBytes, type MessageBase } from '../core/messages.js';
import { Rng } from '../core/rng.js';
import type { DeviceTiming, SimulatedClock } from '../engine/clock.js';

export interface DeviceProfile {
  /** Training examples per second. */
  readonly speed: number;
  readonly downlinkMbps: number;
  readonly uplinkMbps: number;
  readonly latencyMs: number;
  /** Online intervals [start, end) in seconds, sorted and disjoint; absent: always online. */
  readonly online?: readonly (readonly [number, number])[];
  /** The intervals repeat every `period` seconds. */
  readonly period?: number;
}

export interface LognormalDevices {
  readonly kind: 'lognormal';
  /** Median training speed, examples per second (default 200). */
  readonly speed?: number;
  /** σ of log(speed) (default 0.7). */
  readonly speedSigma?: number;
  /** Fraction of devices that are stragglers (default 0.1) ... */
  readonly stragglerFraction?: number;
  /** ... and how many times slower they are (default 10). */
  readonly stragglerSlowdown?: number;
  /** Median bandwidths in Mbit/s (default 20 down, 5 up), σ of their logs (default 0.8). */
  readonly downlinkMbps?: number;
  readonly uplinkMbps?: number;
  readonly bandwidthSigma?: number;
  readonly latencyMs?: number;
  /** Long-run fraction of time a device is online, in (0, 1] (default 1: always). */
  readonly availability?: number;
  /** Mean length of an online session in minutes (default 30). */
  readonly sessionMinutes?: number;
}

export interface TraceDevices {
  readonly kind: 'trace';
  readonly devices: readonly DeviceProfile[];
  readonly period?: number;
}

export type DeviceSpec = LognormalDevices | TraceDevices;

export interface DeviceFleetOptions {
  /** The client ids, in population order (client i of a trace gets device i mod its length). */
  readonly clients: readonly string[];
  /** A client's training and validation example counts. */
  readonly examples: (clientId: string) => { train: number; validation: number };
  readonly seed: number | string;
  /** Expected uplink bytes of an update ÷ its float32 size (default 1). */
  readonly uplinkRatio?: number;
}

const MBPS = 1e6 / 8; // bytes per second in one Mbit/s

/** Reads and checks a device trace (the JSON format above); `where` names the file in errors. */
export function parseDeviceTrace(json: unknown, where = 'device trace'): TraceDevices {
  const bad = (what: string): never => {
    throw new FederaError('invalid_config', `${where}: ${what}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('expected a JSON object with "format" and "devices"');
  const o = json as Record<string, unknown>;
  if (o.format !== 'federa-devices/1') bad(`"format" must be "federa-devices/1", got ${JSON.stringify(o.format)}`);
  const period = o.period === undefined ? undefined : positive(o.period, `${where}: period`);
  if (!Array.isArray(o.devices) || o.devices.length === 0) bad('"devices" must be a non-empty array');
  const devices = (o.devices as unknown[]).map((d, i) => {
    const at = `${where}: devices[${i}]`;
    if (typeof d !== 'object' || d === null) throw new FederaError('invalid_config', `${at} must be an object`);
    const r = d as Record<string, unknown>;
    const profile: DeviceProfile = {
      speed: positive(r.speed, `${at}.speed`),
      downlinkMbps: positive(r.downlinkMbps, `${at}.downlinkMbps`),
      uplinkMbps: positive(r.uplinkMbps, `${at}.uplinkMbps`),
      latencyMs: nonNegative(r.latencyMs ?? 0, `${at}.latencyMs`),
      ...(r.online !== undefined ? { online: intervals(r.online, `${at}.online`, period) } : {}),
      ...(period !== undefined ? { period } : {}),
    };
    return profile;
  });
  return { kind: 'trace', devices, ...(period !== undefined ? { period } : {}) };
}

function positive(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) throw new FederaError('invalid_config', `${where} must be a finite number > 0, got ${JSON.stringify(v)}`);
  return v;
}

function nonNegative(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new FederaError('invalid_config', `${where} must be a finite number ≥ 0, got ${JSON.stringify(v)}`);
  return v;
}

function intervals(v: unknown, where: string, period: number | undefined): [number, number][] {
  if (!Array.isArray(v)) throw new FederaError('invalid_config', `${where} must be an array of [start, end] pairs in seconds`);
  let last = -Infinity;
  return v.map((pair, k) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new FederaError('invalid_config', `${where}[${k}] must be a [start, end] pair`);
    const a = nonNegative(pair[0], `${where}[${k}][0]`);
    const b = nonNegative(pair[1], `${where}[${k}][1]`);
    if (!(b > a)) throw new FederaError('invalid_config', `${where}[${k}]: end ${b} must be after start ${a}`);
    if (a < last) throw new FederaError('invalid_config', `${where}[${k}]: intervals must be sorted and disjoint (${a} < ${last})`);
    if (period !== undefined && b > period) throw new FederaError('invalid_config', `${where}[${k}]: end ${b} is past the period ${period}`);
    last = b;
    return [a, b];
  });
}

/** A device's availability: whether it is online at t and, if so, until when (ms). */
interface Availability {
  onlineUntil(tMs: number): number | undefined;
}

const ALWAYS: Availability = { onlineUntil: () => Infinity };

/** Fixed intervals, optionally periodic. */
function traceAvailability(online: readonly (readonly [number, number])[], period: number | undefined): Availability {
  const ms = online.map(([a, b]) => [a * 1000, b * 1000] as const);
  const p = period !== undefined ? period * 1000 : undefined;
  return {
    onlineUntil(t) {
      const base = p !== undefined ? Math.floor(t / p) * p : 0;
      const local = t - base;
      for (const [a, b] of ms) {
        if (local >= a && local < b) {
          // An interval that reaches the period's end continues into the next period's first one.
          if (p !== undefined && b === p && ms[0][0] === 0) return base + p + ms[0][1];
          return base + b;
        }
      }
      return undefined;
    },
  };
}

/** Alternating exponential online and offline sessions, generated lazily from a seeded stream. */
function sessionAvailability(fraction: number, meanOnlineMs: number, rng: Rng): Availability {
  if (fraction >= 1) return ALWAYS;
  const meanOffline = (meanOnlineMs * (1 - fraction)) / fraction;
  const exp = (mean: number) => -mean * Math.log(1 - rng.next());
  // Boundaries: [start0, end0), [start1, end1), ... of online sessions; the first starts online with probability `fraction`.
  const sessions: [number, number][] = [];
  let t = rng.next() < fraction ? 0 : exp(meanOffline);
  const extend = (until: number) => {
    while (t <= until) {
      const end = t + exp(meanOnlineMs);
      sessions.push([t, end]);
      t = end + exp(meanOffline);
    }
  };
  return {
    onlineUntil(at) {
      extend(at);
      // Binary search for the last session starting at or before `at`.
      let lo = 0;
      let hi = sessions.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (sessions[mid][0] <= at) (found = mid), (lo = mid + 1);
        else hi = mid - 1;
      }
      if (found < 0) return undefined;
      const [, end] = sessions[found];
      return at < end ? end : undefined;
    },
  };
}

/** The simulated clock of a simulation, over one device per client. */
export class DeviceFleet implements SimulatedClock {
  private t = 0;
  private readonly profiles = new Map<string, DeviceProfile>();
  private readonly availability = new Map<string, Availability>();
  private readonly o: DeviceFleetOptions;

  constructor(spec: DeviceSpec, options: DeviceFleetOptions) {
    this.o = options;
    const ratio = options.uplinkRatio ?? 1;
    if (!(ratio > 0 && Number.isFinite(ratio))) throw new FederaError('invalid_config', `devices: uplinkRatio must be a finite number > 0, got ${ratio}`);
    const rng = new Rng(options.seed).stream('devices');
    if (spec.kind === 'trace') {
      if (spec.devices.length === 0) throw new FederaError('invalid_config', 'devices: the trace has no device');
      options.clients.forEach((id, i) => {
        const d = spec.devices[i % spec.devices.length];
        this.profiles.set(id, d);
        this.availability.set(id, d.online ? traceAvailability(d.online, d.period ?? spec.period) : ALWAYS);
      });
      return;
    }
    const s = {
      speed: spec.speed ?? 200,
      speedSigma: spec.speedSigma ?? 0.7,
      stragglerFraction: spec.stragglerFraction ?? 0.1,
      stragglerSlowdown: spec.stragglerSlowdown ?? 10,
      downlinkMbps: spec.downlinkMbps ?? 20,
      uplinkMbps: spec.uplinkMbps ?? 5,
      bandwidthSigma: spec.bandwidthSigma ?? 0.8,
      latencyMs: spec.latencyMs ?? 50,
      availability: spec.availability ?? 1,
      sessionMinutes: spec.sessionMinutes ?? 30,
    };
    positive(s.speed, 'devices.speed');
    positive(s.downlinkMbps, 'devices.downlinkMbps');
    positive(s.uplinkMbps, 'devices.uplinkMbps');
    positive(s.sessionMinutes, 'devices.sessionMinutes');
    nonNegative(s.speedSigma, 'devices.speedSigma');
    nonNegative(s.bandwidthSigma, 'devices.bandwidthSigma');
    nonNegative(s.latencyMs, 'devices.latencyMs');
    if (!(s.stragglerFraction >= 0 && s.stragglerFraction <= 1)) throw new FederaError('invalid_config', `devices.stragglerFraction must be in [0, 1], got ${s.stragglerFraction}`);
    if (!(s.stragglerSlowdown >= 1 && Number.isFinite(s.stragglerSlowdown))) throw new FederaError('invalid_config', `devices.stragglerSlowdown must be a finite number ≥ 1, got ${s.stragglerSlowdown}`);
    if (!(s.availability > 0 && s.availability <= 1)) throw new FederaError('invalid_config', `devices.availability must be in (0, 1], got ${s.availability}`);
    for (const id of options.clients) {
      // Each client's device from its own stream: adding clients does not change the others'.
      const r = rng.stream(id);
      const straggler = r.next() < s.stragglerFraction;
      const profile: DeviceProfile = {
        speed: (s.speed * Math.exp(s.speedSigma * r.normal())) / (straggler ? s.stragglerSlowdown : 1),
        downlinkMbps: s.downlinkMbps * Math.exp(s.bandwidthSigma * r.normal()),
        uplinkMbps: s.uplinkMbps * Math.exp(s.bandwidthSigma * r.normal()),
        latencyMs: s.latencyMs,
      };
      this.profiles.set(id, profile);
      this.availability.set(id, sessionAvailability(s.availability, s.sessionMinutes * 60_000, r.stream('sessions')));
    }
  }

  /** The device of `clientId`. */
  profile(clientId: string): DeviceProfile {
    const p = this.profiles.get(clientId);
    if (!p) throw new FederaError('not_found', `devices: no device for client ${clientId}`);
    return p;
  }

  now(): number {
    return this.t;
  }

  advanceTo(ms: number): void {
    if (!Number.isFinite(ms)) throw new FederaError('invalid_argument', `clock: cannot advance to ${ms}`);
    if (ms > this.t) this.t = ms;
  }

  isOnline(clientId: string, atMs: number): boolean {
    return this.availability.get(clientId)?.onlineUntil(atMs) !== undefined;
  }

  onlineFor(clientId: string, atMs: number): number {
    const until = this.availability.get(clientId)?.onlineUntil(atMs);
    return until === undefined ? 0 : until - atMs;
  }

  timing(clientId: string, message: MessageBase): DeviceTiming {
    const p = this.profile(clientId);
    const config = (message as { config?: Record<string, unknown> }).config;
    const epochs = typeof config?.epochs === 'number' && config.epochs > 0 ? config.epochs : 1;
    const params = (message as { params?: unknown }).params;
    const modelBytes = params instanceof Float32Array ? params.byteLength : 0;
    const trains = message.type === 'train' || message.type === 'secagg_masked';
    const counts = trains || message.type === 'evaluate' ? this.o.examples(clientId) : undefined;
    const examples = !counts ? 0 : trains ? epochs * counts.train : counts.validation;
    const upBytes = trains ? Math.max(1024, modelBytes * (this.o.uplinkRatio ?? 1)) : 1024;
    const durationMs = 2 * p.latencyMs + (1000 * payloadBytes(message)) / (p.downlinkMbps * MBPS) + (1000 * examples) / p.speed + (1000 * upBytes) / (p.uplinkMbps * MBPS);
    const until = this.availability.get(clientId)!.onlineUntil(this.t);
    if (until === undefined) return { durationMs, offlineAfterMs: 0 };
    return until - this.t < durationMs ? { durationMs, offlineAfterMs: until - this.t } : { durationMs };
  }
}
