// The kernels of CKernels.h: scalar helpers, kernels_template.h compiled once per instruction-set
// level, and the dispatch (one CPU level, detected once, and a per-thread override for tests).
#include "CKernels.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
typedef int8_t rk_b8 __attribute__((ext_vector_type(8)));
typedef int8_t rk_b16 __attribute__((ext_vector_type(16)));
typedef int8_t rk_b32 __attribute__((ext_vector_type(32)));
typedef int16_t rk_s8 __attribute__((ext_vector_type(8)));
typedef int16_t rk_s16 __attribute__((ext_vector_type(16)));
typedef int16_t rk_s32 __attribute__((ext_vector_type(32)));
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
  void (*gemv_f16)(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y,
                   long distance);
  void (*gemv_f32)(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y,
                   long distance);
  void (*half_to_float_n)(const uint16_t *src, float *dst, long n);
  long (*argmax)(const float *x, long n);
  void (*gemv_i8)(const int8_t *A, long rows, long cols, long lda, const float *scales, const int32_t *rowsums,
                  const int8_t *xq, float xscale, const float *bias, float *y);
  void (*gemm_i8)(const int8_t *A, long rows, long cols, const float *scales, const int32_t *rowsums,
                  const int8_t *X, long n, const float *xscales, const float *bias, float *C, long ldc);
  void (*gemv_bf16)(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y);
  void (*bf16_to_float_n)(const uint16_t *src, float *dst, long n);
  void (*gemv_f32_reversed)(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y);
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

// Columns per int32 accumulation in the int8 dot products: a lane gathers at most a few thousand
// products of at most 255·128 (VNNI's unsigned × signed) there, far below 2^31.
#define RK_I8_CHUNK 32768
// Vectors per pass over a block of A in the int8 matrix-matrix product (RK_I8_VECTORS × cols bytes
// stay in the L2 cache while a block of A streams past them).
#define RK_I8_VECTORS 128
/// One level's packed matrix product (gemm_template.h).
typedef struct {
  long (*mr)(void);
  long (*nr)(void);
  void (*pack_a)(const float *a, long M, long K, long lda, float *out);
  void (*pack_b)(const float *b, long N, long K, long ldb, float *out);
  void (*gemm)(long M, long K, const float *ap, const float *bp, long j0, long j1, float *c, long ldc,
               const rk_gemm_blocks *blocks, int accumulate);
  int (*score)(long M, long K, const float *ap, const float *bp, const float *bias, long j0, long j1,
               const long *targets, float *maxima, float *sums, float *picked, const rk_gemm_blocks *blocks,
               float *scratch);
  void (*merge_pairs)(long n, long parts, long stride, const float *maxima, const float *sums, float *top,
                      float *total);
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

static inline float rk_bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

// Float to bfloat16, rounding to nearest even; NaN stays NaN (as RNNFormat's FloatCodec).
static inline uint16_t rk_float_to_bf16(float value) {
  uint32_t bits;
  memcpy(&bits, &value, 4);
  if (value != value) return (uint16_t)((bits >> 16) | 0x0040u);
  return (uint16_t)((bits + (((bits >> 16) & 1u) + 0x7FFFu)) >> 16);
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
  if (half == 2) return rk_bf16_to_float(((const uint16_t *)row)[k]);
  return half ? rk_half_to_float(((const uint16_t *)row)[k]) : ((const float *)row)[k];
}

// The rounding steps of the int8 products, shared by every level: float(D)·(scale·xscale) + bias.
// Two statements, so that the product is rounded before the sum everywhere: in one expression the
// compiler fuses them into an FMA on the levels that have one, and the levels' bits would differ.
static inline float rk_i8_finish(int64_t d, float scale, float xscale, float bias) {
  const float product = (float)d * (scale * xscale);
  return product + bias;
}

// MARK: the levels

#define RK_FN(name) name##_portable
#define VB rk_b8
#define VS rk_s8
#define RK_W 4
#define VF rk_f4
#define VI rk_i4
#define VU rk_u4
#define VH16 rk_h4
#define RK_F16C 0
#define RK_ROUND 0
#include "kernels_level.h"

#if RK_X86
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define RK_FN(name) name##_avx2
#define VB rk_b16
#define VS rk_s16
#define RK_W 8
#define VF rk_f8
#define VI rk_i8
#define VU rk_u8
#define VH16 rk_h8
#define VHALF rk_half8
#define RK_F16C 1
#define RK_ROUND 1
#include "kernels_level.h"
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"))), \
                             apply_to = function)
#define RK_FN(name) name##_avx512
#define VB rk_b32
#define VS rk_s32
#define RK_W 16
#define VF rk_f16
#define VI rk_i16
#define VU rk_u16
#define VH16 rk_h16
#define VHALF rk_half16
#define RK_F16C 1
#define RK_ROUND 1
#include "kernels_level.h"
#pragma clang attribute pop

// MARK: AVX-512 VNNI (int8)
//
// vpdpbusd multiplies unsigned by signed bytes, four per 32-bit lane. The vector is the unsigned
// side: xu = xq + 128 (xq ^ 0x80 on the bytes), so Σ xu·a = D + 128·Σ a, and D follows exactly from
// the row sums computed once per matrix. Clang's vector extensions have no form of this
// instruction, so these two kernels use intrinsics; their results equal the template's bit for bit.
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vnni"))), apply_to = function)

// With `ahead` (and its row stride `lda`), the same columns of the four rows there are prefetched
// as the loop goes, one cache line per row per step.
static inline __attribute__((always_inline)) void rk_dot4_i8_vnni(const int8_t *a0, const int8_t *a1,
                                                                  const int8_t *a2, const int8_t *a3,
                                                                  const int8_t *xq, long cols, int64_t out[4],
                                                                  const int8_t *ahead, long lda) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  int64_t total[4] = {0, 0, 0, 0};
  for (long chunk = 0; chunk < cols; chunk += RK_I8_CHUNK) {
    const long end = chunk + RK_I8_CHUNK < cols ? chunk + RK_I8_CHUNK : cols;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    long k = chunk;
    for (; k + 64 <= end; k += 64) {
      if (ahead) {
        __builtin_prefetch(ahead + k, 0, 3);
        __builtin_prefetch(ahead + lda + k, 0, 3);
        __builtin_prefetch(ahead + 2 * lda + k, 0, 3);
        __builtin_prefetch(ahead + 3 * lda + k, 0, 3);
      }
      __m512i xu = _mm512_xor_si512(_mm512_loadu_si512(xq + k), flip);
      s0 = _mm512_dpbusd_epi32(s0, xu, _mm512_loadu_si512(a0 + k));
      s1 = _mm512_dpbusd_epi32(s1, xu, _mm512_loadu_si512(a1 + k));
      s2 = _mm512_dpbusd_epi32(s2, xu, _mm512_loadu_si512(a2 + k));
      s3 = _mm512_dpbusd_epi32(s3, xu, _mm512_loadu_si512(a3 + k));
    }
    if (k < end) {
      // The tail, masked: a lane past the end has a = 0, so it adds nothing.
      __mmask64 m = (1ULL << (end - k)) - 1;  // end - k < 64
      __m512i xu = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, xq + k), flip);
      s0 = _mm512_dpbusd_epi32(s0, xu, _mm512_maskz_loadu_epi8(m, a0 + k));
      s1 = _mm512_dpbusd_epi32(s1, xu, _mm512_maskz_loadu_epi8(m, a1 + k));
      s2 = _mm512_dpbusd_epi32(s2, xu, _mm512_maskz_loadu_epi8(m, a2 + k));
      s3 = _mm512_dpbusd_epi32(s3, xu, _mm512_maskz_loadu_epi8(m, a3 + k));
    }
    total[0] += _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(s0)),
                                                         _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s0, 1))));
    total[1] += _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(s1)),
                                                         _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s1, 1))));
    total[2] += _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(s2)),
                                                         _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s2, 1))));
    total[3] += _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(s3)),
                                                         _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s3, 1))));
  }
  for (int j = 0; j < 4; j++) out[j] = total[j];
}

