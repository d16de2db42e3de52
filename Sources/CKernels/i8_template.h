// The int8 matrix-vector and matrix-matrix loops, written once for every int8 dot-product kernel.
// Included, with no include guard, by each instruction-set level of kernels_template.h and by the
// AVX-512 VNNI section of kernels.c, which define first:
//   RK_I8_NAME(name)          the name of each function;
//   RK_I8_DOT4(a0, a1, a2, a3, x, cols, d, ahead, lda)
//                             the four exact dot products of rows a0…a3 with x into d, fetching the
//                             rows at `ahead` (row stride lda) meanwhile when it is not NULL;
//   RK_I8_CORRECTION(rowsums, r)
//                             what to subtract from row r's product (VNNI multiplies x + 128).

// y[r] for rows [0, rows) of A (row stride lda), four rows at a time.
static void RK_I8_NAME(gemv_i8)(const int8_t *A, long rows, long cols, long lda, const float *scales,
                                const int32_t *rowsums, const int8_t *xq, float xscale, const float *bias,
                                float *y) {
  (void)rowsums;
  int64_t d[4];
  long r = 0;
  for (; r + 4 <= rows; r += 4) {
    const int8_t *a0 = A + r * lda;
    // Each row is a fresh stream: fetch two blocks ahead, one line per row per step.
    RK_I8_DOT4(a0, a0 + lda, a0 + 2 * lda, a0 + 3 * lda, xq, cols, d, r + 12 <= rows ? a0 + 8 * lda : NULL, lda);
    for (int j = 0; j < 4; j++)
      y[r + j] = rk_i8_finish(d[j] - RK_I8_CORRECTION(rowsums, r + j), scales[r + j], xscale,
                              bias ? bias[r + j] : 0.0f);
  }
  for (; r < rows; r++) {
    const int8_t *a = A + r * lda;
    RK_I8_DOT4(a, a, a, a, xq, cols, d, NULL, 0);
    y[r] = rk_i8_finish(d[0] - RK_I8_CORRECTION(rowsums, r), scales[r], xscale, bias ? bias[r] : 0.0f);
  }
}

// C[i, r] for n quantized vectors X (n×cols, row stride cols): each block of four rows of A is
// read once per block of RK_I8_VECTORS vectors, which stay in cache meanwhile.
static void RK_I8_NAME(gemm_i8)(const int8_t *A, long rows, long cols, const float *scales,
                                const int32_t *rowsums, const int8_t *X, long n, const float *xscales,
                                const float *bias, float *C, long ldc) {
  (void)rowsums;
  int64_t d[4];
  for (long i0 = 0; i0 < n; i0 += RK_I8_VECTORS) {
    const long i1 = i0 + RK_I8_VECTORS < n ? i0 + RK_I8_VECTORS : n;
    for (long r = 0; r < rows; r += rows - r >= 4 ? 4 : 1) {
      const int8_t *a0 = A + r * cols;
      const int full = rows - r >= 4;
      const int8_t *a1 = full ? a0 + cols : a0, *a2 = full ? a0 + 2 * cols : a0, *a3 = full ? a0 + 3 * cols : a0;
      const int count = full ? 4 : 1;
      for (long i = i0; i < i1; i++) {
        RK_I8_DOT4(a0, a1, a2, a3, X + i * cols, cols, d, NULL, 0);
        for (int j = 0; j < count; j++)
          C[i * ldc + r + j] = rk_i8_finish(d[j] - RK_I8_CORRECTION(rowsums, r + j), scales[r + j], xscales[i],
                                            bias ? bias[r + j] : 0.0f);
      }
    }
  }
}
