/**
 * The per-connection flood gate: a token bucket for the frames a client sends on its own (pings,
 * anything unsolicited) and solicited passes for the replies the server asked for. Every request
 * the server sends grants one pass (at most {@link MAX_SOLICITED_PASSES} banked); a reply to an
 * open or recently closed request spends a pass instead of a token, so replies never count
 * against the rate limit however short the rounds, while a flood of anything else runs dry.
 */

export interface RateLimit {
  /** Sustained frames per second per connection (default 20). */
  framesPerSecond: number;
  /** Bucket size: frames allowed in a burst (default 40). */
  burst: number;
}

export const DEFAULT_RATE_LIMIT: Readonly<RateLimit> = { framesPerSecond: 20, burst: 40 };

/** Most solicited passes a connection banks (replies it may send without charging the flood bucket). */
export const MAX_SOLICITED_PASSES = 1024;

export class FloodGate {
  private tokens: number;
  private refilledAt: number;
  private passes = 0;

  constructor(
    private readonly rate: RateLimit = DEFAULT_RATE_LIMIT,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = rate.burst;
    this.refilledAt = now();
  }

  /** Whether a frame may be decoded before it is known whether it is solicited (a pass is banked). */
  get holdsPasses(): boolean {
    return this.passes > 0;
  }

  /** One more request sent: its reply may spend a pass. */
  grant(): void {
    this.passes = Math.min(MAX_SOLICITED_PASSES, this.passes + 1);
  }

  /** Takes one token from the bucket (refilled at the sustained rate); false when it is empty. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.rate.burst, this.tokens + ((t - this.refilledAt) / 1000) * this.rate.framesPerSecond);
    this.refilledAt = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * For a frame decoded while passes were banked: a solicited reply spends a pass, anything else
   * takes a token. False when neither is left.
   */
  admit(solicited: boolean): boolean {
    if (solicited && this.passes > 0) {
      this.passes--;
      return true;
    }
    return this.take();
  }
}