#define RK_I8_NAME(name) name##_vnni
#define RK_I8_DOT4(a0, a1, a2, a3, x, cols, d, ahead, lda) rk_dot4_i8_vnni(a0, a1, a2, a3, x, cols, d, ahead, lda)
#define RK_I8_CORRECTION(rowsums, r) (128 * (int64_t)(rowsums)[r])
#include "i8_template.h"
#undef RK_I8_NAME
#undef RK_I8_DOT4
#undef RK_I8_CORRECTION
#pragma clang attribute pop

// MARK: packed int8 product (scoring; i8_packed.h)

// Tiles: 2·MR vectors of sums, 2 of V and a broadcast fill AVX-512's 32 registers, AVX2's 16.
#define RK_I8P_ZMM_MR 14
#define RK_I8P_ZMM_NR 32
#define RK_I8P_YMM_MR 6
#define RK_I8P_YMM_NR 16

// Bytes of one packed row of V of length K: whole groups of kg k, one byte each.
static inline long rk_i8p_v_row_bytes_of(long kg, long K) { return (K + kg - 1) / kg * kg; }

// Block sizes: a block of V (NC rows of `vbytes`) in a quarter of L2, and the block of logits
// (MC×NC floats) in another quarter, so both are written and read back from L2.
static void rk_i8p_blocking(long M, long vbytes, long mr, long nr, long *mc, long *nc) {
  const long l2 = rk_cache_size(2);
  long n = l2 / 4 / (vbytes > 0 ? vbytes : 1) / nr * nr;
  if (n < nr) n = nr;
  long m = l2 / 4 / (n * (long)sizeof(float)) / mr * mr;
  if (m < mr) m = mr;
  const long rows = (M + mr - 1) / mr * mr;
  if (m > rows) m = rows;
  *mc = m;
  *nc = n;
}

#if RK_X86
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,avx512vnni"))), \
                             apply_to = function)
#define RK_I8P(name) rk_i8p_##name##_zmm
#define RK_I8P_KG 4
#define RK_I8P_OFFSET 128
#define RK_I8P_LOAD(p) _mm512_load_si512(p)
#define RK_I8P_DOT(sums, u, s) _mm512_dpbusd_epi32(sums, u, s)
#include "i8_packed_zmm.h"
#include "i8_packed.h"
#pragma clang attribute pop

// AVX-VNNI: the VEX form of vpdpbusd on ymm (Intel since Alder Lake, AMD since Zen 5), 16 registers.
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avxvnni"))), apply_to = function)
#define RK_I8P(name) rk_i8p_##name##_ymm
#define RK_I8P_KG 4
#define RK_I8P_OFFSET 128
#define RK_I8P_LOAD(p) _mm256_load_si256((const __m256i *)(const void *)(p))
#define RK_I8P_DOT(sums, u, s) _mm256_dpbusd_avx_epi32(sums, u, s)
#include "i8_packed_ymm.h"
#include "i8_packed.h"
#pragma clang attribute pop

// Widening, for CPUs without VNNI: vpmovsxbw, vpmaddwd and vpaddd on zmm (AVX-512BW), 32 registers.
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c"))), \
                             apply_to = function)
#define RK_I8P(name) rk_i8p_##name##_zmm_widen
#define RK_I8P_KG 2
#define RK_I8P_OFFSET 0
#define RK_I8P_LOAD(p) _mm512_cvtepi8_epi16(_mm256_load_si256((const __m256i *)(const void *)(p)))
#define RK_I8P_DOT(sums, v, x) _mm512_add_epi32(sums, _mm512_madd_epi16(v, x))
#include "i8_packed_zmm.h"
#include "i8_packed.h"
#pragma clang attribute pop

