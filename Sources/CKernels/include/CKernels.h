// Small vector kernels for RNNRuntime that BLAS does not provide: activations, log-sum-exp,
// argmax, and a matrix-vector product that reads IEEE half weights and converts them on the fly.
//
// Each kernel has a portable scalar body and, on x86-64, an AVX2+FMA+F16C body chosen at run time
// (Swift compiles for baseline x86-64, and plain Swift loops do not vectorise float reductions).
#ifndef RNNKIT_KERNELS_H
#define RNNKIT_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define RK_X86 1
#include <immintrin.h>
#define RK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define RK_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))
#else
#define RK_X86 0
#endif

/// Activation codes shared with RNNRuntime's Kernels.swift.
enum {
  RK_IDENTITY = 0,
  RK_TANH = 1,
  RK_RELU = 2,
  RK_SIGMOID = 3,
  RK_SOFTSIGN = 4,
  RK_SOFTPLUS = 5,
  RK_ELU = 6,
  RK_SILU = 7,
};

static inline int rk_has_avx2(void) {
#if RK_X86
  static int cached = -1;
  if (cached < 0) {
    __builtin_cpu_init();
    cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }
  return cached;
#else
  return 0;
#endif
}

static inline int rk_has_avx512(void) {
#if RK_X86
  static int cached = -1;
  if (cached < 0) {
    __builtin_cpu_init();
    cached = rk_has_avx2() && __builtin_cpu_supports("avx512f");
  }
  return cached;
#else
  return 0;
#endif
}

// MARK: scalar helpers

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

#if RK_X86
// MARK: AVX2 helpers

// exp(x) for 8 floats: Cody-Waite range reduction and a degree-5 polynomial (Cephes), about 2 ulp.
RK_AVX2 static inline __m256 rk_exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-87.3365478515625f);
  __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 input = x;
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  // Below the clamp the true value is (almost) 0; returning 0 keeps log-sum-exp exact there.
  return _mm256_blendv_ps(_mm256_andnot_ps(underflow, y), input, nan);
}

// tanh(x) for 8 floats: a 13/6 rational approximation on [-9, 9] (as in Eigen), a few ulp.
RK_AVX2 static inline __m256 rk_tanh8(__m256 x) {
  const __m256 clamp = _mm256_set1_ps(7.90531110763549805f);
  __m256 small = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.0004f), _CMP_LT_OQ);
  __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_sub_ps(_mm256_setzero_ps(), clamp)), clamp);
  __m256 x2 = _mm256_mul_ps(xc, xc);
  __m256 p = _mm256_set1_ps(-2.76076847742355e-16f);
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(2.00018790482477e-13f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-8.60467152213735e-11f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(5.12229709037114e-08f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(1.48572235717979e-05f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(6.37261928875436e-04f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(4.89352455891786e-03f));
  p = _mm256_mul_ps(xc, p);
  __m256 q = _mm256_set1_ps(1.19825839466702e-06f);
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(1.18534705686654e-04f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(2.26843463243900e-03f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(4.89352518554385e-03f));
  __m256 r = _mm256_div_ps(p, q);
  r = _mm256_blendv_ps(r, x, small);
  // NaN in, NaN out (min/max above would have replaced it).
  __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  return _mm256_blendv_ps(r, x, nan);
}

RK_AVX2 static inline float rk_hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

RK_AVX2 static inline float rk_hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

RK_AVX2 static inline void rk_activation_avx2(int kind, float *x, long n) {
  long i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  switch (kind) {
  case RK_TANH:
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, rk_tanh8(_mm256_loadu_ps(x + i)));
    break;
  case RK_RELU:
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_max_ps(_mm256_loadu_ps(x + i), _mm256_setzero_ps()));
    break;
  case RK_SIGMOID:
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(x + i);
      __m256 e = rk_exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
      _mm256_storeu_ps(x + i, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    break;
  default: break;
  }
  for (; i < n; i++) x[i] = rk_scalar_activation(kind, x[i]);
}

RK_AVX2 static inline float rk_logsumexp_avx2(const float *x, long n) {
  long i = 0;
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float m = rk_hmax8(vmax);
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  if (!isfinite(m)) return m;
  __m256 vm = _mm256_set1_ps(m);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    s0 = _mm256_add_ps(s0, rk_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
    s1 = _mm256_add_ps(s1, rk_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm)));
  }
  float s = rk_hsum8(_mm256_add_ps(s0, s1));
  for (; i < n; i++) s += expf(x[i] - m);
  return m + logf(s);
}

