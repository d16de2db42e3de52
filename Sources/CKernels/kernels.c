// The kernels of CKernels.h: scalar helpers, kernels_template.h compiled once per instruction-set
// level, and the dispatch (one CPU level, detected once, and a per-thread override for tests).
#include "CKernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__clang__)
#define RK_X86 1
#include <immintrin.h>
#else
#define RK_X86 0
#endif

typedef float rk_f2 __attribute__((ext_vector_type(2)));
typedef float rk_f4 __attribute__((ext_vector_type(4)));
typedef float rk_f8 __attribute__((ext_vector_type(8)));
typedef float rk_f16 __attribute__((ext_vector_type(16)));
typedef int32_t rk_i4 __attribute__((ext_vector_type(4)));
typedef int32_t rk_i8 __attribute__((ext_vector_type(8)));
typedef int32_t rk_i16 __attribute__((ext_vector_type(16)));
typedef uint32_t rk_u4 __attribute__((ext_vector_type(4)));
typedef uint32_t rk_u8 __attribute__((ext_vector_type(8)));
typedef uint32_t rk_u16 __attribute__((ext_vector_type(16)));
typedef uint16_t rk_h4 __attribute__((ext_vector_type(4)));
typedef uint16_t rk_h8 __attribute__((ext_vector_type(8)));
typedef uint16_t rk_h16 __attribute__((ext_vector_type(16)));
#if RK_X86
typedef _Float16 rk_half8 __attribute__((ext_vector_type(8)));
typedef _Float16 rk_half16 __attribute__((ext_vector_type(16)));
#endif

/// One level's kernels.
typedef struct {
  void (*activation)(int kind, float *x, long n);
  float (*logsumexp)(const float *x, const float *c, long n);
  void (*softmax)(float *x, long n);
  void (*gemv_f16)(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y);
  void (*gemv_f32)(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y);
  void (*half_to_float_n)(const uint16_t *src, float *dst, long n);
} rk_kernel_table;

/// One level's packed matrix product (gemm_template.h).
typedef struct {
  long (*mr)(void);
  long (*nr)(void);
  void (*pack_a)(const float *a, long M, long K, long lda, float *out);
  void (*pack_b)(const float *b, long N, long K, long ldb, float *out);
  void (*gemm)(long M, long K, const float *ap, const float *bp, long j0, long j1, float *c, long ldc,
               const rk_gemm_blocks *blocks);
  int (*score)(long M, long K, const float *ap, const float *bp, const float *bias, long j0, long j1,
               const long *targets, float *maxima, float *sums, float *picked, const rk_gemm_blocks *blocks);
} rk_gemm_table;

// MARK: scalar helpers (tails of the vector loops, and the kernels without a vector body)

