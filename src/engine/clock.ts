/**
 * Simulated time: a clock a simulation's grid carries so that rounds, deadlines, stragglers,
 * over-selection and dropouts happen in the time each client's device would take, not in the
 * time this machine takes to compute them. The engine and the workflows read it through the grid;
 * a deployment's grid has none (real time).
 *
 * A request's simulated duration is known before the client runs (download, training and upload
 * from its device profile and the message): the exchange decides from it who arrives in time and
 * in which order, and runs only those clients — deterministic, and no slower than without a clock.
 */
import type { MessageBase } from '../core/messages.js';

/** How a request would go on a client's device, starting now. */
export interface DeviceTiming {
  /** Simulated ms from the request until its reply arrives. */
  readonly durationMs: number;
  /** The device goes offline this many ms after the request, before its reply would arrive. */
  readonly offlineAfterMs?: number;
}

export interface SimulatedClock {
  /** Simulated ms since the run started. */
  now(): number;
  /** Moves the clock forward (never back). */
  advanceTo(ms: number): void;
  /** The timing of `message` on `clientId`'s device if it is sent now. */
  timing(clientId: string, message: MessageBase): DeviceTiming;
  /** Whether `clientId` is online at simulated time `atMs`. */
  isOnline(clientId: string, atMs: number): boolean;
  /** How many ms `clientId` stays online from `atMs` (0 when offline; Infinity when always online). */
  onlineFor?(clientId: string, atMs: number): number;
}
