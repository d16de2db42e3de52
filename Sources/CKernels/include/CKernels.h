// Small vector kernels for RNNRuntime that BLAS does not provide: activations, log-sum-exp,
// softmax, argmax, and matrix-vector products (f32, and IEEE half weights converted on the fly).
//
// Declarations only: the bodies are in kernels.c, written once (kernels_template.h) and compiled
// for each instruction-set level. The first call picks the best level this CPU supports, once.
#ifndef RNNKIT_KERNELS_H
#define RNNKIT_KERNELS_H

#include <stdint.h>

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

/// Instruction-set levels of the kernels.
enum {
  /// Portable C vectors (SSE2 on x86-64, the compiler's baseline elsewhere).
  RK_LEVEL_PORTABLE = 0,
  /// AVX2, FMA and F16C.
  RK_LEVEL_AVX2 = 1,
  /// AVX-512 (F, BW, DQ, VL) with FMA and F16C.
  RK_LEVEL_AVX512 = 2,
  /// The number of levels.
  RK_LEVEL_COUNT = 3,
};

/// Instruction-set features beside the levels, as bits.
enum {
  /// AVX-512 VNNI (vpdpbusd): the int8 products use it at the AVX-512 level.
  RK_FEATURE_VNNI = 1,
  /// AVX-512 BF16 (vdpbf16ps): the bfloat16 matrix-vector product uses it at the AVX-512 level.
  RK_FEATURE_BF16 = 2,
  /// AVX-VNNI (vpdpbusd on ymm, VEX): the packed int8 product uses it at the AVX2 level, and at the
  /// AVX-512 level without RK_FEATURE_VNNI.
  RK_FEATURE_AVX_VNNI = 4,
};

/// The features of RK_FEATURE_* this CPU supports (detected once; VNNI and BF16 only with AVX-512,
/// AVX-VNNI only with AVX2).
int rk_cpu_features(void);

/// The features the kernels use on the calling thread.
int rk_features(void);

/// For tests: uses only `features` (a subset of the CPU's) on the calling thread, or the CPU's
/// features again when `features` is -1. Returns 1, or 0 (changing nothing) for a feature the CPU lacks.
int rk_force_features(int features);

/// The best level this CPU supports (detected once).
int rk_cpu_level(void);

/// The level the kernels run at on the calling thread.
int rk_level(void);

/// For tests: runs the calling thread's kernels at `level` (or at the CPU's level again when
/// `level` is -1). Returns 1, or 0 (changing nothing) when the CPU cannot run `level`.
int rk_force_level(int level);

/// The level rk_force_level set on the calling thread, or -1 for none (so that a caller can restore it).
int rk_thread_forced_level(void);

/// The features rk_force_features set on the calling thread, or -1 for none.
int rk_thread_forced_features(void);

/// For benchmarks: runs every thread's kernels (those a thread has not forced itself) at `level`
/// with only `features`, or at the CPU's again when both are -1; -1 for one leaves it the CPU's.
/// Call it before the kernels run. Returns 1, or 0 (changing nothing) when the CPU cannot run
/// `level` or lacks a feature.
int rk_force_process_level(int level, int features);

/// A short name for `level`, such as "avx2"; "unknown" outside the known levels.
const char *rk_level_name(int level);

/// Applies the hidden activation `kind` to `x[0..<n]` in place.
void rk_activation(int kind, float *x, long n);

/// log(sum(exp(x + c))), computed stably; `c` (a bias row) may be NULL. -inf for an all -inf row,
/// NaN if any element is NaN.
float rk_logsumexp(const float *x, const float *c, long n);

/// Softmax of `x[0..<n]` in place.
void rk_softmax(float *x, long n);

/// The index of the largest element (the first on ties); NaN elements are skipped (0 when all are NaN).
long rk_argmax(const float *x, long n);

/// 1 when every element is finite, 0 otherwise.
int rk_all_finite(const float *x, long n);

/// y[r] = bias[r] + A[r, :] . x for r in [0, rows), A IEEE half, row-major with row stride lda.
/// `bias` may be NULL.
void rk_gemv_f16(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y);

