#include "BenchKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) static float read_avx2(const float *data, size_t count) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= count; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(data + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(data + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(data + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(data + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  float s = 0;
  for (int k = 0; k < 8; k++) s += out[k];
  for (; i < count; i++) s += data[i];
  return s;
}
#endif

float bench_read_floats(const float *data, size_t count) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return read_avx2(data, count);
#endif
  float s = 0;
  for (size_t i = 0; i < count; i++) s += data[i];
  return s;
}
