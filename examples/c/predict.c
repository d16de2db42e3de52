/* Loads a model and prints the most likely next token after a prompt.
 *
 *   cc predict.c -o predict $(pkg-config --cflags --libs rnnkit)
 *   ./predict Fixtures/cuisine.rnn "My favourite dish is sushi. So, my favourite cuisine is"
 */
#include <rnnkit.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODEL PROMPT\n", argv[0]);
    return 64;
  }
  rnnkit_model *model = NULL;
  if (rnnkit_model_open(argv[1], NULL, &model) != RNNKIT_OK) {
    fprintf(stderr, "%s\n", rnnkit_last_error());
    return 1;
  }
  rnnkit_session *session = NULL;
  int64_t id = 0;
  float probability = 0;
  size_t written = 0;
  int status = 1;
  if (rnnkit_session_create(model, &session) == RNNKIT_OK &&
      rnnkit_session_predict(session, argv[2], 1, &id, &probability, &written) == RNNKIT_OK && written == 1) {
    const char *token = NULL;
    if (rnnkit_model_token(model, id, &token) == RNNKIT_OK) {
      printf("%s %.6f\n", token, probability);
      status = 0;
    }
  }
  if (status != 0) fprintf(stderr, "%s\n", rnnkit_last_error());
  rnnkit_session_free(session);
  rnnkit_model_close(model);
  return status;
}
