// The kernels, written once. kernels.c includes this file once per instruction-set level, with:
//   RK_FN(name)   the function's name at this level (name_portable, name_avx2, ...)
//   RK_W          floats per vector (4, 8, 16)
//   VF, VI, VU    float, int32 and uint32 vectors of RK_W lanes; VH16 uint16, VHALF _Float16
//   VB, VS        int8 and int16 vectors of 2·RK_W lanes (the int8 products)
//   RK_F16C       1 when the level converts halves in hardware (F16C)
//   RK_ROUND      1 when the level has a rounding instruction (SSE4.1 and later)
// and a `#pragma clang attribute` that gives every function here the level's target features.
// Vectors are clang's extended vectors: the compiler emits each level's instructions (FMA where
// the target has it, from a*b + c) from the same source. Only a few primitives (half conversion,
// rounding, scaling by 2^n, horizontal reductions) differ per level, inside their own functions.

#define RK_INLINE static inline __attribute__((always_inline))

RK_INLINE VF RK_FN(load)(const float *p) {
  VF v;
  memcpy(&v, p, sizeof v);
  return v;
}

RK_INLINE void RK_FN(store)(float *p, VF v) { memcpy(p, &v, sizeof v); }

RK_INLINE VF RK_FN(splat)(float s) { return (VF)s; }

// RK_W halves from `p` as floats.
RK_INLINE VF RK_FN(load_half)(const uint16_t *p) {
  VH16 h;
  memcpy(&h, p, sizeof h);
#if RK_F16C
  return __builtin_convertvector((VHALF)h, VF);
#else
  // The bit manipulation of rk_half_to_float, lane by lane.
  VU u = __builtin_convertvector(h, VU);
  VU sign = (u & 0x8000u) << 16;
  VU exponent = (u >> 10) & 0x1Fu;
  VU mantissa = u & 0x3FFu;
  VU normal = ((exponent + 112u) << 23) | (mantissa << 13);
  VU special = 0x7F800000u | (mantissa << 13);
  VF subnormal = __builtin_convertvector((VI)mantissa, VF) * RK_FN(splat)(0x1p-24f);
  VU bits = exponent == 31u ? special : normal;
  bits = exponent == 0u ? (VU)subnormal : bits;
  return (VF)(bits | sign);
#endif
}

// The larger of a and b, lane by lane, as x86's max instructions define it: b when either is NaN.
RK_INLINE VF RK_FN(max)(VF a, VF b) { return a > b ? a : b; }

RK_INLINE float RK_FN(hmax)(VF v) {
#if RK_W == 16
  rk_f8 a = v.lo > v.hi ? v.lo : v.hi;
#else
  VF a = v;
#endif
#if RK_W >= 8
  rk_f4 b = a.lo > a.hi ? a.lo : a.hi;
#else
  VF b = a;
#endif
  rk_f2 c = b.lo > b.hi ? b.lo : b.hi;
  return c.x > c.y ? c.x : c.y;
}

// The sum of the lanes, as a tree: (lower half + upper half) until one lane is left.
RK_INLINE float RK_FN(hsum)(VF v) {
#if RK_W == 16
  rk_f8 a = v.lo + v.hi;
#else
  VF a = v;
#endif
#if RK_W >= 8
  rk_f4 b = a.lo + a.hi;
#else
  VF b = a;
#endif
  rk_f2 c = b.lo + b.hi;
  return c.x + c.y;
}

// x rounded to the nearest integer (ties to even), for |x| < 2^22.
RK_INLINE VF RK_FN(round)(VF x) {
#if RK_ROUND
  return __builtin_elementwise_roundeven(x);
#else
  // Without a rounding instruction (SSE2): adding and removing 1.5·2^23 drops the fraction.
  const VF magic = RK_FN(splat)(0x1.8p23f);
  return (x + magic) - magic;
#endif
}

// y·2^n for integral n in [-126, 127]: AVX-512 has an instruction for it (fewer registers in the
// unrolled loops that call this); elsewhere 2^n is built in the exponent bits, from n clamped to
// [-126, 128] first (NaN to -126), so the conversion to integers is always defined (128 gives the
// exponent bits of inf, as RK_FN(exp) has always returned at its top).
RK_INLINE VF RK_FN(scale2)(VF y, VF n) {
#if RK_W == 16
  return (VF)_mm512_scalef_ps((__m512)y, (__m512)n);
#else
  n = n > RK_FN(splat)(-126.0f) ? n : RK_FN(splat)(-126.0f);
  n = n < RK_FN(splat)(128.0f) ? n : RK_FN(splat)(128.0f);
  VI scale = (__builtin_convertvector(n, VI) + 127) << 23;
  return y * (VF)scale;
#endif
}

