/*
 * rnnkit.h: the C interface of RNNKit, a toolkit for simple (Elman) recurrent networks:
 *
 *     h_t = f(W·[h_{t-1}; x_t] + b),   y_t = g(V·h_t + c),   h_0 = 0
 *
 * Build with:  cc app.c $(pkg-config --cflags --libs rnnkit)
 *
 * Threading: an rnnkit_model is immutable once opened and may be shared by any number of threads
 * (every function taking a `const rnnkit_model *` is safe to call concurrently). An
 * rnnkit_session holds a hidden state and belongs to one thread at a time.
 *
 * Errors: every function that can fail returns an rnnkit_status. On failure, rnnkit_last_error()
 * returns a one-line message for the calling thread, valid until that thread's next call into
 * RNNKit. Nothing is ever printed.
 *
 * Memory: pointers returned by rnnkit_model_* functions (strings, tensor data) belong to the model
 * and stay valid until rnnkit_model_close. Strings returned through `char **` outputs belong to the
 * caller, who frees them with rnnkit_string_free.
 */
#ifndef RNNKIT_H
#define RNNKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RNNKIT_VERSION_MAJOR 0
#define RNNKIT_VERSION_MINOR 1
#define RNNKIT_VERSION_PATCH 0
/* The version this header describes; rnnkit_version() returns the library's. */
#define RNNKIT_VERSION "0.1.0"

typedef enum rnnkit_status {
  RNNKIT_OK = 0,
  /* A NULL pointer, an out-of-range id, a buffer too small, a bad option value. */
  RNNKIT_ERROR_INVALID_ARGUMENT = 1,
  /* The file is missing, unreadable, malformed, or in no format RNNKit knows. */
  RNNKIT_ERROR_BAD_FILE = 2,
  /* The file does not store something the caller must supply (activations, a vocabulary). */
  RNNKIT_ERROR_NEEDS_INPUT = 3,
  /* The isolated reader crashed, hung or ran out of memory on the file. */
  RNNKIT_ERROR_ISOLATION = 4,
  /* The model cannot do what was asked (for example, generation on a dense model). */
  RNNKIT_ERROR_UNSUPPORTED = 5,
  /* Writing the output failed, or the output exists and overwriting was not allowed. */
  RNNKIT_ERROR_WRITE = 6
} rnnkit_status;

/* Element types of tensor views. */
typedef enum rnnkit_dtype {
  RNNKIT_F32 = 0,
  RNNKIT_F16 = 1,
  RNNKIT_BF16 = 2,
  RNNKIT_F64 = 3
} rnnkit_dtype;

typedef struct rnnkit_model rnnkit_model;
typedef struct rnnkit_session rnnkit_session;

/* The library's version string, such as "0.1.0". */
const char *rnnkit_version(void);

/* The calling thread's last error message, or "" when the last call succeeded. */
const char *rnnkit_last_error(void);

/* Frees a string RNNKit returned to the caller. NULL is allowed. */
void rnnkit_string_free(char *string);

/* ---- Opening models ---------------------------------------------------------------------- */

typedef struct rnnkit_open_options {
  /* Verify every tensor checksum of .rnn files (default 1). */
  int verify_checksums;
  /* Read formats parsed by C libraries (HDF5, Keras) in an isolated child process (default 1).
   * The child is the `rnnkit` executable installed beside the library, or $RNNKIT_EXECUTABLE. */
  int isolate;
  /* The format's name ("rnn", "hdf5", "safetensors", ...), or NULL to detect it. */
  const char *format;
  /* A vocabulary file (one token per line), for formats that store none; or NULL. */
  const char *vocabulary_path;
  /* The hidden activation f ("tanh", "relu", ...) for formats that store none; or NULL. */
  const char *hidden_activation;
  /* The output activation g ("softmax", "sigmoid", "identity") for formats that store none. */
  const char *output_activation;
} rnnkit_open_options;

/* Fills `options` with the defaults. */
void rnnkit_open_options_init(rnnkit_open_options *options);

/* Opens the model at `path` in any readable format. `options` may be NULL for the defaults.
 * On success *model is set; close it with rnnkit_model_close. */
rnnkit_status rnnkit_model_open(const char *path, const rnnkit_open_options *options, rnnkit_model **model);

/* Closes a model. Sessions made from it must be freed first. NULL is allowed. */
void rnnkit_model_close(rnnkit_model *model);

/* ---- Looking inside ---------------------------------------------------------------------- */

/* H, X and O. */
int64_t rnnkit_model_hidden_size(const rnnkit_model *model);
int64_t rnnkit_model_input_size(const rnnkit_model *model);
int64_t rnnkit_model_output_size(const rnnkit_model *model);

/* 1 when inputs are token ids (x_t one-hot), 0 when they are dense vectors of size X. */
int rnnkit_model_takes_tokens(const rnnkit_model *model);

