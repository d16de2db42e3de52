// The packed matrix product, written once; kernels.c includes this file after kernels_template.h
// once per instruction-set level, with the same macros (RK_FN, RK_W, VF, ...) and target features.
//
// C = A·Bᵀ with A (M×K, the hidden states) and B (N×K, the output weights V), both row-major.
// Both operands are first copied into panels (rk_pack_a / rk_pack_b): A in panels of MR rows and
// B in panels of NR rows, each stored k by k (MR, resp. NR, consecutive floats per k), zero-padded
// at ragged edges. The micro-kernel then keeps an MR×NR tile of C in registers and, per k, loads
// NR floats of B (two vectors) and broadcasts MR floats of A: every load feeds MR (or two) FMAs.
// Around it, the loops block for the caches: one B micro-panel (KC×NR, in L1 or L2) serves every
// MR panel of an A block (MC×KC, in L2), and a B block (KC×NC) serves every A block. The block
// sizes come from the cache sizes detected at run time (rk_gemm_blocking in kernels.c).

// Registers: MR rows × 2 vectors of accumulators, 2 vectors of B, 1 broadcast. 32 vector registers
// with AVX-512 hold 14×2 + 3; 16 (SSE, AVX2) hold 6×2 + 3.
#define RK_INLINE static inline __attribute__((always_inline))

#if RK_W == 16
#define RK_MR 14
#else
#define RK_MR 6
#endif
#define RK_NR (2 * RK_W)

static long RK_FN(gemm_mr)(void) { return RK_MR; }
static long RK_FN(gemm_nr)(void) { return RK_NR; }

// Panels of `width` rows of X (rows×K, row stride ldx): panel p holds rows p·width ..< p·width +
// width as K groups of `width` floats (row r of the panel at offset k·width + r); missing rows are 0.
RK_INLINE void RK_FN(pack_panels)(const float *x, long rows, long K, long ldx, const long width, float *out) {
  for (long p = 0; p < rows; p += width) {
    float *panel = out + p * K;
    long n = rows - p < width ? rows - p : width;
    // Blocks of 64 k so the rows read stay in L1 while the panel is written.
    for (long k0 = 0; k0 < K; k0 += 64) {
      long k1 = k0 + 64 < K ? k0 + 64 : K;
      for (long r = 0; r < n; r++) {
        const float *row = x + (p + r) * ldx;
        for (long k = k0; k < k1; k++) panel[k * width + r] = row[k];
      }
      for (long r = n; r < width; r++)
        for (long k = k0; k < k1; k++) panel[k * width + r] = 0.0f;
    }
  }
}

static void RK_FN(pack_a)(const float *a, long M, long K, long lda, float *out) {
  RK_FN(pack_panels)(a, M, K, lda, RK_MR, out);
}

static void RK_FN(pack_b)(const float *b, long N, long K, long ldb, float *out) {
  RK_FN(pack_panels)(b, N, K, ldb, RK_NR, out);
}

