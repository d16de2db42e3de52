// The kernels are `static inline` in include/CKernels.h; this file makes the target a C module.
#include "CKernels.h"