/* The activations' names, such as "tanh" and "softmax". */
const char *rnnkit_model_hidden_activation(const rnnkit_model *model);
const char *rnnkit_model_output_activation(const rnnkit_model *model);

/* The name of the format the model was read from, such as "rnn" or "keras-h5". */
const char *rnnkit_model_format(const rnnkit_model *model);

/* Metadata entries, in key order: rnnkit_model_metadata(model, i, &key, &value) for
 * i in [0, rnnkit_model_metadata_count(model)). Values are rendered as text. */
size_t rnnkit_model_metadata_count(const rnnkit_model *model);
rnnkit_status rnnkit_model_metadata(const rnnkit_model *model, size_t index, const char **key, const char **value);

/* The vocabulary: its size (0 for dense models), the token of an id, and the id of a token
 * (-1 when absent). */
int64_t rnnkit_model_vocabulary_size(const rnnkit_model *model);
rnnkit_status rnnkit_model_token(const rnnkit_model *model, int64_t id, const char **token);
int64_t rnnkit_model_token_id(const rnnkit_model *model, const char *token);

/* A read-only view of a tensor: W (H × (H+X)), b (H), V (O × H) or c (O), row-major. For .rnn
 * files the data points into the mapped file, in the stored dtype (no copy); for other formats it
 * points at the model's values in memory. Valid until rnnkit_model_close. */
typedef struct rnnkit_tensor_view {
  const void *data;
  rnnkit_dtype dtype;
  int32_t rank;
  int64_t shape[8];
} rnnkit_tensor_view;

rnnkit_status rnnkit_model_tensor(const rnnkit_model *model, const char *name, rnnkit_tensor_view *view);

/* ---- Running ----------------------------------------------------------------------------- */

/* A session starts at h_0 = 0. */
rnnkit_status rnnkit_session_create(const rnnkit_model *model, rnnkit_session **session);
void rnnkit_session_free(rnnkit_session *session);

/* Returns to h_0 = 0. */
void rnnkit_session_reset(rnnkit_session *session);

/* Feeds one token id (token models) and writes y_t (O floats) to `output`, which may be NULL. */
rnnkit_status rnnkit_session_step_token(rnnkit_session *session, int64_t id, float *output);

/* Feeds one dense vector of X floats (dense models) and writes y_t to `output` (may be NULL). */
rnnkit_status rnnkit_session_step_vector(rnnkit_session *session, const float *input, float *output);

/* Copies h_t (H floats) to `hidden`. */
rnnkit_status rnnkit_session_hidden(const rnnkit_session *session, float *hidden);

/* Runs `count` token ids from the session's current state, writing y_t for every step to
 * `outputs` (count × O floats, may be NULL) and h_t to `hidden` (count × H floats, may be NULL). */
rnnkit_status rnnkit_session_forward_tokens(
    rnnkit_session *session, const int64_t *ids, size_t count, float *outputs, float *hidden);

/* Tokenizes `text` with the model's tokenizer, feeds it, and writes the `k` most likely next
 * tokens, best first, to `ids` and `probabilities` (each k long); *written gets how many. */
rnnkit_status rnnkit_session_predict(
    rnnkit_session *session, const char *text, size_t k, int64_t *ids, float *probabilities, size_t *written);

typedef struct rnnkit_generate_options {
  size_t max_tokens;  /* default 20 */
  double temperature; /* 0 = greedy (default 0) */
  size_t top_k;       /* 0 = no limit (default 0) */
  uint64_t seed;      /* default 0 */
} rnnkit_generate_options;

void rnnkit_generate_options_init(rnnkit_generate_options *options);

/* Continues `prompt` and returns the new text in *text (free it with rnnkit_string_free).
 * The session is reset first; `options` may be NULL for the defaults. */
rnnkit_status rnnkit_session_generate(
    rnnkit_session *session, const char *prompt, const rnnkit_generate_options *options, char **text);

/* Scores `text` line by line (each line from h_0 = 0): cross-entropy in nats per predicted token,
 * perplexity, and the number of predicted tokens. Any output pointer may be NULL. */
rnnkit_status rnnkit_model_score_text(
    const rnnkit_model *model, const char *text, double *cross_entropy, double *perplexity, int64_t *predicted);

/* ---- Converting -------------------------------------------------------------------------- */

typedef struct rnnkit_convert_options {
  rnnkit_open_options input; /* how to read the input */
  const char *output_format; /* NULL: from the output file name */
  const char *dtype;         /* "f32", "f16", "bf16", "f64", or NULL to keep */
  int overwrite;             /* replace an existing output (default 0) */
  int verify;                /* check the result by a forward pass before it appears (default 1) */
} rnnkit_convert_options;

void rnnkit_convert_options_init(rnnkit_convert_options *options);

/* Converts `input` to `output`, atomically. `options` may be NULL for the defaults. */
rnnkit_status rnnkit_convert(const char *input, const char *output, const rnnkit_convert_options *options);

#ifdef __cplusplus
}
#endif

#endif /* RNNKIT_H */