// C[0..<mr, 0..<nr] (+)= the product of the first `rows` rows (a constant once inlined, mr ≤ rows ≤
// MR) of an A micro-panel and a B micro-panel over kc steps. Each row's sums run in the same order
// whatever `rows` is.
RK_INLINE void RK_FN(gemm_tile_rows)(long kc, const float *restrict a, const float *restrict b, float *restrict c,
                                     long ldc, int accumulate, long mr, long nr, const int rows) {
  VF c0[RK_MR], c1[RK_MR];
#pragma clang loop unroll(full)
  for (int i = 0; i < rows; i++) {
    c0[i] = RK_FN(splat)(0.0f);
    c1[i] = RK_FN(splat)(0.0f);
  }
  for (long k = 0; k < kc; k++) {
    VF b0 = RK_FN(load)(b), b1 = RK_FN(load)(b + RK_W);
#pragma clang loop unroll(full)
    for (int i = 0; i < rows; i++) {
      VF ai = RK_FN(splat)(a[i]);
      c0[i] = ai * b0 + c0[i];
      c1[i] = ai * b1 + c1[i];
    }
    a += RK_MR;
    b += RK_NR;
  }
  if (mr == rows && nr == RK_NR) {
#pragma clang loop unroll(full)
    for (int i = 0; i < rows; i++) {
      float *row = c + i * ldc;
      if (accumulate) {
        c0[i] += RK_FN(load)(row);
        c1[i] += RK_FN(load)(row + RK_W);
      }
      RK_FN(store)(row, c0[i]);
      RK_FN(store)(row + RK_W, c1[i]);
    }
    return;
  }
  // A ragged edge: through a tile in memory, then only the rows and columns that exist.
  float tile[RK_MR * RK_NR];
  for (int i = 0; i < rows; i++) {
    RK_FN(store)(tile + i * RK_NR, c0[i]);
    RK_FN(store)(tile + i * RK_NR + RK_W, c1[i]);
  }
  for (long i = 0; i < mr; i++)
    for (long j = 0; j < nr; j++) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0.0f) + tile[i * RK_NR + j];
}

// C[0..<mr, 0..<nr] (+)= the product of an A micro-panel and a B micro-panel over kc steps. A panel
// with fewer than MR rows left (the last of an A block whose rows are not a multiple of MR) runs a
// kernel of the next even row count, so it does not compute the zero rows that pad the panel (up
// to MR - 1 of them: 1.2% of the work for 512 rows at MR = 14).
RK_INLINE void RK_FN(gemm_tile)(long kc, const float *restrict a, const float *restrict b, float *restrict c,
                                long ldc, int accumulate, long mr, long nr) {
  if (mr > RK_MR - 2) {
    RK_FN(gemm_tile_rows)(kc, a, b, c, ldc, accumulate, mr, nr, RK_MR);
  } else if (mr <= 2) {
    RK_FN(gemm_tile_rows)(kc, a, b, c, ldc, accumulate, mr, nr, 2);
  } else if (mr <= 4) {
    RK_FN(gemm_tile_rows)(kc, a, b, c, ldc, accumulate, mr, nr, 4);
#if RK_MR > 8
  } else if (mr <= 6) {
    RK_FN(gemm_tile_rows)(kc, a, b, c, ldc, accumulate, mr, nr, 6);
  } else if (mr <= 8) {
    RK_FN(gemm_tile_rows)(kc, a, b, c, ldc, accumulate, mr, nr, 8);
  } else if (mr <= 10) {
    RK_FN(gemm_tile_rows)(kc, a, b, c, ldc, accumulate, mr, nr, 10);
#endif
  } else {
    RK_FN(gemm_tile_rows)(kc, a, b, c, ldc, accumulate, mr, nr, RK_MR - 2);
  }
}

// C[i, j - j0] = A[i, :]·B[j, :] for i < M, j0 ≤ j < j1 (j0 a multiple of NR), from packed panels;
// `ap` is the panel of row 0, `bp` that of B's row 0.
// With `accumulate`, C (+)= instead: the product is added to what C holds.
static void RK_FN(gemm_block)(long M, long K, const float *ap, const float *bp, long j0, long j1, float *c, long ldc,
                              long kc, long mc, int accumulate) {
  for (long k0 = 0; k0 < K; k0 += kc) {
    long kn = K - k0 < kc ? K - k0 : kc;
    for (long i0 = 0; i0 < M; i0 += mc) {
      long i1 = i0 + mc < M ? i0 + mc : M;
      for (long j = j0; j < j1; j += RK_NR) {
        const float *b = bp + j * K + k0 * RK_NR;
        long nr = j1 - j < RK_NR ? j1 - j : RK_NR;
        for (long i = i0; i < i1; i += RK_MR) {
          long mr = i1 - i < RK_MR ? i1 - i : RK_MR;
          RK_FN(gemm_tile)(kn, ap + i * K + k0 * RK_MR, b, c + i * ldc + (j - j0), ldc, accumulate || k0 > 0, mr, nr);
        }
      }
    }
  }
}