// Widening at the AVX2 level: the same on ymm, 16 registers.
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define RK_I8P(name) rk_i8p_##name##_ymm_widen
#define RK_I8P_KG 2
#define RK_I8P_OFFSET 0
#define RK_I8P_LOAD(p) _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(const void *)(p)))
#define RK_I8P_DOT(sums, v, x) _mm256_add_epi32(sums, _mm256_madd_epi16(v, x))
#include "i8_packed_ymm.h"
#include "i8_packed.h"
#pragma clang attribute pop
#endif

// MARK: AVX-512 BF16
//
// vdpbf16ps multiplies pairs of bfloat16 and adds both products to an f32 lane. Its operands are
// both bfloat16, so x is rounded to bfloat16 once per call (nearest even): that is the one difference
// from the widening kernel of the template, a relative error of at most 2^-9 per element of x.
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))), apply_to = function)

static void gemv_bf16_dp(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias,
                         float *y) {
  uint16_t stack[4096];
  uint16_t *xb = cols <= 4096 ? stack : malloc((size_t)cols * sizeof(uint16_t));
  if (!xb) {
    // No memory for the rounded x: the widening kernel needs none.
    gemv_bf16_avx512(A, rows, cols, lda, x, bias, y);
    return;
  }
  for (long k = 0; k < cols; k++) xb[k] = rk_float_to_bf16(x[k]);
  const long full = cols & ~31L;
  const __mmask32 tail = (__mmask32)((1ULL << (cols - full)) - 1);
  long r = 0;
  for (; r + 4 <= rows; r += 4) {
    const uint16_t *a0 = A + r * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    const int prefetch = r + 12 <= rows;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (long k = 0; k < full; k += 32) {
      if (prefetch) {
        const uint16_t *ahead = a0 + 8 * lda + k;
        __builtin_prefetch(ahead, 0, 3);
        __builtin_prefetch(ahead + lda, 0, 3);
        __builtin_prefetch(ahead + 2 * lda, 0, 3);
        __builtin_prefetch(ahead + 3 * lda, 0, 3);
      }
      __m512bh xv = (__m512bh)_mm512_loadu_si512(xb + k);
      s0 = _mm512_dpbf16_ps(s0, (__m512bh)_mm512_loadu_si512(a0 + k), xv);
      s1 = _mm512_dpbf16_ps(s1, (__m512bh)_mm512_loadu_si512(a1 + k), xv);
      s2 = _mm512_dpbf16_ps(s2, (__m512bh)_mm512_loadu_si512(a2 + k), xv);
      s3 = _mm512_dpbf16_ps(s3, (__m512bh)_mm512_loadu_si512(a3 + k), xv);
    }
    if (tail) {
      __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(tail, xb + full);
      s0 = _mm512_dpbf16_ps(s0, (__m512bh)_mm512_maskz_loadu_epi16(tail, a0 + full), xv);
      s1 = _mm512_dpbf16_ps(s1, (__m512bh)_mm512_maskz_loadu_epi16(tail, a1 + full), xv);
      s2 = _mm512_dpbf16_ps(s2, (__m512bh)_mm512_maskz_loadu_epi16(tail, a2 + full), xv);
      s3 = _mm512_dpbf16_ps(s3, (__m512bh)_mm512_maskz_loadu_epi16(tail, a3 + full), xv);
    }
    y[r] = _mm512_reduce_add_ps(s0) + (bias ? bias[r] : 0.0f);
    y[r + 1] = _mm512_reduce_add_ps(s1) + (bias ? bias[r + 1] : 0.0f);
    y[r + 2] = _mm512_reduce_add_ps(s2) + (bias ? bias[r + 2] : 0.0f);
    y[r + 3] = _mm512_reduce_add_ps(s3) + (bias ? bias[r + 3] : 0.0f);
  }
  for (; r < rows; r++) {
    const uint16_t *a = A + r * lda;
    __m512 s = _mm512_setzero_ps();
    for (long k = 0; k < full; k += 32)
      s = _mm512_dpbf16_ps(s, (__m512bh)_mm512_loadu_si512(a + k), (__m512bh)_mm512_loadu_si512(xb + k));
    if (tail)
      s = _mm512_dpbf16_ps(s, (__m512bh)_mm512_maskz_loadu_epi16(tail, a + full),
                           (__m512bh)_mm512_maskz_loadu_epi16(tail, xb + full));
    y[r] = _mm512_reduce_add_ps(s) + (bias ? bias[r] : 0.0f);
  }
  if (xb != stack) free(xb);
}
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

// The CPU's kernel level in the low 4 bits and its extra features (RK_FEATURE_*) above them.
static int rk_detect(void) {
#if RK_X86
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  int level = avx512 ? RK_LEVEL_AVX512 : avx2 ? RK_LEVEL_AVX2 : RK_LEVEL_PORTABLE;
  int features = 0;
  if (avx512 && __builtin_cpu_supports("avx512vnni")) features |= RK_FEATURE_VNNI;
  if (avx512 && __builtin_cpu_supports("avx512bf16")) features |= RK_FEATURE_BF16;
  if (avx2 && __builtin_cpu_supports("avxvnni")) features |= RK_FEATURE_AVX_VNNI;
  return level | features << 4;
#else
  return RK_LEVEL_PORTABLE;
#endif
}

// -1 until the first call detects it; every thread that races there computes the same value.
static atomic_int rk_detected = -1;
// Set only by tests, for their own thread.
static _Thread_local int rk_forced = -1;
static _Thread_local int rk_forced_features = -1;

static int rk_cpu(void) {
  int cpu = atomic_load_explicit(&rk_detected, memory_order_relaxed);
  if (cpu < 0) {
    cpu = rk_detect();
    atomic_store_explicit(&rk_detected, cpu, memory_order_relaxed);
  }
  return cpu;
}

int rk_cpu_level(void) { return rk_cpu() & 0xF; }

int rk_cpu_features(void) { return rk_cpu() >> 4; }

// Set only by benchmarks (rk_force_process_level), for every thread; -1: the CPU's.
static atomic_int rk_process_level = -1;
static atomic_int rk_process_features = -1;

int rk_level(void) {
  if (rk_forced >= 0) return rk_forced;
  const int process = atomic_load_explicit(&rk_process_level, memory_order_relaxed);
  return process >= 0 ? process : rk_cpu_level();
}

