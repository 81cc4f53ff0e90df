// Shared by the wss test and its client processes.
export const WSS_TEST = {
  clients: 10,
  dimension: 5000,
  seed: 21,
  range: 1.5,
  clip: 1,
  maxWeight: 50,
  sizes: Array.from({ length: 10 }, (_, i) => 15 + 4 * i),
};