RK_AVX2 static inline float rk_logsumexp_bias_avx2(const float *x, const float *c, long n) {
  long i = 0;
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(c + i)));
  float m = rk_hmax8(vmax);
  for (; i < n; i++) m = x[i] + c[i] > m ? x[i] + c[i] : m;
  if (!isfinite(m)) return m;
  __m256 vm = _mm256_set1_ps(m);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    __m256 z0 = _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(c + i));
    __m256 z1 = _mm256_add_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(c + i + 8));
    s0 = _mm256_add_ps(s0, rk_exp8(_mm256_sub_ps(z0, vm)));
    s1 = _mm256_add_ps(s1, rk_exp8(_mm256_sub_ps(z1, vm)));
  }
  float s = rk_hsum8(_mm256_add_ps(s0, s1));
  for (; i < n; i++) s += expf(x[i] + c[i] - m);
  return m + logf(s);
}

// Softmax as exp(x - max) / sum: subtracting the max is exact near it, unlike x - logsumexp.
RK_AVX2 static inline void rk_softmax_avx2(float *x, long n) {
  long i = 0;
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float m = rk_hmax8(vmax);
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  __m256 vm = _mm256_set1_ps(m), vs = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 e = rk_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    vs = _mm256_add_ps(vs, e);
    _mm256_storeu_ps(x + i, e);
  }
  float s = rk_hsum8(vs);
  for (; i < n; i++) s += (x[i] = expf(x[i] - m));
  __m256 inv = _mm256_set1_ps(1.0f / s);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  for (; i < n; i++) x[i] /= s;
}

// y[r] = bias[r] + sum_k A[r, k] x[k] for rows r in [0, rows), A row-major IEEE half with row
// stride lda. Four rows at a time, so each load of x serves four rows.
RK_AVX2 static inline void rk_gemv_f16_avx2(const uint16_t *A, long rows, long cols, long lda, const float *x,
                                            const float *bias, float *y) {
  long r = 0;
  for (; r + 4 <= rows; r += 4) {
    const uint16_t *a0 = A + r * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    long k = 0;
    for (; k + 8 <= cols; k += 8) {
      __m256 xv = _mm256_loadu_ps(x + k);
      s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a0 + k))), xv, s0);
      s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a1 + k))), xv, s1);
      s2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a2 + k))), xv, s2);
      s3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a3 + k))), xv, s3);
    }
    float t0 = rk_hsum8(s0), t1 = rk_hsum8(s1), t2 = rk_hsum8(s2), t3 = rk_hsum8(s3);
    for (; k < cols; k++) {
      t0 += rk_half_to_float(a0[k]) * x[k];
      t1 += rk_half_to_float(a1[k]) * x[k];
      t2 += rk_half_to_float(a2[k]) * x[k];
      t3 += rk_half_to_float(a3[k]) * x[k];
    }
    y[r] = t0 + (bias ? bias[r] : 0.0f);
    y[r + 1] = t1 + (bias ? bias[r + 1] : 0.0f);
    y[r + 2] = t2 + (bias ? bias[r + 2] : 0.0f);
    y[r + 3] = t3 + (bias ? bias[r + 3] : 0.0f);
  }
  for (; r < rows; r++) {
    const uint16_t *a = A + r * lda;
    __m256 s = _mm256_setzero_ps();
    long k = 0;
    for (; k + 8 <= cols; k += 8)
      s = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + k))), _mm256_loadu_ps(x + k), s);
    float t = rk_hsum8(s);
    for (; k < cols; k++) t += rk_half_to_float(a[k]) * x[k];
    y[r] = t + (bias ? bias[r] : 0.0f);
  }
}