int rk_force_level(int level) {
  if (level < -1 || level > rk_cpu_level()) return 0;
  rk_forced = level;
  return 1;
}

int rk_thread_forced_level(void) { return rk_forced; }

int rk_thread_forced_features(void) { return rk_forced_features; }

const char *rk_level_name(int level) {
  switch (level) {
  case RK_LEVEL_PORTABLE: return "portable";
  case RK_LEVEL_AVX2: return "avx2";
  case RK_LEVEL_AVX512: return "avx512";
  default: return "unknown";
  }
}

static inline const rk_kernel_table *rk_kernels(void) { return rk_tables[rk_level()]; }

int rk_features(void) {
  if (rk_forced_features >= 0) return rk_forced_features;
  const int process = atomic_load_explicit(&rk_process_features, memory_order_relaxed);
  return process >= 0 ? process : rk_cpu_features();
}

int rk_force_features(int features) {
  if (features < -1 || (features > 0 && (features & ~rk_cpu_features()) != 0)) return 0;
  rk_forced_features = features;
  return 1;
}

int rk_force_process_level(int level, int features) {
  if (level < -1 || level > rk_cpu_level()) return 0;
  if (features < -1 || (features > 0 && (features & ~rk_cpu_features()) != 0)) return 0;
  atomic_store(&rk_process_level, level);
  atomic_store(&rk_process_features, features);
  return 1;
}

// The int8 kernels use VNNI at the AVX-512 level when the CPU has it (and a test has not turned it off).
static inline int rk_use_vnni(void) {
  return RK_X86 && rk_level() == RK_LEVEL_AVX512 && (rk_features() & RK_FEATURE_VNNI) != 0;
}

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

// MARK: prefetch calibration of the matrix-vector products
//
// Whether software prefetching helps a sequential read, and how far ahead, differs between CPUs
// (on AMD Zen 4 the hardware prefetchers alone reach the read bandwidth; an Intel core may keep
// too few lines in flight). So nothing is assumed: the first calls that stream a large matrix from
// memory try each distance, timed by the thread's CPU clock, and the distance with the fastest
// median is kept for the process. The distance never changes the arithmetic, so results do not
// depend on it.
//
// Each distance is tried in runs of consecutive calls, and the first call of a run is not timed:
// a call's speed depends on the calls before it. On AMD Zen 5, reading a 10 MB V from L3 for each
// generated token, calls without prefetching took 1.1-1.2 times as long as calls prefetching 1 or
// 4 KB ahead when every call went without, yet measured fastest when each followed calls that
// prefetched (as when the distances took turns call by call, which then chose no prefetching).

/// Distances tried, in bytes ahead of the current read (0: hardware prefetchers only).
static const long rk_distances[] = {0, 256, 1024, 4096};
enum {
  RK_DISTANCE_COUNT = sizeof rk_distances / sizeof rk_distances[0],
  /// Consecutive calls at one distance; the first of them is not timed.
  RK_RUN = 4,
  /// Runs per distance: the distances take turns, run by run, this many times (an early and a late
  /// run each).
  RK_PASSES = 2,
  /// Timed calls per distance; their median counts, so neither one preempted call nor one lucky
  /// call decides.
  RK_TRIALS = RK_PREFETCH_TRIALS,
  /// Calls from the first trial to the choice.
  RK_TRIAL_CALLS = RK_DISTANCE_COUNT * RK_RUN * RK_PASSES,
  /// Only calls reading at least this many bytes are timed: smaller ones mostly hit the caches.
  RK_TIMED_BYTES = 8 << 20,
  /// Timed-size calls from the first choice to the next round of trials; each round that follows
  /// waits four times as many, up to RK_RECHECK_MAX.
  RK_RECHECK_FIRST = 64,
  RK_RECHECK_MAX = 4096,
};
_Static_assert(RK_DISTANCE_COUNT == RK_PREFETCH_DISTANCES, "the header's count of distances");
_Static_assert(RK_TRIALS == (RK_RUN - 1) * RK_PASSES, "the header's count of timed calls");

typedef struct {
  /// Calls of the trials started so far (call i as `rk_trial_slot` places it).
  atomic_long trials;
  /// Calls of the trials finished.
  atomic_long finished;
  /// Per distance and timed call, the time in femtoseconds per byte, plus 1 (0: the clock failed).
  atomic_long times[RK_DISTANCE_COUNT][RK_TRIALS];
  /// The index of the chosen distance plus 1 (0 while trials run).
  atomic_int chosen;
  /// The index plus 1 of the distance the first run of each distance chose (0 before that), for
  /// the smaller products meanwhile: with two threads, a SMALL V's shares are below
  /// RK_TIMED_BYTES, and its one-thread calls, which the trials time, come only a few at a time.
  atomic_int provisional;
  /// Timed-size calls since the last choice, and how many start the next round of trials (0:
  /// RK_RECHECK_FIRST).
  atomic_long since;
  atomic_long recheck;
  /// Rounds of trials finished.
  atomic_long rounds;
} rk_tuner;

/// One tuner per level and element type (f32, f16): each reads at its own rate. All zero at start,
/// which means "nothing measured, nothing chosen".
static rk_tuner rk_tuners[RK_LEVEL_COUNT][2];
/// Set only by tests, for their own thread: the distance every product uses (-1: calibrated).
static _Thread_local long rk_forced_distance = -1;

