// The packed int8 product for scoring with an int8 V, written once for its four variants
// (kernels.c, "packed int8 product"): AVX-512 VNNI (zmm, 32 registers), AVX-VNNI (ymm, 16), and,
// on CPUs with neither, the widening forms at AVX-512BW (zmm) and AVX2 (ymm). Included, with no
// include guard, after the levels (it calls their log-sum-exp merge), inside the target of its
// width, with these defined first:
//   RK_I8P(name)            the name of each function;
//   RK_I8P_MR, RK_I8P_NR    hidden states and rows of V per tile (NR = 2 vectors of 32-bit lanes);
//   RK_I8P_KG               k per 32-bit lane and group: 4 (VNNI, bytes) or 2 (widening, int16);
//   RK_I8P_OFFSET           what packing added to each byte of V: 128 (VNNI) or 0 (widening);
//   RK_I8P_VEC              the integer vector type; RK_I8P_ZERO(), RK_I8P_LOAD(p) (aligned; NR/2
//                           rows of V, widened when the variant widens), RK_I8P_LOADU(p),
//                           RK_I8P_STOREU(p, v), RK_I8P_BCAST(word), RK_I8P_SUB(a, b),
//                           RK_I8P_DOT(sums, v, x);
//   RK_I8P_FVEC             the float vector type; RK_I8P_FZERO(), RK_I8P_FLOADU(p),
//                           RK_I8P_FSTOREU(p, v), RK_I8P_FBCAST(x), RK_I8P_FMUL, RK_I8P_FADD,
//                           RK_I8P_CVT(v) (int32 to float, rounded to nearest even);
//   RK_I8P_MERGE_ROW        the level's merge_row (gemm_template.h).
// It undefines them all at its end, so the next variant defines its own.
//
// VNNI: vpdpbusd multiplies 4 unsigned by 4 signed bytes per 32-bit lane and adds the 4 products:
// 64 multiply-adds per zmm instruction. V is the unsigned side, packed once as u = q + 128 (q XOR
// 0x80) in panels of NR rows, 4 consecutive k per lane (group g of a panel: NR words, row r's bytes
// 4g ..< 4g + 4 in word r; rk_i8p_pack_v). The quantized hidden states are the signed side, in
// panels of MR rows (group g: MR words; rk_i8p_pack_x), one word broadcast to every lane. So
// Σ_k u[r,k]·hq[i,k] = D[i,r] + 128·Σ_k hq[i,k]: one correction per hidden state.
//
// Widening (no VNNI): vpmaddubsw would saturate (255·127·2 > 32,767), so V's bytes stay signed, 2
// consecutive k per row of a group (NR·2 bytes), sign-extended to int16 as they are loaded
// (vpmovsxbw), and the hidden states are packed as int16 pairs (one 32-bit word per row and group);
// vpmaddwd multiplies the pairs exactly and adds them into 32-bit lanes, vpaddd accumulates: D
// itself, no correction. Padding is 0 in the hidden states (k past the end, missing rows), so it
// adds nothing whatever V holds there.
//
// The micro-kernel keeps an MR×NR tile of 32-bit sums in registers (2·MR vectors, 2 of V, 1
// broadcast): per group, 2 loads of V and MR broadcasts feed 2·MR products. A lane gathers at most
// RK_I8_CHUNK/KG sums of KG products before the tile moves to 64 bits: VNNI 8,192 sums of 4
// products |255·127|, at most 1.07·10^9 < 2^31 (with K ≤ RK_I8_CHUNK, one chunk, D = sum − 128·Σ hq
// stays within ±5.4·10^8, so the finish is in 32 bits); widening 16,384 sums of 2 products
// |128·127|, at most 5.4·10^8. Then logit = float(D)·(scale_r·s_h), then + c_r, rounded as
// rk_i8_finish rounds: the same bits as rk_gemm_i8.

// The 32-bit sums of an MR×NR tile over `groups` groups of KG k, stored to acc (row i at i·NR).
static inline __attribute__((always_inline)) void RK_I8P(tile)(long groups, const int8_t *restrict a,
                                                               const uint8_t *restrict b, int32_t *restrict acc) {
  RK_I8P_VEC c0[RK_I8P_MR], c1[RK_I8P_MR];
#pragma clang loop unroll(full)
  for (int i = 0; i < RK_I8P_MR; i++) {
    c0[i] = RK_I8P_ZERO();
    c1[i] = RK_I8P_ZERO();
  }
  for (long g = 0; g < groups; g++) {
    const RK_I8P_VEC b0 = RK_I8P_LOAD(b), b1 = RK_I8P_LOAD(b + RK_I8P_KG * RK_I8P_NR / 2);
#pragma clang loop unroll(full)
    for (int i = 0; i < RK_I8P_MR; i++) {
      int32_t word;
      memcpy(&word, a + 4 * i, 4);
      const RK_I8P_VEC ai = RK_I8P_BCAST(word);
      c0[i] = RK_I8P_DOT(c0[i], b0, ai);
      c1[i] = RK_I8P_DOT(c1[i], b1, ai);
    }
    a += 4 * RK_I8P_MR;
    b += RK_I8P_KG * RK_I8P_NR;
  }
#pragma clang loop unroll(full)
  for (int i = 0; i < RK_I8P_MR; i++) {
    RK_I8P_STOREU(acc + i * RK_I8P_NR, c0[i]);
    RK_I8P_STOREU(acc + i * RK_I8P_NR + RK_I8P_NR / 2, c1[i]);
  }
}

