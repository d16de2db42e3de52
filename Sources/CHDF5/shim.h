#ifndef RNNKIT_CHDF5_SHIM_H
#define RNNKIT_CHDF5_SHIM_H
// The headers only: the module takes no pkg-config flags, because SwiftPM would pass its `-lhdf5`
// to the linker. Debian keeps the serial build's headers under hdf5/serial; other systems put
// hdf5.h on the include path.
#if __has_include(<hdf5.h>)
#include <hdf5.h>
#elif __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#else
#error "HDF5's headers were not found: install libhdf5-dev"
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>

// Nothing links against libhdf5: RNNHDF5 loads it with dlopen when a file is first read or written
// (HDF5Calls.swift), and every function and global it uses is reached through one table,
// `rnnkit_h5_t`, resolved here with dlsym. A process that never touches HDF5 never loads libhdf5
// nor the dozens of libraries it depends on (curl, gnutls, krb5, ...).

// HDF5's constant macros call H5check() and H5open() before yielding their value; those calls
// would link libhdf5. The loader calls H5open itself, so the macros below expand to the value only.
#undef H5CHECK
#define H5CHECK
#undef H5OPEN
#define H5OPEN

// Every libhdf5 function the bridge calls (the last three only build hostile files in the tests).
// The table's field types are the header's own declarations, so they cannot drift from libhdf5.
#define RNNKIT_H5_FUNCTIONS(X)                                                                               \
  X(H5open) X(H5get_libversion) X(H5Aclose) X(H5Acreate2) X(H5Aexists) X(H5Aget_name_by_idx)               \
  X(H5Aget_space) X(H5Aget_type) X(H5Aopen) X(H5Aread) X(H5Awrite) X(H5Dclose) X(H5Dcreate2)                \
  X(H5Dget_create_plist) X(H5Dget_offset) X(H5Dget_space) X(H5Dget_storage_size) X(H5Dget_type)            \
  X(H5Dopen2) X(H5Dread) X(H5Dwrite) X(H5Eclear2) X(H5Eset_auto2) X(H5Ewalk2) X(H5Fclose) X(H5Fcreate)      \
  X(H5Fflush) X(H5Fget_file_image) X(H5Fget_obj_count) X(H5Fopen) X(H5Gclose) X(H5Gcreate2) X(H5Gget_info)  \
  X(H5Gopen2) X(H5Iget_type) X(H5Lexists) X(H5Lget_info) X(H5Lget_name_by_idx) X(H5Lget_val)               \
  X(H5Lunpack_elink_val) X(H5Oclose) X(H5Oget_info2) X(H5Oopen) X(H5PLset_loading_state) X(H5Pclose)       \
  X(H5Pcreate) X(H5Pget_external) X(H5Pget_external_count) X(H5Pget_layout) X(H5Pget_nfilters)             \
  X(H5Pset_alignment) X(H5Pset_fapl_core) X(H5Pset_file_image) X(H5Pset_file_image_callbacks)              \
  X(H5Pset_obj_track_times) X(H5Sclose) X(H5Screate) X(H5Screate_simple) X(H5Sget_simple_extent_dims)      \
  X(H5Sget_simple_extent_ndims) X(H5Sget_simple_extent_npoints) X(H5Tclose) X(H5Tcopy) X(H5Tenum_create)   \
  X(H5Tenum_insert) X(H5Tequal) X(H5Tget_class) X(H5Tget_ebias) X(H5Tget_fields) X(H5Tget_offset)          \
  X(H5Tget_order) X(H5Tget_precision) X(H5Tget_sign) X(H5Tget_size) X(H5Tis_variable_str) X(H5Tset_cset)   \
  X(H5Tset_ebias) X(H5Tset_fields) X(H5Tset_size) X(H5Sselect_hyperslab) X(H5Adelete) X(H5Pset_chunk)      \
  X(H5Pset_deflate)

// The global identifiers behind HDF5's predefined types and property list classes (H5T_NATIVE_FLOAT
// is H5T_NATIVE_FLOAT_g, ...), which H5open sets; the table holds their values, read after H5open.
#define RNNKIT_H5_GLOBALS(X)                                                                                 \
  X(H5P_CLS_FILE_ACCESS_ID_g) X(H5P_CLS_FILE_CREATE_ID_g) X(H5P_CLS_DATASET_CREATE_ID_g)                   \
  X(H5P_CLS_GROUP_CREATE_ID_g) X(H5T_NATIVE_FLOAT_g) X(H5T_NATIVE_DOUBLE_g) X(H5T_NATIVE_INT8_g)           \
  X(H5T_NATIVE_INT32_g) X(H5T_NATIVE_INT64_g) X(H5T_IEEE_F32LE_g) X(H5T_IEEE_F64LE_g) X(H5T_STD_I32LE_g)   \
  X(H5T_STD_I64LE_g) X(H5T_C_S1_g)

#define RNNKIT_H5_STRING(name) #name
#define RNNKIT_H5_NAME(name) RNNKIT_H5_STRING(name)