static long rk_thread_nanoseconds(void) {
  struct timespec t;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return -1;
  return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

/// Call i of the trials: its distance's index, and which of that distance's timed calls it is
/// (-1: the untimed first call of a run). Every other pass takes the distances in reverse order, so
/// a drift of the machine's speed while the trials run (LARGE's first calls were slower than its
/// later ones, by about as much as the distances differ) favours none of them.
static void rk_trial_slot(long i, int *distance, int *slot) {
  const long pass = i / (RK_DISTANCE_COUNT * RK_RUN), within = i % (RK_DISTANCE_COUNT * RK_RUN);
  const long position = within % RK_RUN;
  const long index = within / RK_RUN;
  *distance = (int)(pass % 2 == 0 ? index : RK_DISTANCE_COUNT - 1 - index);
  *slot = position == 0 ? -1 : (int)(pass * (RK_RUN - 1) + position - 1);
}

/// The distance for a product reading `bytes`; sets *trial to the index of a trial call, or -1.
///
/// The trials run again after RK_RECHECK_FIRST timed-size calls, then after four times as many
/// each time: the first ones run while a generation is still measuring whether V's product is
/// faster on one thread or split (SplitChoice), so they time a mix of both, and what is fastest
/// with one reader can be far from it with two (on AMD Zen 5, streaming a 200 MB V from memory on
/// two threads took 1.6 times as long with any prefetching as without, on one thread 1.05 times).
static long rk_distance_for(rk_tuner *tuner, long bytes, long *trial) {
  *trial = -1;
  int chosen = atomic_load_explicit(&tuner->chosen, memory_order_relaxed);
  if (chosen > 0) {
    if (bytes < RK_TIMED_BYTES) return rk_distances[chosen - 1];
    const long recheck = atomic_load_explicit(&tuner->recheck, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&tuner->since, 1, memory_order_relaxed) + 1 < recheck) return rk_distances[chosen - 1];
    long i = atomic_fetch_add_explicit(&tuner->trials, 1, memory_order_relaxed);
    if (i >= (long)RK_TRIAL_CALLS) return rk_distances[chosen - 1];  // the last trials are still running
    *trial = i;
    int distance, slot;
    rk_trial_slot(i, &distance, &slot);
    return rk_distances[distance];
  }
  if (bytes < RK_TIMED_BYTES) {
    int provisional = atomic_load_explicit(&tuner->provisional, memory_order_relaxed);
    return provisional > 0 ? rk_distances[provisional - 1] : 0;
  }
  long i = atomic_fetch_add_explicit(&tuner->trials, 1, memory_order_relaxed);
  if (i >= (long)RK_TRIAL_CALLS) return 0;  // the last trials are still running
  *trial = i;
  int distance, slot;
  rk_trial_slot(i, &distance, &slot);
  return rk_distances[distance];
}