// C[i, j] = float(D[i, j])·(vscales[j]·xscales[i]) + bias[j] (0 when bias is NULL) for the tile of
// hidden-state panel `a` and V panel `b`: mr ≤ MR rows and nr ≤ NR columns of C (row stride ldc)
// are written; bias holds nr values. `wide` (MR·NR int64) is scratch for K > RK_I8_CHUNK.
static inline __attribute__((always_inline)) void RK_I8P(logits_tile)(long groups, const int8_t *a, const uint8_t *b,
                                                                      const int32_t *xsums, const float *xscales,
                                                                      const float *vscales, const float *bias,
                                                                      float *c, long ldc, long mr, long nr,
                                                                      int64_t *wide) {
  int32_t acc[RK_I8P_MR * RK_I8P_NR] __attribute__((aligned(64)));
  const long chunk = RK_I8_CHUNK / RK_I8P_KG;
  if (groups > chunk) {
    // More than one chunk: each chunk's sums in 32 bits, their total in 64, finished one by one.
    for (long i = 0; i < RK_I8P_MR * RK_I8P_NR; i++) wide[i] = 0;
    for (long g = 0; g < groups; g += chunk) {
      const long n = groups - g < chunk ? groups - g : chunk;
      RK_I8P(tile)(n, a + g * 4 * RK_I8P_MR, b + g * RK_I8P_KG * RK_I8P_NR, acc);
      for (long i = 0; i < RK_I8P_MR * RK_I8P_NR; i++) wide[i] += acc[i];
    }
    for (long i = 0; i < mr; i++)
      for (long j = 0; j < nr; j++)
        c[i * ldc + j] = rk_i8_finish(wide[i * RK_I8P_NR + j] - RK_I8P_OFFSET * (int64_t)xsums[i], vscales[j],
                                      xscales[i], bias ? bias[j] : 0.0f);
    return;
  }
  RK_I8P(tile)(groups, a, b, acc);
  if (nr < RK_I8P_NR) {
    // A ragged edge (V's last panel), where c has only nr values: one by one.
    for (long i = 0; i < mr; i++)
      for (long j = 0; j < nr; j++)
        c[i * ldc + j] = rk_i8_finish(acc[i * RK_I8P_NR + j] - RK_I8P_OFFSET * xsums[i], vscales[j], xscales[i],
                                      bias ? bias[j] : 0.0f);
    return;
  }
  // Product, then sum, each rounded (rk_i8_finish; intrinsics are never fused into an FMA).
  const RK_I8P_FVEC s0 = RK_I8P_FLOADU(vscales), s1 = RK_I8P_FLOADU(vscales + RK_I8P_NR / 2);
  const RK_I8P_FVEC c0 = bias ? RK_I8P_FLOADU(bias) : RK_I8P_FZERO();
  const RK_I8P_FVEC c1 = bias ? RK_I8P_FLOADU(bias + RK_I8P_NR / 2) : RK_I8P_FZERO();
  for (long i = 0; i < mr; i++) {
    const RK_I8P_VEC correction = RK_I8P_BCAST(RK_I8P_OFFSET * xsums[i]);
    const RK_I8P_FVEC xs = RK_I8P_FBCAST(xscales[i]);
    const RK_I8P_FVEC d0 = RK_I8P_CVT(RK_I8P_SUB(RK_I8P_LOADU(acc + i * RK_I8P_NR), correction));
    const RK_I8P_FVEC d1 = RK_I8P_CVT(RK_I8P_SUB(RK_I8P_LOADU(acc + i * RK_I8P_NR + RK_I8P_NR / 2), correction));
    RK_I8P_FSTOREU(c + i * ldc, RK_I8P_FADD(RK_I8P_FMUL(d0, RK_I8P_FMUL(s0, xs)), c0));
    RK_I8P_FSTOREU(c + i * ldc + RK_I8P_NR / 2, RK_I8P_FADD(RK_I8P_FMUL(d1, RK_I8P_FMUL(s1, xs)), c1));
  }
}