static void RK_FN(gemm_packed)(long M, long K, const float *ap, const float *bp, long j0, long j1, float *c,
                               long ldc, const rk_gemm_blocks *blocks, int accumulate) {
  for (long j = j0; j < j1; j += blocks->nc) {
    long jn = j1 - j < blocks->nc ? j1 - j : blocks->nc;
    RK_FN(gemm_block)(M, K, ap, bp, j, j + jn, c + (j - j0), ldc, blocks->kc, blocks->mc, accumulate);
  }
}

// exp(x) for x ≤ 0 (or -inf): the polynomial of RK_FN(exp) without the overflow and NaN handling,
// and values below -87.3 give exp(-87.3) ≈ 1e-38 instead of 0, which no sum of terms up to 1 sees.
RK_INLINE VF RK_FN(exp_nonpositive)(VF x) {
  const VF lo = RK_FN(splat)(-87.3365478515625f);
  return RK_FN(exp_clamped)(x < lo ? lo : x);
}

// log Σ exp(z[j] + bias[j]) for a row of logits: RK_FN(logsumexp), with the cheaper exponential
// once the maximum is known to be finite (every exponent is then ≤ 0).
RK_INLINE float RK_FN(row_logsumexp)(const float *z, const float *bias, long n) {
  float m = RK_FN(max_of)(z, bias, n, 1);
  if (!isfinite(m)) return m;
  const VF vm = RK_FN(splat)(m);
  VF s0 = RK_FN(splat)(0.0f), s1 = s0, s2 = s0, s3 = s0;
  long i = 0;
  for (; i + 4 * RK_W <= n; i += 4 * RK_W) {
    s0 += RK_FN(exp_nonpositive)(RK_FN(load_biased)(z, bias, i, 1) - vm);
    s1 += RK_FN(exp_nonpositive)(RK_FN(load_biased)(z, bias, i + RK_W, 1) - vm);
    s2 += RK_FN(exp_nonpositive)(RK_FN(load_biased)(z, bias, i + 2 * RK_W, 1) - vm);
    s3 += RK_FN(exp_nonpositive)(RK_FN(load_biased)(z, bias, i + 3 * RK_W, 1) - vm);
  }
  for (; i + RK_W <= n; i += RK_W) s0 += RK_FN(exp_nonpositive)(RK_FN(load_biased)(z, bias, i, 1) - vm);
  float s = RK_FN(hsum)((s0 + s1) + (s2 + s3));
  for (; i < n; i++) s += expf(z[i] + bias[i] - m);
  return m + logf(s);
}

// 2^t for t in [-126, 127]: 2^n·2^f with n = round(t) and f = t - n in [-1/2, 1/2], 2^f by a
// degree-5 polynomial (minimax for the relative error, 9.1e-8 in exact arithmetic; at most 1.7e-7,
// about 2.7 ulp, evaluated in f32 with FMA, measured on 2·10^5 points of [-1/2, 1/2]). Cheaper than
// RK_FN(exp) (6 multiply-adds instead of 10), for the sums of the scoring's log-sum-exp, whose
// f32 sum of thousands of terms rounds far more than that: the degree-6 polynomial used before (1.3
// ulp) took 6-7% more time there, and the log-probabilities of the benchmark's sequences moved by
// 3e-8 on average between the two.
RK_INLINE VF RK_FN(exp2_reduced)(VF t) {
  VF n = RK_FN(round)(t);
  VF f = t - n;
  VF p = RK_FN(splat)(1.326472731307149e-3f);
  p = p * f + RK_FN(splat)(9.671512991189957e-3f);
  p = p * f + RK_FN(splat)(5.550733581185341e-2f);
  p = p * f + RK_FN(splat)(2.402224242687225e-1f);
  p = p * f + RK_FN(splat)(6.931470036506653e-1f);
  p = p * f + RK_FN(splat)(1.0f);
  return RK_FN(scale2)(p, n);
}