// y[r] = beta*y[r] + A[r, :] . x (f32), four rows at a time so each load of x serves four rows.
RK_AVX2 static inline void rk_gemv_f32_avx2(const float *A, long rows, long cols, long lda, const float *x, float beta,
                                            float *y) {
  long r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float *a0 = A + r * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    long k = 0;
    for (; k + 8 <= cols; k += 8) {
      __m256 xv = _mm256_loadu_ps(x + k);
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a0 + k), xv, s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a1 + k), xv, s1);
      s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a2 + k), xv, s2);
      s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a3 + k), xv, s3);
    }
    float t0 = rk_hsum8(s0), t1 = rk_hsum8(s1), t2 = rk_hsum8(s2), t3 = rk_hsum8(s3);
    for (; k < cols; k++) {
      t0 += a0[k] * x[k];
      t1 += a1[k] * x[k];
      t2 += a2[k] * x[k];
      t3 += a3[k] * x[k];
    }
    if (beta == 0.0f) {
      y[r] = t0, y[r + 1] = t1, y[r + 2] = t2, y[r + 3] = t3;
    } else {
      y[r] = beta * y[r] + t0, y[r + 1] = beta * y[r + 1] + t1;
      y[r + 2] = beta * y[r + 2] + t2, y[r + 3] = beta * y[r + 3] + t3;
    }
  }
  for (; r < rows; r++) {
    const float *a = A + r * lda;
    __m256 s = _mm256_setzero_ps();
    long k = 0;
    for (; k + 8 <= cols; k += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(x + k), s);
    float t = rk_hsum8(s);
    for (; k < cols; k++) t += a[k] * x[k];
    y[r] = beta == 0.0f ? t : beta * y[r] + t;
  }
}

RK_AVX2 static inline void rk_half_to_float_avx2(const uint16_t *src, float *dst, long n) {
  long i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
  for (; i < n; i++) dst[i] = rk_half_to_float(src[i]);
}

// MARK: AVX-512 helpers (log-sum-exp is the part of scoring that is not a matrix product)

// exp(x) for 16 floats, the same reduction and polynomial as rk_exp8.
RK_AVX512 static inline __m512 rk_exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3365478515625f);
  __mmask16 underflow = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  __m512 input = x;
  x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.3762626647949f));
  __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
  __m512 y = _mm512_set1_ps(1.9875691500E-4f);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507E-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073E-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894E-2f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459E-1f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201E-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
  y = _mm512_scalef_ps(y, fx);
  return _mm512_mask_mov_ps(_mm512_maskz_mov_ps((__mmask16)~underflow, y), nan, input);
}

RK_AVX512 static inline float rk_logsumexp_bias_avx512(const float *x, const float *c, long n) {
  long i = 0;
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (; i + 16 <= n; i += 16)
    vmax = _mm512_max_ps(vmax, c ? _mm512_add_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(c + i)) : _mm512_loadu_ps(x + i));
  float m = _mm512_reduce_max_ps(vmax);
  for (; i < n; i++) {
    float z = x[i] + (c ? c[i] : 0.0f);
    m = z > m ? z : m;
  }
  if (!isfinite(m)) return m;
  __m512 vm = _mm512_set1_ps(m);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
#define RK_Z(k) (c ? _mm512_add_ps(_mm512_loadu_ps(x + i + k), _mm512_loadu_ps(c + i + k)) : _mm512_loadu_ps(x + i + k))
  for (i = 0; i + 64 <= n; i += 64) {
    s0 = _mm512_add_ps(s0, rk_exp16(_mm512_sub_ps(RK_Z(0), vm)));
    s1 = _mm512_add_ps(s1, rk_exp16(_mm512_sub_ps(RK_Z(16), vm)));
    s2 = _mm512_add_ps(s2, rk_exp16(_mm512_sub_ps(RK_Z(32), vm)));
    s3 = _mm512_add_ps(s3, rk_exp16(_mm512_sub_ps(RK_Z(48), vm)));
  }
  for (; i + 16 <= n; i += 16) s0 = _mm512_add_ps(s0, rk_exp16(_mm512_sub_ps(RK_Z(0), vm)));
#undef RK_Z
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  for (; i < n; i++) s += expf(x[i] + (c ? c[i] : 0.0f) - m);
  return m + logf(s);
}

RK_AVX512 static inline void rk_softmax_avx512(float *x, long n) {
  long i = 0;
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (; i + 16 <= n; i += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + i));
  float m = _mm512_reduce_max_ps(vmax);
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  __m512 vm = _mm512_set1_ps(m), vs = _mm512_setzero_ps();
  for (i = 0; i + 16 <= n; i += 16) {
    __m512 e = rk_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    vs = _mm512_add_ps(vs, e);
    _mm512_storeu_ps(x + i, e);
  }
  float s = _mm512_reduce_add_ps(vs);
  for (; i < n; i++) s += (x[i] = expf(x[i] - m));
  __m512 inv = _mm512_set1_ps(1.0f / s);
  for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
  for (; i < n; i++) x[i] /= s;
}

