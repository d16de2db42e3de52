/* Exercises every function of include/rnnkit.h; built with AddressSanitizer and LeakSanitizer by
 * Tests/RNNKitTests/CAPITests.swift. Prints "ok N" and exits 0 when every check holds. */
#include <math.h>
#include <rnnkit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static int checks = 0;
#define CHECK(condition)                                                                \
  do {                                                                                  \
    checks++;                                                                           \
    if (!(condition)) {                                                                 \
      failures++;                                                                       \
      fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #condition, \
              rnnkit_last_error());                                                     \
    }                                                                                   \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s CUISINE.rnn CUISINE.h5 OUTPUT-FOLDER\n", argv[0]);
    return 64;
  }
  CHECK(strcmp(rnnkit_version(), RNNKIT_VERSION) == 0);

  /* Errors: a missing file, a NULL argument, a bad activation name. */
  rnnkit_model *model = NULL;
  CHECK(rnnkit_model_open("/nonexistent.rnn", NULL, &model) == RNNKIT_ERROR_BAD_FILE && model == NULL);
  CHECK(strstr(rnnkit_last_error(), "/nonexistent.rnn") != NULL);
  CHECK(strchr(rnnkit_last_error(), '\n') == NULL);
  CHECK(rnnkit_model_open(NULL, NULL, &model) == RNNKIT_ERROR_INVALID_ARGUMENT);
  rnnkit_open_options options;
  rnnkit_open_options_init(&options);
  CHECK(options.verify_checksums == 1 && options.isolate == 1);
  options.hidden_activation = "swish-ish";
  CHECK(rnnkit_model_open(argv[1], &options, &model) == RNNKIT_ERROR_INVALID_ARGUMENT);

  /* The model and what is inside. */
  CHECK(rnnkit_model_open(argv[1], NULL, &model) == RNNKIT_OK);
  CHECK(strcmp(rnnkit_last_error(), "") == 0);
  int64_t H = rnnkit_model_hidden_size(model), X = rnnkit_model_input_size(model), O = rnnkit_model_output_size(model);
  CHECK(H == 64 && X == 175 && O == 175);
  CHECK(rnnkit_model_takes_tokens(model) == 1);
  CHECK(strcmp(rnnkit_model_hidden_activation(model), "tanh") == 0);
  CHECK(strcmp(rnnkit_model_output_activation(model), "softmax") == 0);
  CHECK(strcmp(rnnkit_model_format(model), "rnn") == 0);
  size_t entries = rnnkit_model_metadata_count(model);
  CHECK(entries > 3);
  int found_activation = 0;
  for (size_t i = 0; i < entries; i++) {
    const char *key = NULL, *value = NULL;
    CHECK(rnnkit_model_metadata(model, i, &key, &value) == RNNKIT_OK);
    if (strcmp(key, "rnn.hidden_activation") == 0) found_activation = strstr(value, "tanh") != NULL;
  }
  CHECK(found_activation);
  CHECK(rnnkit_model_metadata(model, entries, NULL, NULL) == RNNKIT_ERROR_INVALID_ARGUMENT);
  CHECK(rnnkit_model_vocabulary_size(model) == 175);
  int64_t japanese = rnnkit_model_token_id(model, "japanese");
  CHECK(japanese >= 0);
  const char *token = NULL;
  CHECK(rnnkit_model_token(model, japanese, &token) == RNNKIT_OK && strcmp(token, "japanese") == 0);
  CHECK(rnnkit_model_token(model, 175, &token) == RNNKIT_ERROR_INVALID_ARGUMENT);
  CHECK(rnnkit_model_token_id(model, "no-such-token") == -1);

  rnnkit_tensor_view w, v;
  CHECK(rnnkit_model_tensor(model, "W", &w) == RNNKIT_OK);
  CHECK(w.rank == 2 && w.shape[0] == H && w.shape[1] == H + X && w.dtype == RNNKIT_F32 && w.data != NULL);
  CHECK(rnnkit_model_tensor(model, "V", &v) == RNNKIT_OK && v.shape[0] == O && v.shape[1] == H);
  CHECK(rnnkit_model_tensor(model, "Q", &v) == RNNKIT_ERROR_INVALID_ARGUMENT);

  /* A session: step by step agrees with forward over the same ids. */
  rnnkit_session *session = NULL;
  CHECK(rnnkit_session_create(model, &session) == RNNKIT_OK);
  int64_t ids[3] = {1, 2, 3};
  float *stepped = calloc((size_t)O, sizeof(float));
  for (int i = 0; i < 3; i++) CHECK(rnnkit_session_step_token(session, ids[i], stepped) == RNNKIT_OK);
  float *hidden_after = calloc((size_t)H, sizeof(float));
  CHECK(rnnkit_session_hidden(session, hidden_after) == RNNKIT_OK);
  rnnkit_session_reset(session);
  float *outputs = calloc((size_t)(3 * O), sizeof(float));
  float *hiddens = calloc((size_t)(3 * H), sizeof(float));
  CHECK(rnnkit_session_forward_tokens(session, ids, 3, outputs, hiddens) == RNNKIT_OK);
  double largest = 0, sum = 0;
  for (int64_t i = 0; i < O; i++) {
    largest = fmax(largest, fabs(outputs[2 * O + i] - stepped[i]));
    sum += outputs[2 * O + i];
  }
  CHECK(largest <= 1e-6);       /* the same computation, the same floats */
  CHECK(fabs(sum - 1) <= 1e-4); /* softmax sums to 1 in f32 */
  for (int64_t i = 0; i < H; i++) largest = fmax(largest, fabs(hiddens[2 * H + i] - hidden_after[i]));
  CHECK(largest <= 1e-6);
  CHECK(rnnkit_session_step_token(session, 100000, NULL) == RNNKIT_ERROR_UNSUPPORTED);
  float dense[175] = {0};
  CHECK(rnnkit_session_step_vector(session, dense, NULL) == RNNKIT_ERROR_UNSUPPORTED);

  int64_t best[5];
  float probabilities[5];
  size_t written = 0;
  CHECK(rnnkit_session_predict(session, "My favourite dish is sushi. So, my favourite cuisine is", 5, best,
                               probabilities, &written) == RNNKIT_OK);
  CHECK(written == 5 && best[0] == japanese && probabilities[0] > 0.9f && probabilities[1] <= probabilities[0]);

  rnnkit_generate_options generate;
  rnnkit_generate_options_init(&generate);
  generate.max_tokens = 4;
  char *text = NULL;
  CHECK(rnnkit_session_generate(session, "My favourite dish is pizza.", &generate, &text) == RNNKIT_OK);
  CHECK(text != NULL && strlen(text) > 0);
  char *again = NULL;
  CHECK(rnnkit_session_generate(session, "My favourite dish is pizza.", &generate, &again) == RNNKIT_OK);
  CHECK(again != NULL && text != NULL && strcmp(text, again) == 0); /* greedy is deterministic */
  rnnkit_string_free(text);
  rnnkit_string_free(again);

  double cross_entropy = 0, perplexity = 0;
  int64_t predicted = 0;
  CHECK(rnnkit_model_score_text(model, "my favourite dish is sushi .\nso , my favourite cuisine is japanese .",
                                &cross_entropy, &perplexity, &predicted) == RNNKIT_OK);
  CHECK(predicted == 12 && cross_entropy > 0 && fabs(perplexity - exp(cross_entropy)) <= 1e-9 * perplexity);
  CHECK(rnnkit_model_score_text(model, "sushi", NULL, NULL, NULL) == RNNKIT_ERROR_UNSUPPORTED);

  /* Convert, then read the result back through libhdf5 in isolation. */
  char path[4096];
  snprintf(path, sizeof path, "%s/out.h5", argv[3]);
  rnnkit_convert_options convert;
  rnnkit_convert_options_init(&convert);
  CHECK(convert.verify == 1 && convert.overwrite == 0);
  CHECK(rnnkit_convert(argv[1], path, &convert) == RNNKIT_OK);
  CHECK(rnnkit_convert(argv[1], path, &convert) == RNNKIT_ERROR_WRITE);
  rnnkit_model *back = NULL;
  CHECK(rnnkit_model_open(path, NULL, &back) == RNNKIT_OK);
  CHECK(back != NULL && strcmp(rnnkit_model_format(back), "hdf5") == 0);
  rnnkit_tensor_view w2;
  CHECK(rnnkit_model_tensor(back, "W", &w2) == RNNKIT_OK && w2.dtype == RNNKIT_F32);
  CHECK(memcmp(w.data, w2.data, (size_t)(H * (H + X)) * sizeof(float)) == 0);
  rnnkit_model_close(back);

  /* A crash in the isolated reader is an error, not a crash here. */
  rnnkit_model *hostile = NULL;
  CHECK(rnnkit_model_open(argv[2], NULL, &hostile) == RNNKIT_ERROR_ISOLATION && hostile == NULL);

  free(stepped);
  free(hidden_after);
  free(outputs);
  free(hiddens);
  rnnkit_session_free(session);
  rnnkit_model_close(model);
  rnnkit_model_close(NULL);
  rnnkit_session_free(NULL);
  printf("ok %d\n", checks);
  return failures == 0 ? 0 : 1;
}