// Σ exp(z[j] + bias[j] - shift) over a row of logits, in one pass that also finds the largest
// z[j] + bias[j] (*top; NaN skipped, but then the sum is NaN). Exact to a few ulp per term only
// while *top ≤ shift + 64: larger exponents overflow the reduction, which the caller must check.
// Exponents below -87.3 give about 1e-38 instead of (almost) 0, which no sum holding a term ≥ 1
// (at relative precision 1e-7) sees.
RK_INLINE float RK_FN(row_shifted_sum)(const float *z, const float *bias, long n, float shift, float *top) {
  const VF vs = RK_FN(splat)(shift), log2e = RK_FN(splat)(1.44269504088896341f), lo = RK_FN(splat)(-126.0f);
  VF s0 = RK_FN(splat)(0.0f), s1 = s0, s2 = s0, s3 = s0;
  VF m0 = RK_FN(splat)(-INFINITY), m1 = m0;
  long i = 0;
#define RK_SHIFTED_TERM(sum, maximum, offset)                                                                      \
  do {                                                                                                             \
    VF v = RK_FN(load_biased)(z, bias, i + (offset), 1);                                                           \
    maximum = RK_FN(max)(v, maximum);                                                                              \
    VF t = (v - vs) * log2e;                                                                                       \
    sum += RK_FN(exp2_reduced)(t < lo ? lo : t);                                                                   \
  } while (0)
  for (; i + 4 * RK_W <= n; i += 4 * RK_W) {
    RK_SHIFTED_TERM(s0, m0, 0);
    RK_SHIFTED_TERM(s1, m1, RK_W);
    RK_SHIFTED_TERM(s2, m0, 2 * RK_W);
    RK_SHIFTED_TERM(s3, m1, 3 * RK_W);
  }
  for (; i + RK_W <= n; i += RK_W) RK_SHIFTED_TERM(s0, m0, 0);
#undef RK_SHIFTED_TERM
  float s = RK_FN(hsum)((s0 + s1) + (s2 + s3));
  float m = RK_FN(hmax)(RK_FN(max)(m0, m1));
  for (; i < n; i++) {
    float v = z[i] + bias[i];
    m = v > m ? v : m;
    s += expf(v - shift);
  }
  *top = m;
  return s;
}

// Merges a row of logits z + bias into the row's running (maximum, sum) pair. Usually one pass:
// the exponentials shifted by the running maximum (by the first logit in the row's first block),
// then the pair moved to the block's maximum if that is larger, with one scalar exp. The two-pass
// log-sum-exp and rk_lse_merge take over when that pass cannot be exact (a value more than 64
// above the shift) and for NaN, infinities and a pair already NaN or +inf, which they define.
RK_INLINE void RK_FN(merge_row)(float *maximum, float *sum, const float *z, const float *bias, long n) {
  const float m = *maximum;
  if (m == -INFINITY || isfinite(m)) {
    const float shift = m == -INFINITY ? z[0] + bias[0] : m;
    float top;
    float s = RK_FN(row_shifted_sum)(z, bias, n, shift, &top);
    if (isfinite(shift) && isfinite(s) && top <= shift + 64.0f) {
      if (top > shift) {
        *sum = (*sum + s) * expf(shift - top);
        *maximum = top;
      } else {
        *sum += s;
        *maximum = shift;
      }
      return;
    }
  }
  rk_lse_merge(maximum, sum, RK_FN(row_logsumexp)(z, bias, n));
}