/// y[r] = beta*y[r] + A[r, :] . x for r in [0, rows), A f32 row-major with row stride lda.
void rk_gemv_f32(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y);

/// rk_gemv_f32 with the rows in reverse order when A fits in half the L2 cache (the same results):
/// a recurrence alternating the two finds the rows of W_h it read last still in L1.
void rk_gemv_f32_reversed(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y);

/// The prefetch distance in bytes the matrix-vector products of the calling thread's level use for
/// `half` (1) or f32 (0) matrices: 0 for none, -1 while the first large products still measure
/// which distance is fastest on this CPU. The distance never changes results.
long rk_gemv_prefetch_distance(int half);

/// The candidate prefetch distances and the timed calls of each that choose among them.
enum { RK_PREFETCH_DISTANCES = 4, RK_PREFETCH_TRIALS = 6 };

/// The index of the prefetch distance to keep, from each candidate's timed calls (any positive
/// unit; 0 for a call whose clock failed): the first, that is the shortest distance, whose median
/// is within 2% of the fastest median. Exposed for tests.
int rk_choose_prefetch_distance(const long times[RK_PREFETCH_DISTANCES][RK_PREFETCH_TRIALS]);

/// Rounds of trials the calibration of f32 (`half` 0) or f16 products has finished at the calling
/// thread's level: the first, then again after 64 calls of the timed size, then after four times as
/// many each time, up to 4,096.
long rk_gemv_prefetch_rounds(int half);

/// rk_choose_prefetch_distance for a later round of trials: `kept` (the index chosen before, or -1)
/// while its median is within 2% of the fastest median, else what rk_choose_prefetch_distance picks.
/// Exposed for tests.
int rk_rechoose_prefetch_distance(const long times[RK_PREFETCH_DISTANCES][RK_PREFETCH_TRIALS], int kept);

/// For tests: forgets every calibrated prefetch distance, so that the next large products
/// calibrate again from the start.
void rk_restart_prefetch_calibration(void);

/// For tests: makes the calling thread's matrix-vector products prefetch `distance` bytes ahead
/// (0: not at all), or calibrate again when `distance` is -1. Returns 0 (changing nothing) for a
/// distance outside [-1, 1 MiB].
int rk_force_prefetch_distance(long distance);

/// Converts `n` IEEE half values to float.
void rk_half_to_float_n(const uint16_t *src, float *dst, long n);

// MARK: training kernels (RNNTraining)
//
// The output layer of truncated BPTT over a window of n steps, in time tiles of RK_TRAIN_STEPS
// steps and blocks of RK_TRAIN_BLOCK vocabulary rows. Every sum has an order fixed by the shapes,
// so the results do not depend on how the blocks are spread over threads, and every level with FMA
// gives the same bits. `level` is the caller's rk_level(), passed along so that worker threads run
// the level of the thread that started them.

enum {
  /// Time steps per tile (the lanes of the training kernels, whatever the vector width).
  RK_TRAIN_STEPS = 32,
  /// Vocabulary rows per block.
  RK_TRAIN_BLOCK = 256,
};

/// For rows [first, first + count) of V (O × H) and bias c: each tile's logits (states: tiles × H ×
/// STEPS, logits: tiles × O × STEPS), replaced by exp(z − m) with m the block's maximum per step;
/// m and Σ exp(z − m) per step into blockMax and blockSum (tiles × STEPS each); z at targets[t]
/// into targetLogit[t] when the target is one of the rows.
void rk_train_logits(int level, const float *V, const float *c, long H, long O, long first, long count,
                     const float *states, long tiles, long n, const long *targets, float *logits, float *blockMax,
                     float *blockSum, float *targetLogit);

/// Combines the blocks' maxima and sums (blocks × tiles × STEPS each) in block order into each
/// block's scale e^(m_b − M)/S (0 past step n); returns the summed cross-entropy of the n steps.
float rk_train_softmax_combine(int level, long blocks, long tiles, long n, const float *blockMax,
                               const float *blockSum, const float *targetLogit, float *scale);

