#ifndef RNNKIT_CHDF5_SHIM_H
#define RNNKIT_CHDF5_SHIM_H
#include <hdf5.h>
#endif
