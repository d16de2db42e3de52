// The vector operations of the packed int8 product (i8_packed.h) on ymm (AVX2: 16 registers),
// shared by its AVX-VNNI and widening variants; kernels.c includes this before each ymm variant,
// which defines the rest (RK_I8P, RK_I8P_KG, RK_I8P_OFFSET, RK_I8P_LOAD, RK_I8P_DOT). i8_packed.h
// undefines them all, so no include guard.
#define RK_I8P_MR RK_I8P_YMM_MR
#define RK_I8P_NR RK_I8P_YMM_NR
#define RK_I8P_VEC __m256i
#define RK_I8P_ZERO() _mm256_setzero_si256()
#define RK_I8P_STOREU(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define RK_I8P_BCAST(word) _mm256_set1_epi32(word)
#define RK_I8P_LOADU(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define RK_I8P_SUB(a, b) _mm256_sub_epi32(a, b)
#define RK_I8P_FVEC __m256
#define RK_I8P_FZERO() _mm256_setzero_ps()
#define RK_I8P_FLOADU(p) _mm256_loadu_ps(p)
#define RK_I8P_FSTOREU(p, v) _mm256_storeu_ps(p, v)
#define RK_I8P_FBCAST(x) _mm256_set1_ps(x)
#define RK_I8P_FMUL(a, b) _mm256_mul_ps(a, b)
#define RK_I8P_FADD(a, b) _mm256_add_ps(a, b)
#define RK_I8P_CVT(v) _mm256_cvtepi32_ps(v)
#define RK_I8P_MERGE_ROW merge_row_avx2