/// libhdf5's functions (each field named and typed as the function) and global identifiers.
typedef struct {
#define RNNKIT_H5_FUNCTION_FIELD(name) __typeof__(name) *name;
  RNNKIT_H5_FUNCTIONS(RNNKIT_H5_FUNCTION_FIELD)
#undef RNNKIT_H5_FUNCTION_FIELD
#define RNNKIT_H5_GLOBAL_FIELD(name) hid_t name;
  RNNKIT_H5_GLOBALS(RNNKIT_H5_GLOBAL_FIELD)
#undef RNNKIT_H5_GLOBAL_FIELD
} rnnkit_h5_t;

/// Fills the functions of `h5` from the library `handle`; returns NULL, or the name of the first
/// function the library lacks.
static inline const char *rnnkit_h5_resolve_functions(void *handle, rnnkit_h5_t *h5) {
#define RNNKIT_H5_RESOLVE(name)                                                                              \
  if ((*(void **)&h5->name = dlsym(handle, RNNKIT_H5_NAME(name))) == NULL) return RNNKIT_H5_NAME(name);
  RNNKIT_H5_FUNCTIONS(RNNKIT_H5_RESOLVE)
#undef RNNKIT_H5_RESOLVE
  return NULL;
}

/// Copies the global identifiers into `h5`; call after H5open. Returns NULL, or the name of the
/// first global the library lacks.
static inline const char *rnnkit_h5_resolve_globals(void *handle, rnnkit_h5_t *h5) {
#define RNNKIT_H5_READ(name)                                                                                 \
  {                                                                                                          \
    const hid_t *address = (const hid_t *)dlsym(handle, RNNKIT_H5_NAME(name));                               \
    if (address == NULL) return RNNKIT_H5_NAME(name);                                                        \
    h5->name = *address;                                                                                     \
  }
  RNNKIT_H5_GLOBALS(RNNKIT_H5_READ)
#undef RNNKIT_H5_READ
  return NULL;
}

/// The version of the headers RNNKit was built with; the library loaded must have the same major
/// and minor version, as the table's types and the structures the bridge reads come from them.
static inline unsigned rnnkit_h5_header_major(void) { return H5_VERS_MAJOR; }
static inline unsigned rnnkit_h5_header_minor(void) { return H5_VERS_MINOR; }
static inline unsigned rnnkit_h5_header_release(void) { return H5_VERS_RELEASE; }

// Swift cannot import HDF5's function-like macros, so each constant the bridge needs has a getter
// here (the ones backed by globals are fields of `rnnkit_h5_t`).
static inline hid_t rnnkit_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t rnnkit_h5s_all(void) { return H5S_ALL; }
static inline hid_t rnnkit_h5e_default(void) { return H5E_DEFAULT; }
static inline size_t rnnkit_h5t_variable(void) { return H5T_VARIABLE; }
static inline unsigned rnnkit_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned rnnkit_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned rnnkit_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned rnnkit_h5f_obj_all(void) { return H5F_OBJ_ALL; }
static inline haddr_t rnnkit_haddr_undef(void) { return HADDR_UNDEF; }

// Copies the description of the innermost error on the default stack (the one nearest the cause)
// into `buffer`, so Swift needs no C callback.
static inline herr_t rnnkit_h5e_walk_callback(unsigned n, const H5E_error2_t *err, void *data) {
  char *buffer = ((char **)data)[0];
  size_t size = (size_t)((char **)data)[1];
  if (n == 0 && err && err->desc && size > 0) {
    const char *func = err->func_name ? err->func_name : "";
    snprintf(buffer, size, "%s (%s)", err->desc, func);
  }
  return 0;
}

static inline void rnnkit_h5e_innermost(const rnnkit_h5_t *h5, char *buffer, size_t size) {
  void *data[2] = {buffer, (void *)size};
  if (size > 0) buffer[0] = 0;
  h5->H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, rnnkit_h5e_walk_callback, data);
}

// File image callbacks that make the core driver use the caller's buffer in place, read-only,
// instead of copying it (what the high-level H5LTopen_file_image does with DONT_COPY): every
// "allocation" of an image of at most the buffer's size returns the buffer itself, copies onto
// itself are no-ops, and nothing is freed. The caller keeps the buffer alive until the file and
// every property list holding it are closed.
typedef struct {
  void *buffer;
  size_t size;
  // Bytes mapped at `buffer` when the grow callbacks below made it.
  size_t capacity;
  // Memory the caller mapped for the file (the output file itself, mapped shared), used while the
  // file fits in it; the caller unmaps it.
  void *reserved;
  size_t reserved_size;
} rnnkit_image_t;

static inline void *rnnkit_image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)op;
  rnnkit_image_t *image = (rnnkit_image_t *)udata;
  return size <= image->size ? image->buffer : NULL;
}

static inline void *rnnkit_image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                                        void *udata) {
  (void)size;
  (void)op;
  (void)udata;
  return dest == src ? dest : NULL;
}