// Matrix-vector products for AVX-512. Besides the wider registers, they prefetch the rows two
// blocks ahead: each row is a fresh stream, and the hardware prefetcher alone keeps too few cache
// lines in flight (measured here: f16 at 50,000×1,024 went from 15 to 10.6 ms on one core).
RK_AVX512 static inline void rk_gemv_f16_avx512(const uint16_t *A, long rows, long cols, long lda, const float *x,
                                                const float *bias, float *y) {
  long r = 0;
  for (; r + 4 <= rows; r += 4) {
    const uint16_t *a0 = A + r * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    const uint16_t *p = r + 12 <= rows ? A + (r + 8) * lda : NULL;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    long k = 0;
    for (; k + 16 <= cols; k += 16) {
      if (p && (k & 31) == 0) {
        _mm_prefetch((const char *)(p + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + lda + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + 2 * lda + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + 3 * lda + k), _MM_HINT_T0);
      }
      __m512 xv = _mm512_loadu_ps(x + k);
      s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a0 + k))), xv, s0);
      s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a1 + k))), xv, s1);
      s2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a2 + k))), xv, s2);
      s3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a3 + k))), xv, s3);
    }
    float t0 = _mm512_reduce_add_ps(s0), t1 = _mm512_reduce_add_ps(s1);
    float t2 = _mm512_reduce_add_ps(s2), t3 = _mm512_reduce_add_ps(s3);
    for (; k < cols; k++) {
      t0 += rk_half_to_float(a0[k]) * x[k];
      t1 += rk_half_to_float(a1[k]) * x[k];
      t2 += rk_half_to_float(a2[k]) * x[k];
      t3 += rk_half_to_float(a3[k]) * x[k];
    }
    y[r] = t0 + (bias ? bias[r] : 0.0f);
    y[r + 1] = t1 + (bias ? bias[r + 1] : 0.0f);
    y[r + 2] = t2 + (bias ? bias[r + 2] : 0.0f);
    y[r + 3] = t3 + (bias ? bias[r + 3] : 0.0f);
  }
  if (r < rows) rk_gemv_f16_avx2(A + r * lda, rows - r, cols, lda, x, bias ? bias + r : NULL, y + r);
}

RK_AVX512 static inline void rk_gemv_f32_avx512(const float *A, long rows, long cols, long lda, const float *x,
                                                float beta, float *y) {
  long r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float *a0 = A + r * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
    const float *p = r + 12 <= rows ? A + (r + 8) * lda : NULL;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    long k = 0;
    for (; k + 16 <= cols; k += 16) {
      if (p) {
        _mm_prefetch((const char *)(p + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + lda + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + 2 * lda + k), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + 3 * lda + k), _MM_HINT_T0);
      }
      __m512 xv = _mm512_loadu_ps(x + k);
      s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a0 + k), xv, s0);
      s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a1 + k), xv, s1);
      s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a2 + k), xv, s2);
      s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a3 + k), xv, s3);
    }
    float t0 = _mm512_reduce_add_ps(s0), t1 = _mm512_reduce_add_ps(s1);
    float t2 = _mm512_reduce_add_ps(s2), t3 = _mm512_reduce_add_ps(s3);
    for (; k < cols; k++) {
      t0 += a0[k] * x[k];
      t1 += a1[k] * x[k];
      t2 += a2[k] * x[k];
      t3 += a3[k] * x[k];
    }
    if (beta == 0.0f) {
      y[r] = t0, y[r + 1] = t1, y[r + 2] = t2, y[r + 3] = t3;
    } else {
      y[r] = beta * y[r] + t0, y[r + 1] = beta * y[r + 1] + t1;
      y[r + 2] = beta * y[r + 2] + t2, y[r + 3] = beta * y[r + 3] + t3;
    }
  }
  if (r < rows) rk_gemv_f32_avx2(A + r * lda, rows - r, cols, lda, x, beta, y + r);
}
#endif

// MARK: public kernels
//
// Each kernel takes `level`: the instruction set to use at most (0 portable C, 1 AVX2+FMA+F16C,
// 2 AVX-512). The runtime passes rk_level(); the tests pass every level this CPU supports, so the
// fallbacks are checked too.

/// The best level this CPU supports.
static inline int rk_level(void) { return rk_has_avx512() ? 2 : rk_has_avx2() ? 1 : 0; }