// Logits of hidden-state panels [i0, i0 + rows) against V's columns [j, j + jn) into `c` (row
// stride ldc), from the panels `xp` and `vp`; j is a multiple of NR.
static void RK_I8P(block)(long i0, long rows, long K, const int8_t *xp, const int32_t *xsums, const float *xscales,
                          const uint8_t *vp, const float *vscales, const float *bias, long j, long jn, float *c,
                          long ldc) {
  const long groups = (K + RK_I8P_KG - 1) / RK_I8P_KG;
  int64_t wide[RK_I8P_MR * RK_I8P_NR];
  for (long jp = j; jp < j + jn; jp += RK_I8P_NR) {
    const long nr = j + jn - jp < RK_I8P_NR ? j + jn - jp : RK_I8P_NR;
    const uint8_t *b = vp + jp * groups * RK_I8P_KG;
    for (long i = i0; i < i0 + rows; i += RK_I8P_MR) {
      const long mr = i0 + rows - i < RK_I8P_MR ? i0 + rows - i : RK_I8P_MR;
      RK_I8P(logits_tile)(groups, xp + i * groups * 4, b, xsums + i, xscales + i, vscales + jp,
                          bias ? bias + jp : NULL, c + (i - i0) * ldc + (jp - j), ldc, mr, nr, wide);
    }
  }
}

static void RK_I8P(logits)(long M, long K, const int8_t *xp, const int32_t *xsums, const float *xscales,
                           const uint8_t *vp, const float *vscales, const float *bias, long j0, long j1, float *c,
                           long ldc) {
  long mc, nc;
  rk_i8p_blocking(M, rk_i8p_v_row_bytes_of(RK_I8P_KG, K), RK_I8P_MR, RK_I8P_NR, &mc, &nc);
  for (long j = j0; j < j1; j += nc) {
    const long jn = j1 - j < nc ? j1 - j : nc;
    for (long i0 = 0; i0 < M; i0 += mc) {
      const long rows = M - i0 < mc ? M - i0 : mc;
      RK_I8P(block)(i0, rows, K, xp, xsums, xscales, vp, vscales, bias, j, jn, c + i0 * ldc + (j - j0), ldc);
    }
  }
}

static int RK_I8P(score)(long M, long K, const int8_t *xp, const int32_t *xsums, const float *xscales,
                         const uint8_t *vp, const float *vscales, const float *bias, long j0, long j1,
                         const long *targets, float *maxima, float *sums, float *picked, float *scratch) {
  long mc, nc;
  rk_i8p_blocking(M, rk_i8p_v_row_bytes_of(RK_I8P_KG, K), RK_I8P_MR, RK_I8P_NR, &mc, &nc);
  float *buffer = scratch ? scratch : aligned_alloc(64, (size_t)(mc * nc) * sizeof(float));
  if (!buffer) return 0;
  for (long j = j0; j < j1; j += nc) {
    const long jn = j1 - j < nc ? j1 - j : nc;
    for (long i0 = 0; i0 < M; i0 += mc) {
      const long rows = M - i0 < mc ? M - i0 : mc;
      // Logits without c, which the merge adds as it reads them (as the f32 scoring does).
      RK_I8P(block)(i0, rows, K, xp, xsums, xscales, vp, vscales, NULL, j, jn, buffer, nc);
      for (long r = 0; r < rows; r++) {
        const long i = i0 + r, target = targets[i];
        if (target < 0) continue;
        const float *z = buffer + r * nc;
        RK_I8P_MERGE_ROW(&maxima[i], &sums[i], z, bias + j, jn);
        if (target >= j && target < j + jn) picked[i] = z[target - j] + bias[target];
      }
    }
  }
  if (!scratch) free(buffer);
  return 1;
}

#undef RK_I8P
#undef RK_I8P_BCAST
#undef RK_I8P_CVT
#undef RK_I8P_DOT
#undef RK_I8P_FADD
#undef RK_I8P_FBCAST
#undef RK_I8P_FLOADU
#undef RK_I8P_FMUL
#undef RK_I8P_FSTOREU
#undef RK_I8P_FVEC
#undef RK_I8P_FZERO
#undef RK_I8P_KG
#undef RK_I8P_LOAD
#undef RK_I8P_LOADU
#undef RK_I8P_MERGE_ROW
#undef RK_I8P_MR
#undef RK_I8P_NR
#undef RK_I8P_OFFSET
#undef RK_I8P_STOREU
#undef RK_I8P_SUB
#undef RK_I8P_VEC
#undef RK_I8P_ZERO