/// The backward pass of the output layer for one block's rows, with that block's scale (tiles ×
/// STEPS): turns its logits into ∂Loss/∂z, writes its rows of dV and dc and its share of ∂Loss/∂h
/// (partial: tiles × H × STEPS), and returns Σ dV² over its rows. hs holds h_1 … h_n, rows of H.
double rk_train_output_backward(int level, const float *V, long H, long O, long first, long count, float *logits,
                                const float *scale, long tiles, long n, const long *targets, const float *hs,
                                float *dV, float *dc, float *partial);

/// dHs (n rows of H) = the sum of the blocks' partials (each tiles × H × STEPS), in block order.
void rk_train_sum_partials(int level, long blocks, long tiles, long H, long n, const float *partials, float *dHs);

/// x[i] += step·g[i] for i in [0, count).
void rk_train_step(int level, float *x, const float *g, long count, float step);

/// One step of the recurrence: a[i] = (b[i] + W[i][H + x]) + W[i][0..<H]·h for i in [0, H), W with
/// row stride `stride` (W = [W_h | W_x]).
void rk_train_recurrent_forward(int level, const float *W, long stride, long H, const float *h, long x,
                                const float *b, float *a);

/// One step back through the recurrence: dWh[i][:] += da[i]·hPrev (dWh is H × H), and
/// dhNext = Σ_i da[i]·W[i][0..<H].
void rk_train_recurrent_backward(int level, const float *W, long stride, long H, const float *da, const float *hPrev,
                                 float *dWh, float *dhNext);

/// h[i] = tanh(a[i]) for i in [0, n), every element by the level's vector approximation (a few ulp).
void rk_train_tanh(int level, const float *a, float *h, long n);

// MARK: int8 and bfloat16 kernels (RNNRuntime)

/// Quantizes x[0..<n] for the int8 products: q[i] = x[i] / s rounded to nearest even, clamped to
/// [-127, 127], with s = max|x| / 127, which it returns (0, with q all 0, for a zero or non-finite x).
float rk_quantize_i8(const float *x, long n, int8_t *q);

/// sums[r] = Σ_k A[r, k] for an int8 rows×cols matrix (row stride cols); the VNNI kernels need them.
void rk_row_sums_i8(const int8_t *A, long rows, long cols, int32_t *sums);

/// y[r] = bias[r] + float(D_r)·(scales[r]·xscale) with D_r = Σ_k A[r, k]·xq[k] exact, for int8 A
/// (row stride lda) and xq from rk_quantize_i8. Every level gives the same bits. `bias` may be NULL;
/// `rowsums` are those of rk_row_sums_i8.
void rk_gemv_i8(const int8_t *A, long rows, long cols, long lda, const float *scales, const int32_t *rowsums,
                const int8_t *xq, float xscale, const float *bias, float *y);

/// C[i, r] (row stride ldc) as rk_gemv_i8 gives y[r] for vector i of X (n×cols, each quantized with
/// its own scale xscales[i]); A's row stride is cols.
void rk_gemm_i8(const int8_t *A, long rows, long cols, const float *scales, const int32_t *rowsums, const int8_t *X,
                long n, const float *xscales, const float *bias, float *C, long ldc);

/// The variants of the packed int8 product (rk_i8p_*): its instructions and vector width.
enum {
  /// Not available: the calling thread's level is the portable one (no SIMD).
  RK_I8P_NONE = 0,
  /// AVX-VNNI on ymm: tiles of 6 hidden states × 16 rows of V.
  RK_I8P_AVX_VNNI = 1,
  /// AVX-512 VNNI on zmm: tiles of 14 hidden states × 32 rows of V.
  RK_I8P_AVX512 = 2,
  /// AVX2 without VNNI: int16 products (vpmaddwd) on ymm, tiles of 6 × 16.
  RK_I8P_AVX2 = 3,
  /// AVX-512BW without VNNI: int16 products (vpmaddwd) on zmm, tiles of 14 × 32.
  RK_I8P_AVX512BW = 4,
};