static inline void *rnnkit_image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
  (void)ptr;
  (void)size;
  (void)op;
  (void)udata;
  return NULL;
}

static inline herr_t rnnkit_image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
  (void)ptr;
  (void)op;
  (void)udata;
  return 0;
}

static inline void *rnnkit_image_udata_copy(void *udata) { return udata; }
static inline herr_t rnnkit_image_udata_free(void *udata) {
  (void)udata;
  return 0;
}

static inline herr_t rnnkit_set_image_in_place(const rnnkit_h5_t *h5, hid_t fapl, rnnkit_image_t *image) {
  H5FD_file_image_callbacks_t callbacks = {rnnkit_image_malloc,    rnnkit_image_memcpy,
                                           rnnkit_image_realloc,   rnnkit_image_free,
                                           rnnkit_image_udata_copy, rnnkit_image_udata_free,
                                           image};
  if (h5->H5Pset_file_image_callbacks(fapl, &callbacks) < 0) return -1;
  return h5->H5Pset_file_image(fapl, image->buffer, image->size);
}

// File image callbacks for a new in-memory file that the core driver grows. The file's buffer is
// an anonymous mapping in 2 MiB steps, advised for transparent huge pages (one page fault per
// 2 MiB rather than per 4 KiB: most of the cost of filling fresh memory), recorded in `image` so
// that once the file is flushed the caller can write its bytes to disk itself, without a copy.
// Other allocations (none are expected) go to malloc.
static inline void *rnnkit_grow_map(rnnkit_image_t *image, size_t size, size_t wanted) {
  size_t step = (size_t)2 << 20;
  if (wanted < size) wanted = size;
  // Before the first mapping, `capacity` is the caller's estimate of the whole file: reserving it
  // at once (untouched pages cost nothing) spares the copies and page faults of doubling.
  if (image->buffer == NULL && wanted < image->capacity) wanted = image->capacity;
  if (image->buffer == NULL && image->reserved != NULL && size <= image->reserved_size) {
    image->buffer = image->reserved;
    image->size = size;
    image->capacity = image->reserved_size;
    return image->buffer;
  }
  if (wanted > SIZE_MAX - step) return NULL;
  size_t capacity = (wanted + step - 1) / step * step;
  void *memory = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return NULL;
  (void)madvise(memory, capacity, MADV_HUGEPAGE);
  if (image->buffer) {
    memcpy(memory, image->buffer, image->size < size ? image->size : size);
    if (image->buffer != image->reserved) munmap(image->buffer, image->capacity);
  }
  image->buffer = memory;
  image->size = size;
  image->capacity = capacity;
  return memory;
}

static inline void *rnnkit_grow_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
  rnnkit_image_t *image = (rnnkit_image_t *)udata;
  if (op == H5FD_FILE_IMAGE_OP_FILE_OPEN || op == H5FD_FILE_IMAGE_OP_FILE_RESIZE) {
    if (image->buffer) return NULL;
    return rnnkit_grow_map(image, size, size);
  }
  return malloc(size);
}

static inline void *rnnkit_grow_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                                       void *udata) {
  (void)op;
  (void)udata;
  return memcpy(dest, src, size);
}

static inline void *rnnkit_grow_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
  rnnkit_image_t *image = (rnnkit_image_t *)udata;
  if (ptr == NULL && (op == H5FD_FILE_IMAGE_OP_FILE_OPEN || op == H5FD_FILE_IMAGE_OP_FILE_RESIZE)) {
    if (image->buffer) return NULL;
    return rnnkit_grow_map(image, size, size);
  }
  if (ptr != NULL && ptr == image->buffer) {
    if (size <= image->capacity) {
      image->size = size;
      return ptr;
    }
    // Doubling keeps the copies of a growing file to about its size in total.
    return rnnkit_grow_map(image, size, image->capacity * 2);
  }
  return realloc(ptr, size);
}

static inline herr_t rnnkit_grow_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
  (void)op;
  rnnkit_image_t *image = (rnnkit_image_t *)udata;
  if (ptr != NULL && ptr == image->buffer) {
    if (image->buffer != image->reserved) munmap(image->buffer, image->capacity);
    image->buffer = NULL;
    image->size = 0;
    image->capacity = 0;
  } else {
    free(ptr);
  }
  return 0;
}

static inline herr_t rnnkit_set_growable_image(const rnnkit_h5_t *h5, hid_t fapl, rnnkit_image_t *image) {
  H5FD_file_image_callbacks_t callbacks = {rnnkit_grow_malloc,      rnnkit_grow_memcpy,
                                           rnnkit_grow_realloc,     rnnkit_grow_free,
                                           rnnkit_image_udata_copy, rnnkit_image_udata_free,
                                           image};
  return h5->H5Pset_file_image_callbacks(fapl, &callbacks);
}

// Turns off HDF5's printing of error stacks to stderr; the bridge reports errors itself.
static inline void rnnkit_h5e_silence(const rnnkit_h5_t *h5) { h5->H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