// For columns j0 ..< j1 of z = A·Bᵀ + bias, each row's log-sum-exp over those columns as a running
// (max, sum) pair (rk_lse_merge), and z[i, targets[i]] where the target falls in the range. The
// logits exist only one C block (MC×NC) at a time, in a buffer that stays in L2.
// `scratch` (MC·NC floats, or NULL to allocate them here) holds that block.
static int RK_FN(score_packed)(long M, long K, const float *ap, const float *bp, const float *bias, long j0, long j1,
                               const long *targets, float *maxima, float *sums, float *picked,
                               const rk_gemm_blocks *blocks, float *scratch) {
  const long nc = blocks->nc;
  // Rows per C block: the product's MC at most, and few enough that the block of logits takes a
  // quarter of L2 beside the B block (half of L2): written and read back from there, not from L3.
  long mc = rk_cache_size(2) / 4 / (nc * (long)sizeof(float)) / RK_MR * RK_MR;
  if (mc < RK_MR) mc = RK_MR;
  if (mc > blocks->mc) mc = blocks->mc;
  float *buffer = scratch ? scratch : aligned_alloc(64, (size_t)(mc * nc) * sizeof(float));
  if (!buffer) return 0;
  for (long j = j0; j < j1; j += nc) {
    long jn = j1 - j < nc ? j1 - j : nc;
    for (long i0 = 0; i0 < M; i0 += mc) {
      long rows = M - i0 < mc ? M - i0 : mc;
      RK_FN(gemm_block)(rows, K, ap + i0 * K, bp, j, j + jn, buffer, nc, blocks->kc, mc, 0);
      for (long r = 0; r < rows; r++) {
        long i = i0 + r;
        long target = targets[i];
        if (target < 0) continue;
        const float *z = buffer + r * nc;
        RK_FN(merge_row)(&maxima[i], &sums[i], z, bias + j, jn);
        if (target >= j && target < j + jn) picked[i] = z[target - j] + bias[target];
      }
    }
  }
  if (!scratch) free(buffer);
  return 1;
}

// For rows r < n of running log-sum-exp pairs kept range by range (range p's pair at p·stride + r):
// top[r] = the largest maximum, total[r] = Σ_p sum·e^(maximum - top), the ranges in order, a lane
// per row (the last rows padded into a full vector, so a row's result never depends on where it
// lies). A row with a pair not finite or a sum ≤ 0 gets total[r] = -1, for the caller to merge
// pair by pair (rk_lse_merge defines those cases).
static void RK_FN(merge_pairs)(long n, long parts, long stride, const float *maxima, const float *sums, float *top,
                               float *total) {
  const VF inf = RK_FN(splat)(INFINITY), zero = RK_FN(splat)(0.0f), one = RK_FN(splat)(1.0f);
  for (long r = 0; r < n; r += RK_W) {
    const long lanes = n - r < RK_W ? n - r : RK_W;
    VF t = -inf, sum = zero;
    VI ok = zero == zero;
    for (long p = 0; p < parts; p++) {
      VF m = zero, s = one;
      memcpy(&m, maxima + p * stride + r, (size_t)lanes * sizeof(float));
      memcpy(&s, sums + p * stride + r, (size_t)lanes * sizeof(float));
      ok &= (m > -inf) & (m < inf) & (s > zero) & (s < inf);
      t = RK_FN(max)(m, t);
    }
    for (long p = 0; p < parts; p++) {
      VF m = zero, s = one;
      memcpy(&m, maxima + p * stride + r, (size_t)lanes * sizeof(float));
      memcpy(&s, sums + p * stride + r, (size_t)lanes * sizeof(float));
      sum += s * RK_FN(exp)(ok ? m - t : zero);
    }
    sum = ok ? sum : -one;
    memcpy(top + r, &t, (size_t)lanes * sizeof(float));
    memcpy(total + r, &sum, (size_t)lanes * sizeof(float));
  }
}

static const rk_gemm_table RK_FN(gemm_table) = {
    RK_FN(gemm_mr),      RK_FN(gemm_nr),       RK_FN(pack_a),       RK_FN(pack_b),
    RK_FN(gemm_packed),  RK_FN(score_packed),  RK_FN(merge_pairs),
};

#undef RK_MR
#undef RK_NR
#undef RK_INLINE
