// The packed int8 product for scoring with an int8 V (AVX-512 VNNI only), included once by
// kernels.c after the levels (it calls the AVX-512 level's log-sum-exp merge).
//
// vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes per 32-bit lane and adds the 4 products:
// 64 multiply-adds per instruction. Here V is the unsigned side, stored once as u = q + 128 (q XOR
// 0x80) in panels of RK_I8P_NR rows, 4 consecutive k per lane (group g of panel p: RK_I8P_NR words,
// row r's bytes 4g ..< 4g + 4 in word r). The quantized hidden states are the signed side, in
// panels of RK_I8P_MR rows (group g: RK_I8P_MR words), each word broadcast to all lanes. So
// Σ_k u[r,k]·hq[i,k] = D[i,r] + 128·Σ_k hq[i,k], and the correction is one integer per hidden
// state. Padding is 0 in the hidden states (k past the end and missing rows), so whatever V holds
// there adds nothing; V's padding is 128 (q = 0) all the same.
//
// The micro-kernel keeps an MR×NR tile of 32-bit sums in registers (2·MR vectors, 2 vectors of V,
// the broadcast folded into vpdpbusd): per group of 4 k, 2 loads of V and MR broadcasts feed 2·MR
// vpdpbusd. A lane gathers at most RK_I8_CHUNK/4 = 8,192 sums of 4 products |255·127| before the
// tile moves to 64 bits, at most 1.07·10^9 < 2^31; with K ≤ RK_I8_CHUNK (every model the benchmark
// runs) there is one chunk and D = sum − 128·Σ hq stays within ±5.4·10^8, so the finish is in
// vectors. Then logit = float(D)·(scale_r·s_h) (+ c_r), rounded as rk_i8_finish rounds: the same bits.

#define RK_I8P_INLINE static inline __attribute__((always_inline))

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,avx512vnni"))), \
                             apply_to = function)

static inline long rk_i8p_groups(long K) { return (K + 3) / 4; }

void rk_i8p_pack_v(const int8_t *A, long rows, long K, const float *scales, uint8_t *out, float *outScales) {
  const long groups = rk_i8p_groups(K);
  for (long p = 0; p < rows; p += RK_I8P_NR) {
    uint8_t *panel = out + p * groups * 4;
    const long n = rows - p < RK_I8P_NR ? rows - p : RK_I8P_NR;
    memset(panel, 0x80, (size_t)(groups * 4 * RK_I8P_NR));
    for (long r = 0; r < n; r++) {
      const int8_t *row = A + (p + r) * K;
      for (long k = 0; k < K; k++) panel[(k >> 2) * 4 * RK_I8P_NR + r * 4 + (k & 3)] = (uint8_t)row[k] ^ 0x80u;
    }
    for (long r = 0; r < RK_I8P_NR; r++) outScales[p + r] = r < n ? scales[p + r] : 0.0f;
  }
}

int rk_i8p_pack_x(const float *h, long rows, long K, int8_t *out, float *xscales, int32_t *xsums) {
  const long groups = rk_i8p_groups(K);
  int8_t stack[4096];
  int8_t *q = K <= 4096 ? stack : malloc((size_t)K);
  if (!q) return 0;
  for (long p = 0; p < rows; p += RK_I8P_MR) {
    int8_t *panel = out + p * groups * 4;
    const long n = rows - p < RK_I8P_MR ? rows - p : RK_I8P_MR;
    memset(panel, 0, (size_t)(groups * 4 * RK_I8P_MR));
    for (long i = 0; i < RK_I8P_MR; i++) {
      if (i >= n) {
        xscales[p + i] = 0.0f;
        xsums[p + i] = 0;
        continue;
      }
      xscales[p + i] = rk_quantize_i8(h + (p + i) * K, K, q);
      int32_t sum = 0;
      for (long k = 0; k < K; k++) {
        panel[(k >> 2) * 4 * RK_I8P_MR + i * 4 + (k & 3)] = q[k];
        sum += q[k];
      }
      xsums[p + i] = sum;
    }
  }
  if (q != stack) free(q);
  return 1;
}

