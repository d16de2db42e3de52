#ifndef RNNKIT_CHDF5_SHIM_H
#define RNNKIT_CHDF5_SHIM_H
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>

// Swift cannot import HDF5's function-like macros (they call H5open and read globals), so each one
// the bridge needs has a getter here.
static inline hid_t rnnkit_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t rnnkit_h5s_all(void) { return H5S_ALL; }
static inline hid_t rnnkit_h5e_default(void) { return H5E_DEFAULT; }
static inline size_t rnnkit_h5t_variable(void) { return H5T_VARIABLE; }
static inline unsigned rnnkit_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned rnnkit_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned rnnkit_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned rnnkit_h5f_obj_all(void) { return H5F_OBJ_ALL; }
static inline hid_t rnnkit_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t rnnkit_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t rnnkit_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t rnnkit_h5p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t rnnkit_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t rnnkit_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t rnnkit_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t rnnkit_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t rnnkit_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t rnnkit_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t rnnkit_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t rnnkit_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t rnnkit_h5t_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t rnnkit_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t rnnkit_h5t_c_s1(void) { return H5T_C_S1; }
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

static inline void rnnkit_h5e_innermost(char *buffer, size_t size) {
  void *data[2] = {buffer, (void *)size};
  if (size > 0) buffer[0] = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, rnnkit_h5e_walk_callback, data);
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

static inline herr_t rnnkit_set_image_in_place(hid_t fapl, rnnkit_image_t *image) {
  H5FD_file_image_callbacks_t callbacks = {rnnkit_image_malloc,    rnnkit_image_memcpy,
                                           rnnkit_image_realloc,   rnnkit_image_free,
                                           rnnkit_image_udata_copy, rnnkit_image_udata_free,
                                           image};
  if (H5Pset_file_image_callbacks(fapl, &callbacks) < 0) return -1;
  return H5Pset_file_image(fapl, image->buffer, image->size);
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

static inline herr_t rnnkit_set_growable_image(hid_t fapl, rnnkit_image_t *image) {
  H5FD_file_image_callbacks_t callbacks = {rnnkit_grow_malloc,      rnnkit_grow_memcpy,
                                           rnnkit_grow_realloc,     rnnkit_grow_free,
                                           rnnkit_image_udata_copy, rnnkit_image_udata_free,
                                           image};
  return H5Pset_file_image_callbacks(fapl, &callbacks);
}

// Turns off HDF5's printing of error stacks to stderr; the bridge reports errors itself.
static inline void rnnkit_h5e_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