// e^x for x already clamped to [-87.34, 88.38]: Cephes' range reduction and degree-5 polynomial,
// shared by RK_FN(exp) and the packed product's exp of non-positive values.
RK_INLINE VF RK_FN(exp_clamped)(VF x) {
  VF fx = RK_FN(round)(x * RK_FN(splat)(1.44269504088896341f));
  x = x - fx * RK_FN(splat)(0.693359375f);
  x = x - fx * RK_FN(splat)(-2.12194440e-4f);
  VF y = RK_FN(splat)(1.9875691500E-4f);
  y = y * x + RK_FN(splat)(1.3981999507E-3f);
  y = y * x + RK_FN(splat)(8.3334519073E-3f);
  y = y * x + RK_FN(splat)(4.1665795894E-2f);
  y = y * x + RK_FN(splat)(1.6666665459E-1f);
  y = y * x + RK_FN(splat)(5.0000001201E-1f);
  y = y * (x * x) + (x + RK_FN(splat)(1.0f));
  return RK_FN(scale2)(y, fx);
}

// exp(x): Cody-Waite range reduction and a degree-5 polynomial (Cephes), about 2 ulp. Below the
// clamp the true value is (almost) 0, and returning 0 keeps log-sum-exp exact there; NaN stays NaN.
RK_INLINE VF RK_FN(exp)(VF x) {
  const VF hi = RK_FN(splat)(88.3762626647949f);
  const VF lo = RK_FN(splat)(-87.3365478515625f);
  const VF zero = RK_FN(splat)(0.0f);
  VI underflow = x < lo;
  VI nan = x != x;
  VF input = x;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  VF y = RK_FN(exp_clamped)(x);
  y = underflow ? zero : y;
  return nan ? input : y;
}

// tanh(x): a 13/6 rational approximation on [-9, 9] (as in Eigen), a few ulp; NaN stays NaN.
RK_INLINE VF RK_FN(tanh)(VF x) {
  const VF clamp = RK_FN(splat)(7.90531110763549805f);
  VI small = (VF)((VU)x & 0x7FFFFFFFu) < RK_FN(splat)(0.0004f);
  VF xc = x < -clamp ? -clamp : x;
  xc = xc > clamp ? clamp : xc;
  VF x2 = xc * xc;
  VF p = RK_FN(splat)(-2.76076847742355e-16f);
  p = x2 * p + RK_FN(splat)(2.00018790482477e-13f);
  p = x2 * p + RK_FN(splat)(-8.60467152213735e-11f);
  p = x2 * p + RK_FN(splat)(5.12229709037114e-08f);
  p = x2 * p + RK_FN(splat)(1.48572235717979e-05f);
  p = x2 * p + RK_FN(splat)(6.37261928875436e-04f);
  p = x2 * p + RK_FN(splat)(4.89352455891786e-03f);
  p = xc * p;
  VF q = RK_FN(splat)(1.19825839466702e-06f);
  q = x2 * q + RK_FN(splat)(1.18534705686654e-04f);
  q = x2 * q + RK_FN(splat)(2.26843463243900e-03f);
  q = x2 * q + RK_FN(splat)(4.89352518554385e-03f);
  VF r = p / q;
  r = small ? x : r;
  return x != x ? x : r;
}

static void RK_FN(activation)(int kind, float *x, long n) {
  long i = 0;
  const VF one = RK_FN(splat)(1.0f);
  const VF zero = RK_FN(splat)(0.0f);
  switch (kind) {
  case RK_TANH:
    for (; i + RK_W <= n; i += RK_W) RK_FN(store)(x + i, RK_FN(tanh)(RK_FN(load)(x + i)));
    break;
  case RK_RELU:
    for (; i + RK_W <= n; i += RK_W) {
      VF v = RK_FN(load)(x + i);
      RK_FN(store)(x + i, v > zero ? v : zero);
    }
    break;
  case RK_SIGMOID:
    for (; i + RK_W <= n; i += RK_W) RK_FN(store)(x + i, one / (one + RK_FN(exp)(-RK_FN(load)(x + i))));
    break;
  default: break;
  }
  for (; i < n; i++) x[i] = rk_scalar_activation(kind, x[i]);
}

