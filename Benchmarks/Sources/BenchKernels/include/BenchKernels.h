#ifndef RNNKIT_BENCH_KERNELS_H
#define RNNKIT_BENCH_KERNELS_H
#include <stddef.h>

/// Reads `count` floats once, as fast as the core can, and returns their sum (so the reads happen).
float bench_read_floats(const float *data, size_t count);

#endif