// The 32-bit sums of an MR×NR tile over `groups` groups of 4 k, stored to acc (row i at i·NR).
RK_I8P_INLINE void rk_i8p_tile(long groups, const int8_t *restrict a, const uint8_t *restrict b,
                               int32_t *restrict acc) {
  __m512i c0[RK_I8P_MR], c1[RK_I8P_MR];
#pragma clang loop unroll(full)
  for (int i = 0; i < RK_I8P_MR; i++) {
    c0[i] = _mm512_setzero_si512();
    c1[i] = _mm512_setzero_si512();
  }
  for (long g = 0; g < groups; g++) {
    const __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 64);
#pragma clang loop unroll(full)
    for (int i = 0; i < RK_I8P_MR; i++) {
      int32_t word;
      memcpy(&word, a + 4 * i, 4);
      const __m512i ai = _mm512_set1_epi32(word);
      c0[i] = _mm512_dpbusd_epi32(c0[i], b0, ai);
      c1[i] = _mm512_dpbusd_epi32(c1[i], b1, ai);
    }
    a += 4 * RK_I8P_MR;
    b += 4 * RK_I8P_NR;
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < RK_I8P_MR; i++) {
    _mm512_storeu_si512(acc + i * RK_I8P_NR, c0[i]);
    _mm512_storeu_si512(acc + i * RK_I8P_NR + 16, c1[i]);
  }
}

// C[i, j] = float(D[i, j])·(vscales[j]·xscales[i]) (+ bias[j]) for the tile of hidden-state panel
// `a` and V panel `b`: mr ≤ MR rows and nr ≤ NR columns of C (row stride ldc) are written.
// `bias` holds nr values, or is NULL. `wide` (MR·NR int64) is scratch for K > RK_I8_CHUNK.
RK_I8P_INLINE void rk_i8p_logits_tile(long groups, const int8_t *a, const uint8_t *b, const int32_t *xsums,
                                      const float *xscales, const float *vscales, const float *bias, float *c,
                                      long ldc, long mr, long nr, int64_t *wide) {
  int32_t acc[RK_I8P_MR * RK_I8P_NR] __attribute__((aligned(64)));
  const long chunk = RK_I8_CHUNK / 4;
  if (groups > chunk) {
    // More than one chunk: each chunk's sums in 32 bits, their total in 64, finished one by one.
    for (long i = 0; i < RK_I8P_MR * RK_I8P_NR; i++) wide[i] = 0;
    for (long g = 0; g < groups; g += chunk) {
      const long n = groups - g < chunk ? groups - g : chunk;
      rk_i8p_tile(n, a + g * 4 * RK_I8P_MR, b + g * 4 * RK_I8P_NR, acc);
      for (long i = 0; i < RK_I8P_MR * RK_I8P_NR; i++) wide[i] += acc[i];
    }
    for (long i = 0; i < mr; i++)
      for (long j = 0; j < nr; j++)
        c[i * ldc + j] = rk_i8_finish(wide[i * RK_I8P_NR + j] - 128 * (int64_t)xsums[i], vscales[j], xscales[i],
                                      bias ? bias[j] : 0.0f);
    return;
  }
  rk_i8p_tile(groups, a, b, acc);
  const __m512 s0 = _mm512_loadu_ps(vscales), s1 = _mm512_loadu_ps(vscales + 16);
  const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
  const __m512 c0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 c1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
  for (long i = 0; i < mr; i++) {
    const __m512i correction = _mm512_set1_epi32(128 * xsums[i]);
    const __m512 xs = _mm512_set1_ps(xscales[i]);
    const __m512 d0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(acc + i * RK_I8P_NR), correction));
    const __m512 d1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(acc + i * RK_I8P_NR + 16), correction));
    // Two roundings, product then sum, as rk_i8_finish.
    const __m512 z0 = _mm512_add_ps(_mm512_mul_ps(d0, _mm512_mul_ps(s0, xs)), c0);
    const __m512 z1 = _mm512_add_ps(_mm512_mul_ps(d1, _mm512_mul_ps(s1, xs)), c1);
    _mm512_mask_storeu_ps(c + i * ldc, m0, z0);
    _mm512_mask_storeu_ps(c + i * ldc + 16, m1, z1);
  }
}