/// Applies the hidden activation `kind` to `x[0..<n]` in place.
static inline void rk_activation(int level, int kind, float *x, long n) {
  if (kind == RK_IDENTITY) return;
#if RK_X86
  if (level >= 1) {
    rk_activation_avx2(kind, x, n);
    return;
  }
#endif
  for (long i = 0; i < n; i++) x[i] = rk_scalar_activation(kind, x[i]);
}

/// log(sum(exp(x + c))), computed stably; `c` (a bias row) may be NULL. -inf for an all -inf row,
/// NaN if any element is NaN.
static inline float rk_logsumexp(int level, const float *x, const float *c, long n) {
#if RK_X86
  if (level >= 2) return rk_logsumexp_bias_avx512(x, c, n);
  if (level >= 1) return c ? rk_logsumexp_bias_avx2(x, c, n) : rk_logsumexp_avx2(x, n);
#endif
  float m = -INFINITY;
  for (long i = 0; i < n; i++) {
    float z = x[i] + (c ? c[i] : 0.0f);
    m = z > m ? z : m;
  }
  if (!isfinite(m)) return m;
  float s = 0.0f;
  for (long i = 0; i < n; i++) s += expf(x[i] + (c ? c[i] : 0.0f) - m);
  return m + logf(s);
}

/// Softmax of `x[0..<n]` in place.
static inline void rk_softmax(int level, float *x, long n) {
#if RK_X86
  if (level >= 2) {
    rk_softmax_avx512(x, n);
    return;
  }
  if (level >= 1) {
    rk_softmax_avx2(x, n);
    return;
  }
#endif
  float m = -INFINITY, s = 0.0f;
  for (long i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  for (long i = 0; i < n; i++) s += (x[i] = expf(x[i] - m));
  for (long i = 0; i < n; i++) x[i] /= s;
}

/// The index of the largest element (the first on ties); NaN elements are skipped.
static inline long rk_argmax(const float *x, long n) {
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

/// 1 when every element is finite, 0 otherwise.
static inline int rk_all_finite(const float *x, long n) {
  float s = 0.0f;
  for (long i = 0; i < n; i++) s += x[i] * 0.0f;  // NaN or inf times 0 is NaN
  return s == 0.0f;
}

/// y[r] = bias[r] + A[r, :] . x for r in [0, rows), A IEEE half, row-major with row stride lda.
/// `bias` may be NULL.
static inline void rk_gemv_f16(int level, const uint16_t *A, long rows, long cols, long lda, const float *x,
                               const float *bias, float *y) {
#if RK_X86
  if (level >= 2) {
    rk_gemv_f16_avx512(A, rows, cols, lda, x, bias, y);
    return;
  }
  if (level >= 1) {
    rk_gemv_f16_avx2(A, rows, cols, lda, x, bias, y);
    return;
  }
#endif
  for (long r = 0; r < rows; r++) {
    const uint16_t *a = A + r * lda;
    float t = 0.0f;
    for (long k = 0; k < cols; k++) t += rk_half_to_float(a[k]) * x[k];
    y[r] = t + (bias ? bias[r] : 0.0f);
  }
}

/// y[r] = beta*y[r] + A[r, :] . x for r in [0, rows), A f32 row-major with row stride lda.
static inline void rk_gemv_f32(int level, const float *A, long rows, long cols, long lda, const float *x, float beta,
                               float *y) {
#if RK_X86
  if (level >= 2) {
    rk_gemv_f32_avx512(A, rows, cols, lda, x, beta, y);
    return;
  }
  if (level >= 1) {
    rk_gemv_f32_avx2(A, rows, cols, lda, x, beta, y);
    return;
  }
#endif
  for (long r = 0; r < rows; r++) {
    const float *a = A + r * lda;
    float t = 0.0f;
    for (long k = 0; k < cols; k++) t += a[k] * x[k];
    y[r] = beta == 0.0f ? t : beta * y[r] + t;
  }
}

/// Converts `n` IEEE half values to float.
static inline void rk_half_to_float_n(int level, const uint16_t *src, float *dst, long n) {
#if RK_X86
  if (level >= 1) {
    rk_half_to_float_avx2(src, dst, n);
    return;
  }
#endif
  for (long i = 0; i < n; i++) dst[i] = rk_half_to_float(src[i]);
}

#endif