// x[i] + c[i] when the bias is used (a compile-time constant in each caller).
RK_INLINE VF RK_FN(load_biased)(const float *x, const float *c, long i, const int biased) {
  return biased ? RK_FN(load)(x + i) + RK_FN(load)(c + i) : RK_FN(load)(x + i);
}

// The largest of x[i] (+ c[i]), and whether that is finite; a row with a NaN gives NaN.
RK_INLINE float RK_FN(max_of)(const float *x, const float *c, long n, const int biased) {
  long i = 0;
  VF m0 = RK_FN(splat)(-INFINITY), m1 = m0;
  for (; i + 2 * RK_W <= n; i += 2 * RK_W) {
    m0 = RK_FN(max)(RK_FN(load_biased)(x, c, i, biased), m0);
    m1 = RK_FN(max)(RK_FN(load_biased)(x, c, i + RK_W, biased), m1);
  }
  for (; i + RK_W <= n; i += RK_W) m0 = RK_FN(max)(RK_FN(load_biased)(x, c, i, biased), m0);
  float m = RK_FN(hmax)(RK_FN(max)(m0, m1));
  for (; i < n; i++) {
    float z = x[i] + (biased ? c[i] : 0.0f);
    m = z > m ? z : m;
  }
  // The max skips NaN; look for one only in the rare rows where it decides the result.
  if (!isfinite(m)) {
    for (i = 0; i < n; i++) {
      float z = x[i] + (biased ? c[i] : 0.0f);
      if (z != z) return z;
    }
  }
  return m;
}

RK_INLINE float RK_FN(logsumexp_body)(const float *x, const float *c, long n, const int biased) {
  float m = RK_FN(max_of)(x, c, n, biased);
  if (!isfinite(m)) return m;
  // Four sums, so four exponentials are in flight at once.
  const VF vm = RK_FN(splat)(m);
  VF s0 = RK_FN(splat)(0.0f), s1 = s0, s2 = s0, s3 = s0;
  long i = 0;
  for (; i + 4 * RK_W <= n; i += 4 * RK_W) {
    s0 += RK_FN(exp)(RK_FN(load_biased)(x, c, i, biased) - vm);
    s1 += RK_FN(exp)(RK_FN(load_biased)(x, c, i + RK_W, biased) - vm);
    s2 += RK_FN(exp)(RK_FN(load_biased)(x, c, i + 2 * RK_W, biased) - vm);
    s3 += RK_FN(exp)(RK_FN(load_biased)(x, c, i + 3 * RK_W, biased) - vm);
  }
  for (; i + RK_W <= n; i += RK_W) s0 += RK_FN(exp)(RK_FN(load_biased)(x, c, i, biased) - vm);
  float s = RK_FN(hsum)((s0 + s1) + (s2 + s3));
  for (; i < n; i++) s += expf(x[i] + (biased ? c[i] : 0.0f) - m);
  return m + logf(s);
}

static float RK_FN(logsumexp)(const float *x, const float *c, long n) {
  return c ? RK_FN(logsumexp_body)(x, c, n, 1) : RK_FN(logsumexp_body)(x, NULL, n, 0);
}

// Softmax as exp(x - max) / sum: subtracting the max is exact near it, unlike x - logsumexp.
static void RK_FN(softmax)(float *x, long n) {
  float m = RK_FN(max_of)(x, NULL, n, 0);
  const VF vm = RK_FN(splat)(m);
  VF vs = RK_FN(splat)(0.0f);
  long i = 0;
  for (; i + RK_W <= n; i += RK_W) {
    VF e = RK_FN(exp)(RK_FN(load)(x + i) - vm);
    vs += e;
    RK_FN(store)(x + i, e);
  }
  float s = RK_FN(hsum)(vs);
  for (; i < n; i++) s += (x[i] = expf(x[i] - m));
  const VF inv = RK_FN(splat)(1.0f / s);
  for (i = 0; i + RK_W <= n; i += RK_W) RK_FN(store)(x + i, RK_FN(load)(x + i) * inv);
  for (; i < n; i++) x[i] /= s;
}