/// The variant of the packed int8 product for the calling thread's level and features. Every
/// variant's results equal rk_gemm_i8's bit for bit; their panels differ, so each call passes the
/// variant its operands were packed for.
int rk_i8p_variant(void);

/// Hidden states per panel of the packed int8 product (MR) of `variant`.
long rk_i8p_mr(int variant);

/// Rows of V per panel of the packed int8 product (NR) of `variant`.
long rk_i8p_nr(int variant);

/// Bytes per packed row of V of length K for `variant`: K rounded up to whole groups of k.
long rk_i8p_v_row_bytes(int variant, long K);

/// Bytes per packed hidden state of length K for `variant`: 4 per group of k (4 int8 or 2 int16).
long rk_i8p_x_row_bytes(int variant, long K);

/// Copies int8 V (rows×K, row stride K) into panels of NR rows for `variant`: VNNI, 4 consecutive
/// k per 32-bit word, each byte + 128; widening, 2 consecutive k per row, bytes as they are.
/// `out` holds ceil(rows/NR)·NR·rk_i8p_v_row_bytes bytes (64-byte aligned), `outScales`
/// ceil(rows/NR)·NR floats (`scales`, then 0).
void rk_i8p_pack_v(int variant, const int8_t *A, long rows, long K, const float *scales, uint8_t *out,
                   float *outScales);

/// Quantizes each of `rows` hidden states h (rows×K) as rk_quantize_i8 does into panels of MR rows
/// (`out`: ceil(rows/MR)·MR·rk_i8p_x_row_bytes bytes, 64-byte aligned), with each one's scale and
/// Σ_k hq[k] (`xscales`, `xsums`: ceil(rows/MR)·MR values, 0 for the padding). Returns 0 when a
/// buffer could not be allocated.
int rk_i8p_pack_x(int variant, const float *h, long rows, long K, int8_t *out, float *xscales, int32_t *xsums);

/// Floats of scratch rk_i8p_score needs for M hidden states of length K.
long rk_i8p_scratch_count(int variant, long M, long K);

/// C[i, j - j0] (row stride ldc) = rk_gemm_i8's C[i, j] for M packed hidden states and columns
/// j0 ..< j1 of packed V (j0 a multiple of NR); `bias` indexed by j, or NULL.
void rk_i8p_logits(int variant, long M, long K, const int8_t *xp, const int32_t *xsums, const float *xscales,
                   const uint8_t *vp, const float *vscales, const float *bias, long j0, long j1, float *c, long ldc);

/// rk_score_packed for int8 V: merges each row's log-sum-exp of the logits (rk_gemm_i8's, without
/// bias) + bias over columns j0 ..< j1 into (maxima[i], sums[i]) and sets picked[i] to the target's
/// logit + bias when in range; rows with a negative target are skipped. `scratch` holds
/// rk_i8p_scratch_count floats, or is NULL. Returns 0 when its buffer could not be allocated or
/// the variant is RK_I8P_NONE.
int rk_i8p_score(int variant, long M, long K, const int8_t *xp, const int32_t *xsums, const float *xscales,
                 const uint8_t *vp, const float *vscales, const float *bias, long j0, long j1, const long *targets,
                 float *maxima, float *sums, float *picked, float *scratch);

/// y[r] = bias[r] + A[r, :] . x for bfloat16 A (row stride lda); `bias` may be NULL. Every level
/// widens A in registers, exactly as if A had been converted to f32 (the same sums as rk_gemv_f32).
/// With `dot` nonzero and RK_FEATURE_BF16 at the AVX-512 level, x is rounded to bfloat16 (nearest
/// even) instead and vdpbf16ps sums the products.
void rk_gemv_bf16(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y,
                  int dot);

/// Converts `n` bfloat16 values to float (exact).
void rk_bf16_to_float_n(const uint16_t *src, float *dst, long n);

// MARK: packed matrix product (C = A·Bᵀ)

