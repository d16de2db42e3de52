// The vector operations of the packed int8 product (i8_packed.h) on zmm (AVX-512: 32 registers),
// shared by its VNNI and widening variants; kernels.c includes this before each zmm variant, which
// defines the rest (RK_I8P, RK_I8P_KG, RK_I8P_OFFSET, RK_I8P_LOAD, RK_I8P_DOT). i8_packed.h
// undefines them all, so no include guard.
#define RK_I8P_MR RK_I8P_ZMM_MR
#define RK_I8P_NR RK_I8P_ZMM_NR
#define RK_I8P_VEC __m512i
#define RK_I8P_ZERO() _mm512_setzero_si512()
#define RK_I8P_STOREU(p, v) _mm512_storeu_si512(p, v)
#define RK_I8P_BCAST(word) _mm512_set1_epi32(word)
#define RK_I8P_LOADU(p) _mm512_loadu_si512(p)
#define RK_I8P_SUB(a, b) _mm512_sub_epi32(a, b)
#define RK_I8P_FVEC __m512
#define RK_I8P_FZERO() _mm512_setzero_ps()
#define RK_I8P_FLOADU(p) _mm512_loadu_ps(p)
#define RK_I8P_FSTOREU(p, v) _mm512_storeu_ps(p, v)
#define RK_I8P_FBCAST(x) _mm512_set1_ps(x)
#define RK_I8P_FMUL(a, b) _mm512_mul_ps(a, b)
#define RK_I8P_FADD(a, b) _mm512_add_ps(a, b)
#define RK_I8P_CVT(v) _mm512_cvtepi32_ps(v)
#define RK_I8P_MERGE_ROW merge_row_avx512