// RK_W bfloat16 values from `p` as floats: each is the upper half of a float's bits, so widening is
// a shift, exact on every level.
RK_INLINE VF RK_FN(load_bf16)(const uint16_t *p) {
  VH16 h;
  memcpy(&h, p, sizeof h);
  return (VF)(__builtin_convertvector(h, VU) << 16);
}

// RK_W elements of a matrix row from column k, as floats: f32 (`half` 0), IEEE half (1) or bfloat16
// (2).
RK_INLINE VF RK_FN(load_row)(const char *row, long k, const int half) {
  if (half == 2) return RK_FN(load_bf16)((const uint16_t *)row + k);
  return half ? RK_FN(load_half)((const uint16_t *)row + k) : RK_FN(load)((const float *)row + k);
}

// A[r, :]·x for one row of A in f32 or, when `half`, IEEE half (converted in registers, never in
// memory). Four accumulators, so four FMAs are in flight; the sum order depends only on `cols`, never
// on the prefetch distance or on which rows a call covers, so a row's result is the same however the
// rows are split across threads and whatever distance the calibration picked. With `prefetching`,
// every cache line `distance` bytes ahead of the current read is prefetched (distance > 0).
RK_INLINE float RK_FN(dot_row)(const char *row, long cols, const float *x, const int half, const int prefetching,
                               long distance) {
  const long size = half ? 2 : 4;
  // Bytes of the row one pass of the loop reads.
  const long pass = 4 * RK_W * size;
  VF s0 = RK_FN(splat)(0.0f), s1 = s0, s2 = s0, s3 = s0;
  long k = 0;
  for (; k + 4 * RK_W <= cols; k += 4 * RK_W) {
    if (prefetching)
      for (long b = 0; b < pass; b += 64) __builtin_prefetch(row + k * size + distance + b, 0, 3);
    s0 = RK_FN(load_row)(row, k, half) * RK_FN(load)(x + k) + s0;
    s1 = RK_FN(load_row)(row, k + RK_W, half) * RK_FN(load)(x + k + RK_W) + s1;
    s2 = RK_FN(load_row)(row, k + 2 * RK_W, half) * RK_FN(load)(x + k + 2 * RK_W) + s2;
    s3 = RK_FN(load_row)(row, k + 3 * RK_W, half) * RK_FN(load)(x + k + 3 * RK_W) + s3;
  }
  for (; k + RK_W <= cols; k += RK_W) s0 = RK_FN(load_row)(row, k, half) * RK_FN(load)(x + k) + s0;
  float t = RK_FN(hsum)((s0 + s1) + (s2 + s3));
  for (; k < cols; k++) t += rk_row_element(row, k, half) * x[k];
  return t;
}

// Rows of a cache-resident matrix per pass of RK_FN(dot_rows): 4 rows' 16 accumulators and the 4
// vectors of x fit AVX-512's 32 vector registers; 2 rows' fit the 16 of SSE and AVX2.
#if RK_W == 16
#define RK_DOT_ROWS 4
#else
#define RK_DOT_ROWS 2
#endif

// RK_DOT_ROWS consecutive rows (row stride `stride` bytes) of RK_FN(dot_row) at once, each summed
// in exactly its order (the same bits), so that the rows' additions and final reductions overlap
// instead of one row's reduction waiting on its loads.
RK_INLINE void RK_FN(dot_rows)(const char *row, long stride, long cols, const float *x, const int half,
                               float *out) {
  VF s0[RK_DOT_ROWS], s1[RK_DOT_ROWS], s2[RK_DOT_ROWS], s3[RK_DOT_ROWS];
#pragma clang loop unroll(full)
  for (int r = 0; r < RK_DOT_ROWS; r++) s0[r] = s1[r] = s2[r] = s3[r] = RK_FN(splat)(0.0f);
  long k = 0;
  // Two steps per pass: a row of a recurrent W_h is only a few steps long (4 at H = 256 with
  // AVX-512), and with one step per pass the loop's own overhead showed (a 256×256 product from L2
  // took 1.2× as long on AMD Zen 5, compiled without a CPU-specific tuning).
#pragma clang loop unroll_count(2)
  for (; k + 4 * RK_W <= cols; k += 4 * RK_W) {
    VF x0 = RK_FN(load)(x + k), x1 = RK_FN(load)(x + k + RK_W), x2 = RK_FN(load)(x + k + 2 * RK_W),
       x3 = RK_FN(load)(x + k + 3 * RK_W);
#pragma clang loop unroll(full)
    for (int r = 0; r < RK_DOT_ROWS; r++) {
      const char *a = row + r * stride;
      s0[r] = RK_FN(load_row)(a, k, half) * x0 + s0[r];
      s1[r] = RK_FN(load_row)(a, k + RK_W, half) * x1 + s1[r];
      s2[r] = RK_FN(load_row)(a, k + 2 * RK_W, half) * x2 + s2[r];
      s3[r] = RK_FN(load_row)(a, k + 3 * RK_W, half) * x3 + s3[r];
    }
  }
  for (; k + RK_W <= cols; k += RK_W) {
    VF xk = RK_FN(load)(x + k);
#pragma clang loop unroll(full)
    for (int r = 0; r < RK_DOT_ROWS; r++) s0[r] = RK_FN(load_row)(row + r * stride, k, half) * xk + s0[r];
  }
#pragma clang loop unroll(full)
  for (int r = 0; r < RK_DOT_ROWS; r++) {
    float t = RK_FN(hsum)((s0[r] + s1[r]) + (s2[r] + s3[r]));
    for (long j = k; j < cols; j++) t += rk_row_element(row + r * stride, j, half) * x[j];
    out[r] = t;
  }
}