/// Block sizes of the packed matrix product: K, rows (M) and columns (N) per block.
typedef struct {
  long kc, mc, nc;
} rk_gemm_blocks;

/// The cache size in bytes (1: L1 data, 2: L2, 3: L3), detected once; a small default when unknown.
long rk_cache_size(int which);

/// Tells the CPU the calling thread is spinning on a flag (x86 `pause`, arm64 `yield`), so a spin
/// leaves the core's shared resources to the work it waits for.
void rk_spin_pause(void);

/// Lets another runnable thread have the calling thread's core, if one waits (sched_yield); returns
/// at once on an idle machine.
void rk_spin_yield(void);

/// Rows per panel of a packed A at `level` (the micro-kernel's MR).
long rk_gemm_mr(int level);

/// Rows per panel of a packed B at `level` (the micro-kernel's NR).
long rk_gemm_nr(int level);

/// Block sizes for an M×K A at `level`, from the cache sizes.
rk_gemm_blocks rk_gemm_blocking(int level, long M, long K);

/// Copies A (M×K, row stride lda) into panels of MR rows; `out` holds ceil(M/MR)·MR·K floats.
void rk_pack_a(int level, const float *a, long M, long K, long lda, float *out);

/// rk_pack_a for the columns k0 ..< k1 of A only: writes just their part of each panel (`out` laid
/// out for all K columns), so that threads can pack disjoint column ranges of one A.
void rk_pack_a_columns(int level, const float *a, long M, long K, long lda, long k0, long k1, float *out);

/// Copies B (N×K, row stride ldb) into panels of NR rows; `out` holds ceil(N/NR)·NR·K floats.
void rk_pack_b(int level, const float *b, long N, long K, long ldb, float *out);

/// C[i, j - j0] = A[i, :]·B[j, :] for i < M and j0 ≤ j < j1 (j0 a multiple of NR), from A and B
/// packed at the same `level`.
void rk_gemm_packed(int level, long M, long K, const float *ap, const float *bp, long j0, long j1, float *c,
                    long ldc, const rk_gemm_blocks *blocks);

/// C[i, j - j0] += A[i, :]·B[j, :]: rk_gemm_packed adding to C instead of overwriting it.
void rk_gemm_packed_add(int level, long M, long K, const float *ap, const float *bp, long j0, long j1, float *c,
                        long ldc, const rk_gemm_blocks *blocks);

/// For z = A·Bᵀ + bias over columns j0 ..< j1 (j0 a multiple of NR): merges each row's log-sum-exp
/// of those columns into the running pair (maxima[i], sums[i]), which rk_lse_merge also keeps
/// (the row's log-sum-exp so far is maxima[i] + log(sums[i])), and sets picked[i] = z[i,
/// targets[i]] when the target is in range. Rows whose target is negative are skipped. `scratch`
/// holds blocks->mc · blocks->nc floats for one block of logits, or is NULL (then allocated per
/// call). Returns 0 when its buffer could not be allocated (or K is 0), 1 otherwise.
int rk_score_packed(int level, long M, long K, const float *ap, const float *bp, const float *bias, long j0, long j1,
                    const long *targets, float *maxima, float *sums, float *picked, const rk_gemm_blocks *blocks,
                    float *scratch);

/// For rows r < n of log-sum-exp pairs (maximum, sum) kept per column range (range p's at p·stride
/// + r): top[r] = the largest maximum and total[r] = Σ_p sum·e^(maximum - top[r]), the same for a
/// row wherever it lies. A row with a pair not finite, or a sum ≤ 0, gets total[r] = -1 (merge it
/// pair by pair with rk_lse_merge).
void rk_merge_pairs(int level, long n, long parts, long stride, const float *maxima, const float *sums, float *top,
                    float *total);

/// Merges the log-sum-exp `lse` of more values into a running pair: log-sum-exp = maximum +
/// log(sum). Start from (-inf, 0); NaN stays NaN.
void rk_lse_merge(float *maximum, float *sum, float lse);

#endif
