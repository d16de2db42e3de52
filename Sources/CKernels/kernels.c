// The kernels of CKernels.h: scalar helpers, kernels_template.h compiled once per instruction-set
// level, and the dispatch (one CPU level, detected once, and a per-thread override for tests).
#include "CKernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

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

/// One level's training kernels (training_template.h).
typedef struct {
  void (*logits)(const float *V, const float *c, long H, long O, long first, long count, const float *states,
                 long tiles, long n, const long *targets, float *logits, float *blockMax, float *blockSum,
                 float *targetLogit);
  float (*softmax_combine)(long blocks, long tiles, long n, const float *blockMax, const float *blockSum,
                           const float *targetLogit, float *scale);
  double (*output_backward)(const float *V, long H, long O, long first, long count, float *logits,
                            const float *scale, long tiles, long n, const long *targets, const float *hs,
                            float *dV, float *dc, float *partial);
  void (*sum_partials)(long blocks, long tiles, long H, long n, const float *partials, float *dHs);
  void (*step)(float *x, const float *g, long count, float step);
  void (*recurrent_forward)(const float *W, long stride, long H, const float *h, long x, const float *b, float *a);
  void (*recurrent_backward)(const float *W, long stride, long H, const float *da, const float *hPrev, float *dWh,
                             float *dhNext);
  void (*tanh)(const float *a, float *h, long n);
} rk_training_table;

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
#include "training_template.h"
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
#include "training_template.h"
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
#include "training_template.h"
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

// MARK: training kernels

static const rk_training_table *const rk_training_tables[RK_LEVEL_COUNT] = {
    &training_table_portable,
#if RK_X86
    &training_table_avx2,
    &training_table_avx512,
#else
    NULL,
    NULL,
#endif
};

// The level the caller asked for, or the CPU's when it cannot run that one.
static inline const rk_training_table *rk_training(int level) {
  return rk_training_tables[level >= 0 && level <= rk_cpu_level() ? level : rk_cpu_level()];
}

void rk_train_logits(int level, const float *V, const float *c, long H, long O, long first, long count,
                     const float *states, long tiles, long n, const long *targets, float *logits, float *blockMax,
                     float *blockSum, float *targetLogit) {
  rk_training(level)->logits(V, c, H, O, first, count, states, tiles, n, targets, logits, blockMax, blockSum,
                             targetLogit);
}

float rk_train_softmax_combine(int level, long blocks, long tiles, long n, const float *blockMax,
                               const float *blockSum, const float *targetLogit, float *scale) {
  return rk_training(level)->softmax_combine(blocks, tiles, n, blockMax, blockSum, targetLogit, scale);
}

double rk_train_output_backward(int level, const float *V, long H, long O, long first, long count, float *logits,
                                const float *scale, long tiles, long n, const long *targets, const float *hs,
                                float *dV, float *dc, float *partial) {
  return rk_training(level)->output_backward(V, H, O, first, count, logits, scale, tiles, n, targets, hs, dV, dc,
                                             partial);
}

void rk_train_sum_partials(int level, long blocks, long tiles, long H, long n, const float *partials, float *dHs) {
  rk_training(level)->sum_partials(blocks, tiles, H, n, partials, dHs);
}

void rk_train_step(int level, float *x, const float *g, long count, float step) {
  rk_training(level)->step(x, g, count, step);
}

void rk_train_recurrent_forward(int level, const float *W, long stride, long H, const float *h, long x,
                                const float *b, float *a) {
  rk_training(level)->recurrent_forward(W, stride, H, h, x, b, a);
}

void rk_train_recurrent_backward(int level, const float *W, long stride, long H, const float *da, const float *hPrev,
                                 float *dWh, float *dhNext) {
  rk_training(level)->recurrent_backward(W, stride, H, da, hPrev, dWh, dhNext);
}

void rk_train_tanh(int level, const float *a, float *h, long n) { rk_training(level)->tanh(a, h, n); }