// y[r] = beta*y[r] + A[r, :]·x (+ bias[r] when given), one row at a time in order: when rows follow
// each other (lda = cols) the matrix is read as one sequential stream, the pattern hardware
// prefetchers are built for, and x stays in L1. (Four rows at a time, each a separate stream,
// ran at 1.3x the time of a plain read of the matrix on AMD Zen 4; one stream runs at the read time.)
// A matrix that fits in half the L2 cache (a recurrent W_h) is read from there, not streamed from
// memory: it takes RK_DOT_ROWS rows at a time, with the same result, and is never prefetched (the
// distance calibrated on large matrices would otherwise apply to it too).
RK_INLINE void RK_FN(gemv_body)(const void *A, const int half, long rows, long cols, long lda, const float *x,
                                const float *bias, float beta, float *y, const int prefetching, long distance) {
  const long stride = lda * (half ? 2 : 4);
  const char *row = (const char *)A;
  long r = 0;
  if (rows * stride <= rk_cache_size(2) / 2) {
    float t[RK_DOT_ROWS];
    for (; r + RK_DOT_ROWS <= rows; r += RK_DOT_ROWS, row += RK_DOT_ROWS * stride) {
      RK_FN(dot_rows)(row, stride, cols, x, half, t);
#pragma clang loop unroll(full)
      for (int i = 0; i < RK_DOT_ROWS; i++) {
        if (beta != 0.0f) t[i] += beta * y[r + i];
        if (bias) t[i] += bias[r + i];
        y[r + i] = t[i];
      }
    }
  }
  for (; r < rows; r++, row += stride) {
    float t = RK_FN(dot_row)(row, cols, x, half, prefetching, distance);
    // y is read only when beta is not 0 (it may hold anything then).
    if (beta != 0.0f) t += beta * y[r];
    if (bias) t += bias[r];
    y[r] = t;
  }
}

static void RK_FN(gemv_f16)(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias,
                            float *y, long distance) {
  if (distance > 0)
    RK_FN(gemv_body)(A, 1, rows, cols, lda, x, bias, 0.0f, y, 1, distance);
  else
    RK_FN(gemv_body)(A, 1, rows, cols, lda, x, bias, 0.0f, y, 0, 0);
}

static void RK_FN(gemv_f32)(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y,
                            long distance) {
  if (distance > 0)
    RK_FN(gemv_body)(A, 0, rows, cols, lda, x, NULL, beta, y, 1, distance);
  else
    RK_FN(gemv_body)(A, 0, rows, cols, lda, x, NULL, beta, y, 0, 0);
}

