#ifndef RNNKIT_CBLAS_SHIM_H
#define RNNKIT_CBLAS_SHIM_H
#include <cblas.h>
#endif