// Block sizes: a block of V (NC rows of K bytes) in a quarter of L2, and the block of logits
// (MC×NC floats) in another quarter, so both are written and read back from L2.
static void rk_i8p_blocking(long M, long K, long *mc, long *nc) {
  const long l2 = rk_cache_size(2), bytes = rk_i8p_groups(K) * 4;
  long n = l2 / 4 / (bytes > 0 ? bytes : 1) / RK_I8P_NR * RK_I8P_NR;
  if (n < RK_I8P_NR) n = RK_I8P_NR;
  long m = l2 / 4 / (n * (long)sizeof(float)) / RK_I8P_MR * RK_I8P_MR;
  if (m < RK_I8P_MR) m = RK_I8P_MR;
  const long rows = (M + RK_I8P_MR - 1) / RK_I8P_MR * RK_I8P_MR;
  if (m > rows) m = rows;
  *mc = m;
  *nc = n;
}

long rk_i8p_scratch_count(long M, long K) {
  long mc, nc;
  rk_i8p_blocking(M, K, &mc, &nc);
  return mc * nc;
}

// Logits of hidden-state panels [i0, i0 + rows) (rows ≤ MC) against V's columns [j, j + jn) into
// `c` (row stride ldc), from the panels `xp` and `vp`; j is a multiple of NR.
static void rk_i8p_block(long i0, long rows, long K, const int8_t *xp, const int32_t *xsums, const float *xscales,
                         const uint8_t *vp, const float *vscales, const float *bias, long j, long jn, float *c,
                         long ldc) {
  const long groups = rk_i8p_groups(K);
  int64_t wide[RK_I8P_MR * RK_I8P_NR];
  for (long jp = j; jp < j + jn; jp += RK_I8P_NR) {
    const long nr = j + jn - jp < RK_I8P_NR ? j + jn - jp : RK_I8P_NR;
    const uint8_t *b = vp + jp * groups * 4;
    for (long i = i0; i < i0 + rows; i += RK_I8P_MR) {
      const long mr = i0 + rows - i < RK_I8P_MR ? i0 + rows - i : RK_I8P_MR;
      rk_i8p_logits_tile(groups, xp + i * groups * 4, b, xsums + i, xscales + i, vscales + jp,
                         bias ? bias + jp : NULL, c + (i - i0) * ldc + (jp - j), ldc, mr, nr, wide);
    }
  }
}

void rk_i8p_logits(long M, long K, const int8_t *xp, const int32_t *xsums, const float *xscales, const uint8_t *vp,
                   const float *vscales, const float *bias, long j0, long j1, float *c, long ldc) {
  long mc, nc;
  rk_i8p_blocking(M, K, &mc, &nc);
  for (long j = j0; j < j1; j += nc) {
    const long jn = j1 - j < nc ? j1 - j : nc;
    for (long i0 = 0; i0 < M; i0 += mc) {
      const long rows = M - i0 < mc ? M - i0 : mc;
      rk_i8p_block(i0, rows, K, xp, xsums, xscales, vp, vscales, bias, j, jn, c + i0 * ldc + (j - j0), ldc);
    }
  }
}

int rk_i8p_score(long M, long K, const int8_t *xp, const int32_t *xsums, const float *xscales, const uint8_t *vp,
                 const float *vscales, const float *bias, long j0, long j1, const long *targets, float *maxima,
                 float *sums, float *picked, float *scratch) {
  long mc, nc;
  rk_i8p_blocking(M, K, &mc, &nc);
  float *buffer = scratch ? scratch : aligned_alloc(64, (size_t)(mc * nc) * sizeof(float));
  if (!buffer) return 0;
  for (long j = j0; j < j1; j += nc) {
    const long jn = j1 - j < nc ? j1 - j : nc;
    for (long i0 = 0; i0 < M; i0 += mc) {
      const long rows = M - i0 < mc ? M - i0 : mc;
      // Logits without c, which the merge adds as it reads them (as the f32 scoring does).
      rk_i8p_block(i0, rows, K, xp, xsums, xscales, vp, vscales, NULL, j, jn, buffer, nc);
      for (long r = 0; r < rows; r++) {
        const long i = i0 + r, target = targets[i];
        if (target < 0) continue;
        const float *z = buffer + r * nc;
        merge_row_avx512(&maxima[i], &sums[i], z, bias + j, jn);
        if (target >= j && target < j + jn) picked[i] = z[target - j] + bias[target];
      }
    }
  }
  if (!scratch) free(buffer);
  return 1;
}

#pragma clang attribute pop
#undef RK_I8P_INLINE