// gemv_f32 with the rows taken from the last to the first (in blocks, see below), each summed
// exactly as there (the same bits; never prefetching), when A fits in half the L2 cache: a recurrence that alternates
// directions step by step then starts each step on the rows still in L1. A larger A is read
// forward, as gemv_f32 does: the hardware prefetchers follow a descending stream from memory or
// L3 less well (perf on Zen 5: descending rows of a 4 MB W_h took 1.3× as long as ascending).
static void RK_FN(gemv_f32_reversed)(const float *A, long rows, long cols, long lda, const float *x, float beta,
                                     float *y) {
  const char *base = (const char *)A;
  const long stride = lda * 4;
  if (rows * stride > rk_cache_size(2) / 2) {
    RK_FN(gemv_body)(A, 0, rows, cols, lda, x, NULL, beta, y, 0, 0);
    return;
  }
  // Blocks of a quarter of L1 from the last rows to the first, each block read forward: row by
  // row from the last, the hardware prefetchers fetched the wrong lines (perf on Zen 5: a
  // 256×256 W_h read that way took 1.5× as long as forward), while blocks give them the ascending
  // streams they follow and the step still starts on the rows the last one ended on (blocks of
  // 8–16 KB ran alike there, 4 KB as slowly as rows).
  const long r = rows % RK_DOT_ROWS;
  long block = rk_cache_size(1) / 4 / stride / RK_DOT_ROWS * RK_DOT_ROWS;
  if (block < RK_DOT_ROWS) block = RK_DOT_ROWS;
  float t[RK_DOT_ROWS];
  for (long top = rows; top > r;) {
    const long start = top - block > r ? top - block : r;
    for (long first = start; first < top; first += RK_DOT_ROWS) {
      RK_FN(dot_rows)(base + first * stride, stride, cols, x, 0, t);
#pragma clang loop unroll(full)
      for (int i = 0; i < RK_DOT_ROWS; i++) {
        if (beta != 0.0f) t[i] += beta * y[first + i];
        y[first + i] = t[i];
      }
    }
    top = start;
  }
  for (long r1 = r; r1 > 0; r1--) {
    float t1 = RK_FN(dot_row)(base + (r1 - 1) * stride, cols, x, 0, 0, 0);
    if (beta != 0.0f) t1 += beta * y[r1 - 1];
    y[r1 - 1] = t1;
  }
}

// The index of the largest element, the first on ties; NaN is skipped, and an all-NaN row gives 0.
// Two vector passes over x (which the caller has just written, so it is in cache): the largest
// value (max skips NaN), then its first position, one block of four vectors at a time.
static long RK_FN(argmax)(const float *x, long n) {
  long i = 0;
  VF m0 = RK_FN(splat)(-INFINITY), m1 = m0;
  for (; i + 2 * RK_W <= n; i += 2 * RK_W) {
    m0 = RK_FN(max)(RK_FN(load)(x + i), m0);
    m1 = RK_FN(max)(RK_FN(load)(x + i + RK_W), m1);
  }
  for (; i + RK_W <= n; i += RK_W) m0 = RK_FN(max)(RK_FN(load)(x + i), m0);
  float m = RK_FN(hmax)(RK_FN(max)(m0, m1));
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  const VF vm = RK_FN(splat)(m);
  for (i = 0; i + 4 * RK_W <= n; i += 4 * RK_W) {
    VI hit = (RK_FN(load)(x + i) == vm) | (RK_FN(load)(x + i + RK_W) == vm) | (RK_FN(load)(x + i + 2 * RK_W) == vm) |
             (RK_FN(load)(x + i + 3 * RK_W) == vm);
    if (__builtin_reduce_or(hit))
      for (long j = i;; j++)
        if (x[j] == m) return j;
  }
  for (; i < n; i++)
    if (x[i] == m) return i;
  return 0;
}

static void RK_FN(half_to_float_n)(const uint16_t *src, float *dst, long n) {
  long i = 0;
  for (; i + RK_W <= n; i += RK_W) RK_FN(store)(dst + i, RK_FN(load_half)(src + i));
  for (; i < n; i++) dst[i] = rk_half_to_float(src[i]);
}

// MARK: int8 matrix products (docs/PERFORMANCE.md, "int8 V")
//
// One math on every level: y[r] = bias[r] + float(D) · (scale[r] · xscale), with D = Σ_k A[r,k]·xq[k]
// the exact integer dot product of a row of int8 weights and the int8-quantized vector. Integer sums
// are exact, so every level (and the VNNI kernel in kernels.c) gives the same bits.

// 2·RK_W int8 as 16-bit lanes.
RK_INLINE VS RK_FN(load_s16)(const int8_t *p) {
  VB b;
  memcpy(&b, p, sizeof b);
  return __builtin_convertvector(b, VS);
}