static inline float rk_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  uint32_t bits;
  if (exponent == 0) {
    float value = (float)mantissa * 0x1p-24f;
    return sign ? -value : value;
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static inline float rk_scalar_activation(int kind, float x) {
  switch (kind) {
  case RK_TANH: return tanhf(x);
  case RK_RELU: return x > 0.0f ? x : 0.0f;
  case RK_SIGMOID: return 1.0f / (1.0f + expf(-x));
  case RK_SOFTSIGN: return x / (1.0f + fabsf(x));
  case RK_SOFTPLUS: return x > 30.0f ? x : log1pf(expf(x));
  case RK_ELU: return x > 0.0f ? x : expm1f(x);
  case RK_SILU: return x / (1.0f + expf(-x));
  default: return x;
  }
}

void rk_lse_merge(float *maximum, float *sum, float lse) {
  float m = *maximum;
  if (lse != lse || m != m) {
    *maximum = NAN;
  } else if (lse == -INFINITY) {
    return;
  } else if (lse > m) {
    *sum = *sum * expf(m - lse) + 1.0f;
    *maximum = lse;
  } else if (lse == m) {
    *sum += 1.0f;
  } else {
    *sum += expf(lse - m);
  }
}

static inline float rk_row_element(const char *row, long k, const int half) {
  return half ? rk_half_to_float(((const uint16_t *)row)[k]) : ((const float *)row)[k];
}

// MARK: the levels

#define RK_FN(name) name##_portable
#define RK_W 4
#define VF rk_f4
#define VI rk_i4
#define VU rk_u4
#define VH16 rk_h4
#define RK_F16C 0
#define RK_PREFETCH 0
#define RK_ROUND 0
#include "kernels_template.h"
#include "gemm_template.h"
#undef RK_FN
#undef RK_W
#undef VF
#undef VI
#undef VU
#undef VH16
#undef RK_F16C
#undef RK_PREFETCH
#undef RK_ROUND

#if RK_X86
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define RK_FN(name) name##_avx2
#define RK_W 8
#define VF rk_f8
#define VI rk_i8
#define VU rk_u8
#define VH16 rk_h8
#define VHALF rk_half8
#define RK_F16C 1
#define RK_PREFETCH 0
#define RK_ROUND 1
#include "kernels_template.h"
#include "gemm_template.h"
#undef RK_FN
#undef RK_W
#undef VF
#undef VI
#undef VU
#undef VH16
#undef VHALF
#undef RK_F16C
#undef RK_PREFETCH
#undef RK_ROUND
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"))), \
                             apply_to = function)
#define RK_FN(name) name##_avx512
#define RK_W 16
#define VF rk_f16
#define VI rk_i16
#define VU rk_u16
#define VH16 rk_h16
#define VHALF rk_half16
#define RK_F16C 1
#define RK_PREFETCH 1
#define RK_ROUND 1
#include "kernels_template.h"
#include "gemm_template.h"
#undef RK_FN
#undef RK_W
#undef VF
#undef VI
#undef VU
#undef VH16
#undef VHALF
#undef RK_F16C
#undef RK_PREFETCH
#undef RK_ROUND
#pragma clang attribute pop
#endif

// MARK: dispatch

static const rk_kernel_table *const rk_tables[RK_LEVEL_COUNT] = {
    &table_portable,
#if RK_X86
    &table_avx2,
    &table_avx512,
#else
    NULL,
    NULL,
#endif
};

static int rk_detect_level(void) {
#if RK_X86
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  return avx512 ? RK_LEVEL_AVX512 : avx2 ? RK_LEVEL_AVX2 : RK_LEVEL_PORTABLE;
#else
  return RK_LEVEL_PORTABLE;
#endif
}

// -1 until the first call detects it; every thread that races there computes the same value.
static atomic_int rk_detected = -1;
// Set only by tests, for their own thread.
static _Thread_local int rk_forced = -1;

int rk_cpu_level(void) {
  int level = atomic_load_explicit(&rk_detected, memory_order_relaxed);
  if (level < 0) {
    level = rk_detect_level();
    atomic_store_explicit(&rk_detected, level, memory_order_relaxed);
  }
  return level;
}

int rk_level(void) { return rk_forced >= 0 ? rk_forced : rk_cpu_level(); }

int rk_force_level(int level) {
  if (level < -1 || level > rk_cpu_level()) return 0;
  rk_forced = level;
  return 1;
}

const char *rk_level_name(int level) {
  switch (level) {
  case RK_LEVEL_PORTABLE: return "portable";
  case RK_LEVEL_AVX2: return "avx2";
  case RK_LEVEL_AVX512: return "avx512";
  default: return "unknown";
  }
}

static inline const rk_kernel_table *rk_kernels(void) { return rk_tables[rk_level()]; }

static const rk_gemm_table *const rk_gemm_tables[RK_LEVEL_COUNT] = {
    &gemm_table_portable,
#if RK_X86
    &gemm_table_avx2,
    &gemm_table_avx512,
#else
    NULL,
    NULL,
#endif
};

// A level the CPU cannot run (only a caller's mistake) falls back to the CPU's own.
static inline const rk_gemm_table *rk_gemm_kernels(int level) {
  return rk_gemm_tables[level >= 0 && level <= rk_cpu_level() ? level : rk_cpu_level()];
}

// MARK: public kernels

void rk_activation(int kind, float *x, long n) {
  if (kind != RK_IDENTITY) rk_kernels()->activation(kind, x, n);
}

float rk_logsumexp(const float *x, const float *c, long n) { return rk_kernels()->logsumexp(x, c, n); }

void rk_softmax(float *x, long n) { rk_kernels()->softmax(x, n); }

void rk_gemv_f16(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y) {
  rk_kernels()->gemv_f16(A, rows, cols, lda, x, bias, y);
}

void rk_gemv_f32(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y) {
  rk_kernels()->gemv_f32(A, rows, cols, lda, x, beta, y);
}

void rk_half_to_float_n(const uint16_t *src, float *dst, long n) { rk_kernels()->half_to_float_n(src, dst, n); }

long rk_argmax(const float *x, long n) {
  long best = 0;
  float m = -INFINITY;
  int found = 0;
  for (long i = 0; i < n; i++) {
    if (x[i] > m || (!found && x[i] == m)) {
      m = x[i];
      best = i;
      found = 1;
    }
  }
  return best;
}

int rk_all_finite(const float *x, long n) {
  float s = 0.0f;
  for (long i = 0; i < n; i++) s += x[i] * 0.0f;  // NaN or inf times 0 is NaN
  return s == 0.0f;
}

// MARK: packed matrix product

// Cache sizes in bytes (1: L1 data, 2: L2, 3: L3) from the C library, or from sysfs where it does
// not know them; 0 when neither does.
static long rk_cache_detect(int which) {
  long size = 0;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  size = sysconf(which == 1 ? _SC_LEVEL1_DCACHE_SIZE : which == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
#endif
  if (size > 0) return size;
  // index0 is L1 data on Linux; index2 and index3 are L2 and L3 when there is an L1 instruction
  // cache at index1.
  static const char *const paths[] = {"/sys/devices/system/cpu/cpu0/cache/index0/size",
                                      "/sys/devices/system/cpu/cpu0/cache/index2/size",
                                      "/sys/devices/system/cpu/cpu0/cache/index3/size"};
  FILE *file = fopen(paths[which - 1], "r");
  if (!file) return 0;
  char unit = 0;
  long value = 0;
  int read = fscanf(file, "%ld%c", &value, &unit);
  fclose(file);
  if (read < 1 || value <= 0 || value > (1L << 40)) return 0;
  return unit == 'K' ? value << 10 : unit == 'M' ? value << 20 : value;
}

static atomic_long rk_caches[3] = {-1, -1, -1};

long rk_cache_size(int which) {
  if (which < 1 || which > 3) return 0;
  long size = atomic_load_explicit(&rk_caches[which - 1], memory_order_relaxed);
  if (size < 0) {
    size = rk_cache_detect(which);
    // Unknown: the smallest sizes of current x86 and ARM cores, so blocks fit wherever they run.
    if (size <= 0) size = which == 1 ? 32L << 10 : which == 2 ? 256L << 10 : 2L << 20;
    atomic_store_explicit(&rk_caches[which - 1], size, memory_order_relaxed);
  }
  return size;
}

long rk_gemm_mr(int level) { return rk_gemm_kernels(level)->mr(); }

long rk_gemm_nr(int level) { return rk_gemm_kernels(level)->nr(); }

rk_gemm_blocks rk_gemm_blocking(int level, long M, long K) {
  const long mr = rk_gemm_mr(level), nr = rk_gemm_nr(level);
  const long l2 = rk_cache_size(2);
  // KC: all of K while a B micro-panel (KC×NR) takes at most a quarter of L2, else K in equal blocks
  // of 8 k. Each K block costs a pass over C, and streaming the micro-panel from L2 costs less
  // (measured on a 48 KiB L1, 1 MiB L2: K = 1,024 in one block ran 12% faster than in four blocks
  // of L1-sized micro-panels).
  long kmax = l2 / 4 / (nr * (long)sizeof(float));
  if (kmax < 16) kmax = 16;
  long kblocks = K > 0 ? (K + kmax - 1) / kmax : 1;
  long kc = K > 0 ? (K + kblocks - 1) / kblocks : 1;
  kc = (kc + 7) & ~7L;
  // MC: an A block (MC×KC) in a third of L2; rows split into equal blocks of whole panels.
  long mc = l2 / 3 / (kc * (long)sizeof(float)) / mr * mr;
  if (mc < mr) mc = mr;
  if (M > 0) {
    long mblocks = (M + mc - 1) / mc;
    long rows = (M + mblocks - 1) / mblocks;
    mc = (rows + mr - 1) / mr * mr;
  }
  // NC: wide enough for a B block (KC×NC) to fill half of L2, or for the C block (MC×NC) to fill a
  // quarter, whichever is wider. Every NC columns re-read all of A, which no longer fits in L2 when
  // there are many rows (measured: 2,048 rows with K = 1,024 ran 15% faster with NC = 768 than with
  // the 128 columns that half of L2 holds).
  long nc_b = l2 / 2 / (kc * (long)sizeof(float));
  long nc_c = l2 / 4 / (mc * (long)sizeof(float));
  long nc = (nc_b > nc_c ? nc_b : nc_c) / nr * nr;
  if (nc < nr) nc = nr;
  return (rk_gemm_blocks){kc, mc, nc};
}

void rk_pack_a(int level, const float *a, long M, long K, long lda, float *out) {
  rk_gemm_kernels(level)->pack_a(a, M, K, lda, out);
}

void rk_pack_b(int level, const float *b, long N, long K, long ldb, float *out) {
  rk_gemm_kernels(level)->pack_b(b, N, K, ldb, out);
}

void rk_gemm_packed(int level, long M, long K, const float *ap, const float *bp, long j0, long j1, float *c,
                    long ldc, const rk_gemm_blocks *blocks) {
  if (K <= 0) {
    for (long i = 0; i < M; i++)
      for (long j = j0; j < j1; j++) c[i * ldc + (j - j0)] = 0.0f;
    return;
  }
  rk_gemm_kernels(level)->gemm(M, K, ap, bp, j0, j1, c, ldc, blocks);
}

int rk_score_packed(int level, long M, long K, const float *ap, const float *bp, const float *bias, long j0, long j1,
                    const long *targets, float *maxima, float *sums, float *picked, const rk_gemm_blocks *blocks) {
  if (K <= 0) return 0;
  return rk_gemm_kernels(level)->score(M, K, ap, bp, bias, j0, j1, targets, maxima, sums, picked, blocks);
}
