// Shared by the FedBuff deployment test and its client processes.
export const FEDBUFF_TEST = {
  clients: 6,
  dimension: 64,
  seed: 13,
  /** Clients 0 and 1 train for this long (about ten versions of the fast ones); the others for `fastMs`. */
  slowMs: 1500,
  fastMs: 60,
};
