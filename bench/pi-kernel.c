/*
 * The sampling kernel in C, for the benchmark only: the same stream rule and exact inside test as
 * functions/shared/kernel (see stream-rule.ts), so it must give the same inside counts.
 *
 *   cc -O3 -march=native -o pi-kernel pi-kernel.c
 *   ./pi-kernel scalar|lanes SEED START_BLOCK END_BLOCK JOB_SAMPLES [REPEAT]
 *
 * prints "<inside count> <best CPU seconds of REPEAT runs>". `scalar` runs one block after another;
 * `lanes` runs 16 consecutive blocks side by side, written so the compiler vectorises across them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK_SIZE 16384u
#define LANES 16
#define INSIDE_LIMIT ((1ull << 50) - 1)

/* SplitMix64's output function (Stafford's Mix13). */
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* xoshiro128** state of block b: SplitMix64 started at mix64(mix64(seed) ^ b), low word first. */
static void block_state(uint64_t seed_key, uint64_t b, uint32_t w[4]) {
  uint64_t state = mix64(seed_key ^ b);
  uint64_t z0 = mix64(state += 0x9e3779b97f4a7c15ull);
  uint64_t z1 = mix64(state += 0x9e3779b97f4a7c15ull);
  if ((z0 | z1) == 0) z0 = 1;
  w[0] = (uint32_t)z0, w[1] = (uint32_t)(z0 >> 32), w[2] = (uint32_t)z1, w[3] = (uint32_t)(z1 >> 32);
}

static uint32_t block_samples(uint64_t b, uint64_t end, uint64_t job) {
  uint64_t full = job / BLOCK_SIZE;
  if (b >= end) return 0;
  return b < full ? BLOCK_SIZE : b == full ? (uint32_t)(job % BLOCK_SIZE) : 0;
}

static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

/* One xoshiro128** step: returns rotl(s1 * 5, 7) * 9 and advances the state. */
#define XOSHIRO_NEXT(out, s0, s1, s2, s3)                                        \
  do {                                                                           \
    uint32_t t_ = (s1) << 9;                                                     \
    (out) = rotl((s1) * 5, 7) * 9;                                               \
    (s2) ^= (s0), (s3) ^= (s1), (s1) ^= (s2), (s0) ^= (s3), (s2) ^= t_;          \
    (s3) = rotl((s3), 11);                                                       \
  } while (0)

/* Exact: a = x >> 7, b = y >> 7 on the 2^25 lattice, inside iff a^2 + a + b^2 + b <= 2^50 - 1. */
static inline uint32_t inside(uint32_t x, uint32_t y) {
  uint64_t a = x >> 7, b = y >> 7;
  return a * a + a + b * b + b <= INSIDE_LIMIT;
}

static uint64_t count_scalar(uint64_t seed, uint64_t start, uint64_t end, uint64_t job) {
  uint64_t seed_key = mix64(seed), total = 0;
  for (uint64_t b = start; b < end; b++) {
    uint32_t w[4], n = block_samples(b, end, job), count = 0;
    block_state(seed_key, b, w);
    uint32_t s0 = w[0], s1 = w[1], s2 = w[2], s3 = w[3];
    for (uint32_t i = 0; i < n; i++) {
      uint32_t x, y;
      XOSHIRO_NEXT(x, s0, s1, s2, s3);
      XOSHIRO_NEXT(y, s0, s1, s2, s3);
      count += inside(x, y);
    }
    total += count;
  }
  return total;
}

static uint64_t count_lanes(uint64_t seed, uint64_t start, uint64_t end, uint64_t job) {
  uint64_t seed_key = mix64(seed), total = 0;
  for (uint64_t g = start; g < end; g += LANES) {
    uint32_t s0[LANES], s1[LANES], s2[LANES], s3[LANES], n[LANES], count[LANES] = {0}, w[4];
    uint32_t most = 0, all_full = 1;
    for (int k = 0; k < LANES; k++) {
      block_state(seed_key, g + k, w);
      s0[k] = w[0], s1[k] = w[1], s2[k] = w[2], s3[k] = w[3];
      n[k] = block_samples(g + k, end, job);
      if (n[k] > most) most = n[k];
      all_full &= n[k] == BLOCK_SIZE;
    }
    if (all_full) {
      for (uint32_t i = 0; i < BLOCK_SIZE; i++) {
        for (int k = 0; k < LANES; k++) {
          uint32_t x, y;
          XOSHIRO_NEXT(x, s0[k], s1[k], s2[k], s3[k]);
          XOSHIRO_NEXT(y, s0[k], s1[k], s2[k], s3[k]);
          count[k] += inside(x, y);
        }
      }
    } else {
      for (uint32_t i = 0; i < most; i++) {
        for (int k = 0; k < LANES; k++) {
          uint32_t x, y;
          XOSHIRO_NEXT(x, s0[k], s1[k], s2[k], s3[k]);
          XOSHIRO_NEXT(y, s0[k], s1[k], s2[k], s3[k]);
          count[k] += inside(x, y) & (i < n[k]);
        }
      }
    }
    for (int k = 0; k < LANES; k++) total += count[k];
  }
  return total;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); /* CPU time: other load on the machine does not count */
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 6 || (strcmp(argv[1], "scalar") != 0 && strcmp(argv[1], "lanes") != 0)) {
    fprintf(stderr, "usage: %s scalar|lanes SEED START_BLOCK END_BLOCK JOB_SAMPLES [REPEAT]\n", argv[0]);
    return 2;
  }
  int lanes = strcmp(argv[1], "lanes") == 0;
  uint64_t seed = strtoull(argv[2], 0, 10), start = strtoull(argv[3], 0, 10);
  uint64_t end = strtoull(argv[4], 0, 10), job = strtoull(argv[5], 0, 10);
  int repeat = argc > 6 ? atoi(argv[6]) : 1;
  uint64_t count = 0;
  double best = 1e300;
  for (int r = 0; r < (repeat > 0 ? repeat : 1); r++) {
    double t0 = now();
    count = lanes ? count_lanes(seed, start, end, job) : count_scalar(seed, start, end, job);
    double dt = now() - t0;
    if (dt < best) best = dt;
  }
  printf("%llu %.9f\n", (unsigned long long)count, best);
  return 0;
}