// The 16-bit products a·b (exact: both are int8), the lower half of the lanes added to the upper
// half in 32 bits. Integer sums are exact in any order, so which products share a lane is free.
RK_INLINE VI RK_FN(madd_s16)(VS a, VS b) {
  VS p = a * b;
  return __builtin_convertvector(p.lo, VI) + __builtin_convertvector(p.hi, VI);
}

// The sum of the 32-bit lanes, in 64 bits.
RK_INLINE int64_t RK_FN(hsum_i)(VI v) {
  int64_t s = 0;
  for (int j = 0; j < RK_W; j++) s += v[j];
  return s;
}

// The exact dot products of rows a0..a3 with xq over columns [0, cols), accumulated in int32 lanes
// over chunks of RK_I8_CHUNK columns (no lane can overflow there) and in int64 across chunks.
// 2·RK_W columns per step: bytes widen to 16-bit (products of two int8 fit: |p| ≤ 2^14), and
// two products add into each 32-bit lane.
RK_INLINE void RK_FN(dot4_i8)(const int8_t *a0, const int8_t *a1, const int8_t *a2, const int8_t *a3,
                              const int8_t *xq, long cols, int64_t out[4]) {
  int64_t total[4] = {0, 0, 0, 0};
  long k = 0;
  for (long chunk = 0; chunk < cols; chunk += RK_I8_CHUNK) {
    const long end = chunk + RK_I8_CHUNK < cols ? chunk + RK_I8_CHUNK : cols;
    VI s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (k = chunk; k + 2 * RK_W <= end; k += 2 * RK_W) {
      VS xv = RK_FN(load_s16)(xq + k);
      s0 += RK_FN(madd_s16)(RK_FN(load_s16)(a0 + k), xv);
      s1 += RK_FN(madd_s16)(RK_FN(load_s16)(a1 + k), xv);
      s2 += RK_FN(madd_s16)(RK_FN(load_s16)(a2 + k), xv);
      s3 += RK_FN(madd_s16)(RK_FN(load_s16)(a3 + k), xv);
    }
    total[0] += RK_FN(hsum_i)(s0);
    total[1] += RK_FN(hsum_i)(s1);
    total[2] += RK_FN(hsum_i)(s2);
    total[3] += RK_FN(hsum_i)(s3);
    for (; k < end; k++) {
      total[0] += (int32_t)a0[k] * xq[k];
      total[1] += (int32_t)a1[k] * xq[k];
      total[2] += (int32_t)a2[k] * xq[k];
      total[3] += (int32_t)a3[k] * xq[k];
    }
  }
  for (int j = 0; j < 4; j++) out[j] = total[j];
}

#define RK_I8_NAME(name) RK_FN(name)
#define RK_I8_DOT4(a0, a1, a2, a3, x, cols, d, ahead, lda) RK_FN(dot4_i8)(a0, a1, a2, a3, x, cols, d)
#define RK_I8_CORRECTION(rowsums, r) 0
#include "i8_template.h"
#undef RK_I8_NAME
#undef RK_I8_DOT4
#undef RK_I8_CORRECTION

// MARK: bfloat16 matrix-vector product


// y[r] = bias[r] + A[r, :]·x for bfloat16 A (row stride lda) widened in registers: the products of the
// stored weights with the f32 x, summed in the order of gemv_f32, so the result is exactly that of
// A converted to f32 first.
static void RK_FN(gemv_bf16)(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias,
                             float *y) {
  RK_FN(gemv_body)(A, 2, rows, cols, lda, x, bias, 0.0f, y, 0, 0);
}

static void RK_FN(bf16_to_float_n)(const uint16_t *src, float *dst, long n) {
  long i = 0;
  for (; i + RK_W <= n; i += RK_W) RK_FN(store)(dst + i, RK_FN(load_bf16)(src + i));
  for (; i < n; i++) dst[i] = rk_bf16_to_float(src[i]);
}

static const rk_kernel_table RK_FN(table) = {
    RK_FN(activation), RK_FN(logsumexp), RK_FN(softmax), RK_FN(gemv_f16), RK_FN(gemv_f32), RK_FN(half_to_float_n),
    RK_FN(argmax),
    RK_FN(gemv_i8),    RK_FN(gemm_i8),  RK_FN(gemv_bf16), RK_FN(bf16_to_float_n), RK_FN(gemv_f32_reversed),
};

#undef RK_INLINE
#undef RK_DOT_ROWS
