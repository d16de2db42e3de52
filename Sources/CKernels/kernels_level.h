// Instantiates every kernel template for one level, with the macros the includer (kernels.c)
// defined for it (RK_FN, RK_W, the vector types, RK_F16C, RK_ROUND), then clears those macros for
// the next level. Included once per level, so no include guard.
#include "kernels_template.h"
#include "training_template.h"
#include "gemm_template.h"
#undef RK_FN
#undef VB
#undef VS
#undef RK_W
#undef VF
#undef VI
#undef VU
#undef VH16
#undef VHALF
#undef RK_F16C
#undef RK_ROUND
