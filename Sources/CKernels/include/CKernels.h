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

/// The best level this CPU supports (detected once).
int rk_cpu_level(void);

/// The level the kernels run at on the calling thread.
int rk_level(void);

/// For tests: runs the calling thread's kernels at `level` (or at the CPU's level again when
/// `level` is -1). Returns 1, or 0 (changing nothing) when the CPU cannot run `level`.
int rk_force_level(int level);

/// A short name for `level`, such as "avx2"; "unknown" outside the known levels.
const char *rk_level_name(int level);

/// Applies the hidden activation `kind` to `x[0..<n]` in place.
void rk_activation(int kind, float *x, long n);

/// log(sum(exp(x + c))), computed stably; `c` (a bias row) may be NULL. -inf for an all -inf row,
/// NaN if any element is NaN.
float rk_logsumexp(const float *x, const float *c, long n);

/// Softmax of `x[0..<n]` in place.
void rk_softmax(float *x, long n);

/// The index of the largest element (the first on ties); NaN elements are skipped.
long rk_argmax(const float *x, long n);

/// 1 when every element is finite, 0 otherwise.
int rk_all_finite(const float *x, long n);

/// y[r] = bias[r] + A[r, :] . x for r in [0, rows), A IEEE half, row-major with row stride lda.
/// `bias` may be NULL.
void rk_gemv_f16(const uint16_t *A, long rows, long cols, long lda, const float *x, const float *bias, float *y);

/// y[r] = beta*y[r] + A[r, :] . x for r in [0, rows), A f32 row-major with row stride lda.
void rk_gemv_f32(const float *A, long rows, long cols, long lda, const float *x, float beta, float *y);

/// Converts `n` IEEE half values to float.
void rk_half_to_float_n(const uint16_t *src, float *dst, long n);

// MARK: packed matrix product (C = A·Bᵀ)

/// Block sizes of the packed matrix product: K, rows (M) and columns (N) per block.
typedef struct {
  long kc, mc, nc;
} rk_gemm_blocks;

/// The cache size in bytes (1: L1 data, 2: L2, 3: L3), detected once; a small default when unknown.
long rk_cache_size(int which);

/// Rows per panel of a packed A at `level` (the micro-kernel's MR).
long rk_gemm_mr(int level);

/// Rows per panel of a packed B at `level` (the micro-kernel's NR).
long rk_gemm_nr(int level);

/// Block sizes for an M×K A at `level`, from the cache sizes.
rk_gemm_blocks rk_gemm_blocking(int level, long M, long K);

/// Copies A (M×K, row stride lda) into panels of MR rows; `out` holds ceil(M/MR)·MR·K floats.
void rk_pack_a(int level, const float *a, long M, long K, long lda, float *out);

/// Copies B (N×K, row stride ldb) into panels of NR rows; `out` holds ceil(N/NR)·NR·K floats.
void rk_pack_b(int level, const float *b, long N, long K, long ldb, float *out);

/// C[i, j - j0] = A[i, :]·B[j, :] for i < M and j0 ≤ j < j1 (j0 a multiple of NR), from A and B
/// packed at the same `level`.
void rk_gemm_packed(int level, long M, long K, const float *ap, const float *bp, long j0, long j1, float *c,
                    long ldc, const rk_gemm_blocks *blocks);

/// For z = A·Bᵀ + bias over columns j0 ..< j1 (j0 a multiple of NR): merges each row's log-sum-exp
/// of those columns into (maxima[i], sums[i]) with rk_lse_merge, and sets picked[i] = z[i,
/// targets[i]] when the target is in range. Rows whose target is negative are skipped. Returns 0
/// when its buffer could not be allocated (or K is 0), 1 otherwise.
int rk_score_packed(int level, long M, long K, const float *ap, const float *bp, const float *bias, long j0, long j1,
                    const long *targets, float *maxima, float *sums, float *picked, const rk_gemm_blocks *blocks);

/// Merges the log-sum-exp `lse` of more values into a running pair: log-sum-exp = maximum +
/// log(sum). Start from (-inf, 0); NaN stays NaN.
void rk_lse_merge(float *maximum, float *sum, float lse);

#endif