static int rk_compare_longs(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

/// Each distance's median time (0: no time; calls whose clock failed are left out) into `medians`;
/// returns the fastest median (LONG_MAX when there is none).
static long rk_prefetch_medians(const long times[RK_PREFETCH_DISTANCES][RK_PREFETCH_TRIALS],
                                long medians[RK_DISTANCE_COUNT]) {
  long fastest = LONG_MAX;
  for (int d = 0; d < RK_DISTANCE_COUNT; d++) {
    long sorted[RK_TRIALS];
    int n = 0;
    for (int k = 0; k < RK_TRIALS; k++)
      if (times[d][k] > 0) sorted[n++] = times[d][k];
    qsort(sorted, (size_t)n, sizeof sorted[0], rk_compare_longs);
    medians[d] = n > 0 ? sorted[n / 2] : 0;
    if (medians[d] > 0 && medians[d] < fastest) fastest = medians[d];
  }
  return fastest;
}

int rk_choose_prefetch_distance(const long times[RK_PREFETCH_DISTANCES][RK_PREFETCH_TRIALS]) {
  long medians[RK_DISTANCE_COUNT];
  const long fastest = rk_prefetch_medians(times, medians);
  for (int d = 0; d < RK_DISTANCE_COUNT; d++)
    if (medians[d] > 0 && (double)medians[d] <= 1.02 * (double)fastest) return d;
  return 0;
}

int rk_rechoose_prefetch_distance(const long times[RK_PREFETCH_DISTANCES][RK_PREFETCH_TRIALS], int kept) {
  if (kept < 0 || kept >= RK_DISTANCE_COUNT) return rk_choose_prefetch_distance(times);
  long medians[RK_DISTANCE_COUNT];
  const long fastest = rk_prefetch_medians(times, medians);
  if (medians[kept] > 0 && (double)medians[kept] <= 1.02 * (double)fastest) return kept;
  return rk_choose_prefetch_distance(times);
}

/// Records a trial call; the call that completes the last of them picks the distance: the shortest
/// whose median time is within 2% of the fastest median (0 when prefetching does not help). A later
/// round keeps the distance already chosen while it is within 2% of the fastest: on a busy machine
/// every distance reads at the same slowed rate, and the shortest would win that tie (on AMD Zen 5
/// a 10 MB V read from L3 without prefetching took 1.1 times as long once the machine was quiet).
static void rk_distance_done(rk_tuner *tuner, long trial, long bytes, long started) {
  int distance, slot;
  rk_trial_slot(trial, &distance, &slot);
  if (slot >= 0) {
    long elapsed = rk_thread_nanoseconds() - started;
    // Femtoseconds per byte: a 10 MB read from L3 takes about 8,000, so 2% is well resolved.
    long per_byte = started >= 0 && elapsed > 0 ? (long)((double)elapsed * 1e6 / (double)bytes) + 1 : 0;
    atomic_store_explicit(&tuner->times[distance][slot], per_byte, memory_order_relaxed);
  }
  // The last call to finish sees every call's time: each stored its time before its increment.
  // After the first pass the times not yet taken are 0, which the choice leaves out.
  // The first round also makes a provisional choice after its first pass (rk_tuner.provisional);
  // later rounds only the choice at their end.
  const long finished = atomic_fetch_add(&tuner->finished, 1) + 1;
  const int kept = atomic_load(&tuner->chosen) - 1;
  const int provisional = kept < 0 && finished == (long)RK_DISTANCE_COUNT * RK_RUN;
  if (finished != (long)RK_TRIAL_CALLS && !provisional) return;
  long times[RK_DISTANCE_COUNT][RK_TRIALS];
  for (int d = 0; d < RK_DISTANCE_COUNT; d++)
    for (int k = 0; k < RK_TRIALS; k++) times[d][k] = atomic_load_explicit(&tuner->times[d][k], memory_order_relaxed);
  const int choice = rk_rechoose_prefetch_distance(times, kept) + 1;
  if (provisional) {
    atomic_store(&tuner->provisional, choice);
    return;
  }
  // Every trial call of this round has finished: clear the round for the next one, whose first
  // call comes only after `recheck` more calls (counted from 0 again before the slots reopen).
  const long recheck = atomic_load(&tuner->recheck);
  atomic_store(&tuner->recheck, recheck == 0 ? RK_RECHECK_FIRST
                                             : (recheck * 4 < RK_RECHECK_MAX ? recheck * 4 : RK_RECHECK_MAX));
  atomic_store(&tuner->since, 0);
  for (int d = 0; d < RK_DISTANCE_COUNT; d++)
    for (int k = 0; k < RK_TRIALS; k++) atomic_store_explicit(&tuner->times[d][k], 0, memory_order_relaxed);
  atomic_store(&tuner->finished, 0);
  atomic_store(&tuner->chosen, choice);
  atomic_fetch_add(&tuner->rounds, 1);
  atomic_store(&tuner->trials, 0);
}

static rk_tuner *rk_tuner_for(int half) { return &rk_tuners[rk_level()][half != 0]; }

// Runs `call` (which reads `distance`) with the forced prefetch distance, or the one the level's
// tuner picks for a product of `bytes`, reporting the time when that was one of the tuner's trials.
#define RK_WITH_PREFETCH_DISTANCE(half, bytes, call)                                  \
  do {                                                                                \
    long distance = rk_forced_distance;                                               \
    if (distance >= 0) {                                                              \
      call;                                                                           \
      break;                                                                          \
    }                                                                                 \
    rk_tuner *tuner = rk_tuner_for(half);                                             \
    long trial;                                                                       \
    distance = rk_distance_for(tuner, (bytes), &trial);                               \
    long started = trial >= 0 ? rk_thread_nanoseconds() : 0;                          \
    call;                                                                             \
    if (trial >= 0) rk_distance_done(tuner, trial, (bytes), started);                 \
  } while (0)

void rk_gemv_f16(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y) {
  RK_WITH_PREFETCH_DISTANCE(1, rows * cols * 2, rk_kernels()->gemv_f16(A, rows, cols, lda, x, bias, y, distance));
}

void rk_gemv_f32(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y) {
  RK_WITH_PREFETCH_DISTANCE(0, rows * cols * 4, rk_kernels()->gemv_f32(A, rows, cols, lda, x, beta, y, distance));
}

void rk_gemv_f32_reversed(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y) {
  rk_kernels()->gemv_f32_reversed(A, rows, cols, lda, x, beta, y);
}

long rk_gemv_prefetch_rounds(int half) { return atomic_load(&rk_tuner_for(half)->rounds); }

void rk_restart_prefetch_calibration(void) {
  for (int level = 0; level < RK_LEVEL_COUNT; level++)
    for (int half = 0; half < 2; half++) {
      rk_tuner *tuner = &rk_tuners[level][half];
      atomic_store(&tuner->chosen, 0);
      atomic_store(&tuner->provisional, 0);
      atomic_store(&tuner->recheck, 0);
      atomic_store(&tuner->since, 0);
      atomic_store(&tuner->rounds, 0);
      for (int d = 0; d < RK_DISTANCE_COUNT; d++)
        for (int k = 0; k < RK_TRIALS; k++) atomic_store(&tuner->times[d][k], 0);
      atomic_store(&tuner->finished, 0);
      atomic_store(&tuner->trials, 0);
    }
}

long rk_gemv_prefetch_distance(int half) {
  int chosen = atomic_load_explicit(&rk_tuner_for(half)->chosen, memory_order_relaxed);
  return chosen > 0 ? rk_distances[chosen - 1] : -1;
}

int rk_force_prefetch_distance(long distance) {
  if (distance < -1 || distance > 1L << 20) return 0;
  rk_forced_distance = distance;
  return 1;
}

void rk_half_to_float_n(const uint16_t *src, float *dst, long n) { rk_kernels()->half_to_float_n(src, dst, n); }

long rk_argmax(const float *x, long n) { return rk_kernels()->argmax(x, n); }

float rk_quantize_i8(const float *x, long n, int8_t *q) {
  float m = 0.0f;
  for (long i = 0; i < n; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
  const float scale = m / 127.0f;
  if (!(scale > 0.0f) || !isfinite(scale)) {
    memset(q, 0, (size_t)n);
    return 0.0f;
  }
  for (long i = 0; i < n; i++) {
    float v = __builtin_roundevenf(x[i] / scale);
    q[i] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
  }
  return scale;
}

void rk_row_sums_i8(const int8_t *A, long rows, long cols, int32_t *sums) {
  for (long r = 0; r < rows; r++) {
    int32_t s = 0;
    for (long k = 0; k < cols; k++) s += A[r * cols + k];
    sums[r] = s;
  }
}

void rk_gemv_i8(const int8_t *A, long rows, long cols, long lda, const float *scales, const int32_t *rowsums,
                const int8_t *xq, float xscale, const float *bias, float *y) {
#if RK_X86
  if (rk_use_vnni()) {
    gemv_i8_vnni(A, rows, cols, lda, scales, rowsums, xq, xscale, bias, y);
    return;
  }
#endif
  rk_kernels()->gemv_i8(A, rows, cols, lda, scales, rowsums, xq, xscale, bias, y);
}

int rk_i8p_variant(void) {
#if RK_X86
  if (rk_use_vnni()) return RK_I8P_AVX512;
  if (rk_level() >= RK_LEVEL_AVX2 && (rk_features() & RK_FEATURE_AVX_VNNI) != 0) return RK_I8P_AVX_VNNI;
  if (rk_level() == RK_LEVEL_AVX512) return RK_I8P_AVX512BW;
  if (rk_level() == RK_LEVEL_AVX2) return RK_I8P_AVX2;
#endif
  return RK_I8P_NONE;
}

static inline int rk_i8p_is_zmm(int variant) { return variant == RK_I8P_AVX512 || variant == RK_I8P_AVX512BW; }

// k per 32-bit lane and group: 4 bytes for vpdpbusd, 2 int16 for vpmaddwd.
static inline long rk_i8p_kg(int variant) { return variant == RK_I8P_AVX512 || variant == RK_I8P_AVX_VNNI ? 4 : 2; }

long rk_i8p_mr(int variant) { return rk_i8p_is_zmm(variant) ? RK_I8P_ZMM_MR : RK_I8P_YMM_MR; }

long rk_i8p_nr(int variant) { return rk_i8p_is_zmm(variant) ? RK_I8P_ZMM_NR : RK_I8P_YMM_NR; }

long rk_i8p_v_row_bytes(int variant, long K) { return rk_i8p_v_row_bytes_of(rk_i8p_kg(variant), K); }

// Every variant's group holds 4 bytes per hidden state: 4 int8 k, or 2 int16 k.
long rk_i8p_x_row_bytes(int variant, long K) {
  const long kg = rk_i8p_kg(variant);
  return (K + kg - 1) / kg * 4;
}

void rk_i8p_pack_v(int variant, const int8_t *A, long rows, long K, const float *scales, uint8_t *out,
                   float *outScales) {
  const long kg = rk_i8p_kg(variant), bytes = rk_i8p_v_row_bytes(variant, K), nr = rk_i8p_nr(variant);
  // VNNI's unsigned side is q + 128 (padding 128: q = 0); the widening variants keep q.
  const uint8_t offset = kg == 4 ? 0x80u : 0u;
  for (long p = 0; p < rows; p += nr) {
    uint8_t *panel = out + p * bytes;
    const long n = rows - p < nr ? rows - p : nr;
    memset(panel, offset, (size_t)(bytes * nr));
    for (long r = 0; r < n; r++) {
      const int8_t *row = A + (p + r) * K;
      for (long k = 0; k < K; k++) panel[(k / kg) * kg * nr + r * kg + k % kg] = (uint8_t)row[k] ^ offset;
    }
    for (long r = 0; r < nr; r++) outScales[p + r] = r < n ? scales[p + r] : 0.0f;
  }
}

int rk_i8p_pack_x(int variant, const float *h, long rows, long K, int8_t *out, float *xscales, int32_t *xsums) {
  const long kg = rk_i8p_kg(variant), bytes = rk_i8p_x_row_bytes(variant, K), mr = rk_i8p_mr(variant);
  int8_t stack[4096];
  int8_t *q = K <= 4096 ? stack : malloc((size_t)K);
  if (!q) return 0;
  for (long p = 0; p < rows; p += mr) {
    int8_t *panel = out + p * bytes;
    const long n = rows - p < mr ? rows - p : mr;
    memset(panel, 0, (size_t)(bytes * mr));
    for (long i = 0; i < mr; i++) {
      if (i >= n) {
        xscales[p + i] = 0.0f;
        xsums[p + i] = 0;
        continue;
      }
      xscales[p + i] = rk_quantize_i8(h + (p + i) * K, K, q);
      // |Σ hq| ≤ 127·K fits 32 bits up to K = 16.9 M, far beyond any H whose W (H² values) exists.
      int32_t sum = 0;
      for (long k = 0; k < K; k++) {
        if (kg == 4) {
          panel[(k >> 2) * 4 * mr + i * 4 + (k & 3)] = q[k];
        } else {
          // The widening variants: int16 pairs, the low k first (little-endian, as vpmaddwd reads them).
          const int16_t wide = q[k];
          memcpy(panel + (k >> 1) * 4 * mr + i * 4 + (k & 1) * 2, &wide, 2);
        }
        sum += q[k];
      }
      xsums[p + i] = sum;
    }
  }
  if (q != stack) free(q);
  return 1;
}

long rk_i8p_scratch_count(int variant, long M, long K) {
  long mc, nc;
  rk_i8p_blocking(M, rk_i8p_v_row_bytes(variant, K), rk_i8p_mr(variant), rk_i8p_nr(variant), &mc, &nc);
  return mc * nc;
}

void rk_i8p_logits(int variant, long M, long K, const int8_t *xp, const int32_t *xsums, const float *xscales,
                   const uint8_t *vp, const float *vscales, const float *bias, long j0, long j1, float *c, long ldc) {
#if RK_X86
  switch (variant) {
  case RK_I8P_AVX512: rk_i8p_logits_zmm(M, K, xp, xsums, xscales, vp, vscales, bias, j0, j1, c, ldc); break;
  case RK_I8P_AVX_VNNI: rk_i8p_logits_ymm(M, K, xp, xsums, xscales, vp, vscales, bias, j0, j1, c, ldc); break;
  case RK_I8P_AVX512BW: rk_i8p_logits_zmm_widen(M, K, xp, xsums, xscales, vp, vscales, bias, j0, j1, c, ldc); break;
  case RK_I8P_AVX2: rk_i8p_logits_ymm_widen(M, K, xp, xsums, xscales, vp, vscales, bias, j0, j1, c, ldc); break;
  default: break;
  }
#endif
}

int rk_i8p_score(int variant, long M, long K, const int8_t *xp, const int32_t *xsums, const float *xscales,
                 const uint8_t *vp, const float *vscales, const float *bias, long j0, long j1, const long *targets,
                 float *maxima, float *sums, float *picked, float *scratch) {
#if RK_X86
  switch (variant) {
  case RK_I8P_AVX512:
    return rk_i8p_score_zmm(M, K, xp, xsums, xscales, vp, vscales, bias, j0, j1, targets, maxima, sums, picked,
                            scratch);
  case RK_I8P_AVX_VNNI:
    return rk_i8p_score_ymm(M, K, xp, xsums, xscales, vp, vscales, bias, j0, j1, targets, maxima, sums, picked,
                            scratch);
  case RK_I8P_AVX512BW:
    return rk_i8p_score_zmm_widen(M, K, xp, xsums, xscales, vp, vscales, bias, j0, j1, targets, maxima, sums,
                                  picked, scratch);
  case RK_I8P_AVX2:
    return rk_i8p_score_ymm_widen(M, K, xp, xsums, xscales, vp, vscales, bias, j0, j1, targets, maxima, sums,
                                  picked, scratch);
  default: break;
  }
#endif
  return 0;
}

void rk_gemm_i8(const int8_t *A, long rows, long cols, const float *scales, const int32_t *rowsums, const int8_t *X,
                long n, const float *xscales, const float *bias, float *C, long ldc) {
#if RK_X86
  if (rk_use_vnni()) {
    gemm_i8_vnni(A, rows, cols, scales, rowsums, X, n, xscales, bias, C, ldc);
    return;
  }
#endif
  rk_kernels()->gemm_i8(A, rows, cols, scales, rowsums, X, n, xscales, bias, C, ldc);
}

void rk_gemv_bf16(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y,
                  int dot) {
#if RK_X86
  if (dot && rk_level() == RK_LEVEL_AVX512 && (rk_features() & RK_FEATURE_BF16) != 0) {
    gemv_bf16_dp(A, rows, cols, lda, x, bias, y);
    return;
  }
#endif
  rk_kernels()->gemv_bf16(A, rows, cols, lda, x, bias, y);
}

void rk_bf16_to_float_n(const uint16_t *src, float *dst, long n) { rk_kernels()->bf16_to_float_n(src, dst, n); }

int rk_all_finite(const float *x, long n) {
  // NaN or inf times 0 is NaN, and a NaN stays in the sums. Sixteen lanes at a time (the compiler
  // splits them into whatever vectors the baseline has), so the additions do not form one chain of
  // n: the recurrence checks every hidden state.
  rk_f16 sums = 0.0f;
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    rk_f16 v;
    memcpy(&v, x + i, sizeof v);
    sums += v * 0.0f;
  }
  float s = 0.0f;
  for (int lane = 0; lane < 16; lane++) s += sums[lane];
  for (; i < n; i++) s += x[i] * 0.0f;
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
// MARK: packed matrix product

// The size of cpu0's cache (1: L1 data, 2: L2, 3: L3) as sysfs lists it; 0 when unknown.
static long rk_cache_sysfs(int which) {
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

// Cache sizes in bytes (1: L1 data, 2: L2, 3: L3) from the C library and from sysfs; 0 when neither
// knows them.
static long rk_cache_detect(int which) {
  long size = 0;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  size = sysconf(which == 1 ? _SC_LEVEL1_DCACHE_SIZE : which == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
#endif
  // The smaller of the two where both answer: in a virtual machine the C library may report the L3
  // of the whole processor package (384 MB on one KVM guest) where sysfs gives the 32 MB that this
  // core shares.
  long listed = rk_cache_sysfs(which);
  if (size > 0 && listed > 0) return size < listed ? size : listed;
  return size > 0 ? size : listed;
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

void rk_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

void rk_spin_yield(void) { sched_yield(); }

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
  const long mcmax = mc;
  if (M > 0) {
    long mblocks = (M + mc - 1) / mc;
    long rows = (M + mblocks - 1) / mblocks;
    mc = (rows + mr - 1) / mr * mr;
  }
  // NC: wide enough for a B block (KC×NC) to fill half of L2, or for the C block (MC×NC) to fill a
  // quarter, whichever is wider. Every NC columns re-read all of A, which no longer fits in L2 when
  // there are many rows (measured: 2,048 rows with K = 1,024 ran 15% faster with NC = 768 than with
  // the 128 columns that half of L2 holds). NC comes from the largest MC, not from M: the fused
  // scoring merges each row's log-sum-exp once per NC columns, so a row's bits then never depend on
  // how many rows share its product.
  long nc_b = l2 / 2 / (kc * (long)sizeof(float));
  long nc_c = l2 / 4 / (mcmax * (long)sizeof(float));
  long nc = (nc_b > nc_c ? nc_b : nc_c) / nr * nr;
  if (nc < nr) nc = nr;
  return (rk_gemm_blocks){kc, mc, nc};
}

void rk_pack_a(int level, const float *a, long M, long K, long lda, float *out) {
  rk_gemm_kernels(level)->pack_a(a, M, K, lda, out);
}

void rk_pack_a_columns(int level, const float *a, long M, long K, long lda, long k0, long k1, float *out) {
  const long mr = rk_gemm_mr(level);
  for (long p = 0; p < M; p += mr) {
    float *panel = out + p * K;
    const long n = M - p < mr ? M - p : mr;
    for (long r = 0; r < n; r++) {
      const float *row = a + (p + r) * lda;
      for (long k = k0; k < k1; k++) panel[k * mr + r] = row[k];
    }
    for (long r = n; r < mr; r++)
      for (long k = k0; k < k1; k++) panel[k * mr + r] = 0.0f;
  }
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
  rk_gemm_kernels(level)->gemm(M, K, ap, bp, j0, j1, c, ldc, blocks, 0);
}

void rk_gemm_packed_add(int level, long M, long K, const float *ap, const float *bp, long j0, long j1, float *c,
                        long ldc, const rk_gemm_blocks *blocks) {
  if (K > 0) rk_gemm_kernels(level)->gemm(M, K, ap, bp, j0, j1, c, ldc, blocks, 1);
}

void rk_merge_pairs(int level, long n, long parts, long stride, const float *maxima, const float *sums, float *top,
                    float *total) {
  rk_gemm_kernels(level)->merge_pairs(n, parts, stride, maxima, sums, top, total);
}

int rk_score_packed(int level, long M, long K, const float *ap, const float *bp, const float *bias, long j0, long j1,
                    const long *targets, float *maxima, float *sums, float *picked, const rk_gemm_blocks *blocks,
                    float *scratch) {
  if (K <= 0) return 0;
  return rk_gemm_kernels(level)->score(M, K, ap, bp, bias, j0, j1, targets, maxima, sums, picked, blocks, scratch);
}
