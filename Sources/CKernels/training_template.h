// The training kernels (the output layer of BPTT and the SGD step), written once. kernels.c
// includes this file right after kernels_template.h at each level, with the same macros, and reuses
// that level's primitives (load, store, splat, exp, hsum).
//
// Every sum has an order fixed by the shapes alone, never by the vector width or the thread count:
// - vectors run across independent sums (the RK_TRAIN_STEPS time steps of a tile, or the columns of
//   a row), and each lane adds its terms in sequence;
// - a sum across the lanes of one time tile uses one fixed tree (train_sum_steps);
// - sums over the vocabulary are taken per block of RK_TRAIN_BLOCK rows, and the blocks' results are
//   combined in block order, whichever thread computed them.
// So every level with FMA (AVX2, AVX-512, and arm64's baseline) gives the same bits, for any number
// of threads; the portable x86-64 level (SSE2, no FMA) rounds each product separately and differs.
//
// Layouts: a time tile holds RK_TRAIN_STEPS consecutive steps. `states` is tiles × H × STEPS (h_t
// of each step of a tile side by side, zero past the window's end); `logits` is tiles × O × STEPS.

#define RK_TINLINE static inline __attribute__((always_inline))
// Vectors per time tile.
#define RK_TV (RK_TRAIN_STEPS / RK_W)
// Rows of a register tile in train_tile (RK_ROWS × RK_TV accumulators), and of dV in train_dv.
#if RK_W == 16
#define RK_TROWS 8
#define RK_DVROWS 4
#elif RK_W == 8
#define RK_TROWS 2
#define RK_DVROWS 2
#else
#define RK_TROWS 1
#define RK_DVROWS 1
#endif
// Vectors of columns per register tile of dV.
#define RK_DVCOLS 4

// acc[r][:] = Σ_i a[i·strideI + r·strideR] · b[i·STEPS + (0..<STEPS)] for r < rows, i < count, each
// lane summed in order of i. `rows` is a constant at every call, so the tile stays in registers.
RK_TINLINE void RK_FN(train_tile)(const float *a, long strideI, long strideR, const float *b, long count,
                                  const int rows, VF acc[RK_TROWS][RK_TV]) {
  for (int r = 0; r < rows; r++)
    for (int v = 0; v < RK_TV; v++) acc[r][v] = RK_FN(splat)(0.0f);
  for (long i = 0; i < count; i++) {
    VF s[RK_TV];
    for (int v = 0; v < RK_TV; v++) s[v] = RK_FN(load)(b + i * RK_TRAIN_STEPS + v * RK_W);
    for (int r = 0; r < rows; r++) {
      VF w = RK_FN(splat)(a[i * strideI + r * strideR]);
      for (int v = 0; v < RK_TV; v++) acc[r][v] = w * s[v] + acc[r][v];
    }
  }
}

// The sum of the STEPS lanes at p, by one tree whatever the width: halve the tile (lane i plus lane
// i + half) until one vector is left, then hsum's tree (lower half plus upper half).
RK_TINLINE float RK_FN(train_sum_steps)(const float *p) {
  VF v[RK_TV];
  for (int i = 0; i < RK_TV; i++) v[i] = RK_FN(load)(p + i * RK_W);
  for (int half = RK_TV / 2; half >= 1; half /= 2)
    for (int i = 0; i < half; i++) v[i] = v[i] + v[i + half];
  return RK_FN(hsum)(v[0]);
}

// For the rows [first, first + count) of one block: logits z = V·h + c of every step, the block's
// largest logit m and Σ exp(z − m) per step, and z at each step's target when the target is in the
// block. The logits are replaced by exp(z − m).
static void RK_FN(train_logits)(const float *V, const float *c, long H, long O, long first, long count,
                                const float *states, long tiles, long n, const long *targets, float *logits,
                                float *blockMax, float *blockSum, float *targetLogit) {
  for (long j = 0; j < tiles; j++) {
    const float *S = states + j * H * RK_TRAIN_STEPS;
    float *Z = logits + j * O * RK_TRAIN_STEPS;
    long o = first;
    const long end = first + count;
    VF acc[RK_TROWS][RK_TV];
    for (; o + RK_TROWS <= end; o += RK_TROWS) {
      RK_FN(train_tile)(V + o * H, 1, H, S, H, RK_TROWS, acc);
      for (int r = 0; r < RK_TROWS; r++) {
        VF bias = RK_FN(splat)(c[o + r]);
        for (int v = 0; v < RK_TV; v++) RK_FN(store)(Z + (o + r) * RK_TRAIN_STEPS + v * RK_W, acc[r][v] + bias);
      }
    }
    for (; o < end; o++) {
      RK_FN(train_tile)(V + o * H, 1, H, S, H, 1, acc);
      VF bias = RK_FN(splat)(c[o]);
      for (int v = 0; v < RK_TV; v++) RK_FN(store)(Z + o * RK_TRAIN_STEPS + v * RK_W, acc[0][v] + bias);
    }
    VF m[RK_TV];
    for (int v = 0; v < RK_TV; v++) m[v] = RK_FN(splat)(-INFINITY);
    for (o = first; o < end; o++)
      for (int v = 0; v < RK_TV; v++) m[v] = RK_FN(max)(RK_FN(load)(Z + o * RK_TRAIN_STEPS + v * RK_W), m[v]);
    const long steps = n - j * RK_TRAIN_STEPS < RK_TRAIN_STEPS ? n - j * RK_TRAIN_STEPS : RK_TRAIN_STEPS;
    for (long s = 0; s < steps; s++) {
      long target = targets[j * RK_TRAIN_STEPS + s];
      if (target >= first && target < end) targetLogit[j * RK_TRAIN_STEPS + s] = Z[target * RK_TRAIN_STEPS + s];
    }
    VF sum[RK_TV];
    for (int v = 0; v < RK_TV; v++) sum[v] = RK_FN(splat)(0.0f);
    for (o = first; o < end; o++) {
      for (int v = 0; v < RK_TV; v++) {
        float *p = Z + o * RK_TRAIN_STEPS + v * RK_W;
        VF e = RK_FN(exp)(RK_FN(load)(p) - m[v]);
        RK_FN(store)(p, e);
        sum[v] = sum[v] + e;
      }
    }
    for (int v = 0; v < RK_TV; v++) {
      RK_FN(store)(blockMax + j * RK_TRAIN_STEPS + v * RK_W, m[v]);
      RK_FN(store)(blockSum + j * RK_TRAIN_STEPS + v * RK_W, sum[v]);
    }
  }
}

// Combines the blocks' maxima and sums, in block order: per step M = max m_b, S = Σ_b s_b·e^(m_b − M),
// and scale_b = e^(m_b − M) / S (0 past the window's end), which turns a block's exp(z − m_b) into
// softmax probabilities. Returns the summed cross-entropy M + log S − z_target over the n steps.
static float RK_FN(train_softmax_combine)(long blocks, long tiles, long n, const float *blockMax,
                                          const float *blockSum, const float *targetLogit, float *scale) {
  const long stride = tiles * RK_TRAIN_STEPS;
  float loss = 0.0f;
  for (long j = 0; j < tiles; j++) {
    float M[RK_TRAIN_STEPS], total[RK_TRAIN_STEPS];
    for (int v = 0; v < RK_TV; v++) {
      const long at = j * RK_TRAIN_STEPS + v * RK_W;
      VF mv = RK_FN(splat)(-INFINITY);
      for (long b = 0; b < blocks; b++) mv = RK_FN(max)(RK_FN(load)(blockMax + b * stride + at), mv);
      VF sv = RK_FN(splat)(0.0f);
      for (long b = 0; b < blocks; b++)
        sv = sv + RK_FN(load)(blockSum + b * stride + at) * RK_FN(exp)(RK_FN(load)(blockMax + b * stride + at) - mv);
      VF live;
      for (int l = 0; l < RK_W; l++) live[l] = j * RK_TRAIN_STEPS + v * RK_W + l < n ? 1.0f : 0.0f;
      for (long b = 0; b < blocks; b++) {
        VF e = RK_FN(exp)(RK_FN(load)(blockMax + b * stride + at) - mv);
        RK_FN(store)(scale + b * stride + at, live * (e / sv));
      }
      RK_FN(store)(M + v * RK_W, mv);
      RK_FN(store)(total + v * RK_W, sv);
    }
    for (long s = 0; s < RK_TRAIN_STEPS && j * RK_TRAIN_STEPS + s < n; s++)
      loss += (M[s] + logf(total[s])) - targetLogit[j * RK_TRAIN_STEPS + s];
  }
  return loss;
}

// dV[o][k] = Σ_t dz[o][t]·h_t[k] for `rows` rows from o and RK_DVCOLS vectors of columns from k,
// summed over t in order.
RK_TINLINE void RK_FN(train_dv)(const float *dz, long O, const float *hs, long H, long n, long o, long k,
                                const int rows, const int cols, float *dV) {
  VF acc[RK_DVROWS][RK_DVCOLS];
  for (int r = 0; r < rows; r++)
    for (int q = 0; q < cols; q++) acc[r][q] = RK_FN(splat)(0.0f);
  for (long t = 0; t < n; t++) {
    const float *d = dz + (t / RK_TRAIN_STEPS) * O * RK_TRAIN_STEPS + o * RK_TRAIN_STEPS + t % RK_TRAIN_STEPS;
    VF h[RK_DVCOLS];
    for (int q = 0; q < cols; q++) h[q] = RK_FN(load)(hs + t * H + k + q * RK_W);
    for (int r = 0; r < rows; r++) {
      VF w = RK_FN(splat)(d[r * RK_TRAIN_STEPS]);
      for (int q = 0; q < cols; q++) acc[r][q] = w * h[q] + acc[r][q];
    }
  }
  for (int r = 0; r < rows; r++)
    for (int q = 0; q < cols; q++) RK_FN(store)(dV + (o + r) * H + k + q * RK_W, acc[r][q]);
}

// The rows [o, o + rows) of dV, all columns.
RK_TINLINE void RK_FN(train_dv_rows)(const float *dz, long O, const float *hs, long H, long n, long o,
                                     const int rows, float *dV) {
  long k = 0;
  for (; k + RK_DVCOLS * RK_W <= H; k += RK_DVCOLS * RK_W) RK_FN(train_dv)(dz, O, hs, H, n, o, k, rows, RK_DVCOLS, dV);
  for (; k + RK_W <= H; k += RK_W) RK_FN(train_dv)(dz, O, hs, H, n, o, k, rows, 1, dV);
  for (; k < H; k++) {
    for (int r = 0; r < rows; r++) {
      float acc = 0.0f;
      for (long t = 0; t < n; t++)
        acc = dz[(t / RK_TRAIN_STEPS) * O * RK_TRAIN_STEPS + (o + r) * RK_TRAIN_STEPS + t % RK_TRAIN_STEPS] *
                  hs[t * H + k] +
              acc;
      dV[(o + r) * H + k] = acc;
    }
  }
}

// The backward pass of the output layer for the rows [first, first + count) of one block, after
// train_logits and train_softmax_combine: turns the block's exp(z − m) into ∂Loss/∂z = softmax − e_target,
// writes those rows of dV (= Σ_t dz_t h_tᵀ) and dc (= Σ_t dz_t), the block's share of ∂Loss/∂h_t
// (Σ_o V[o]·dz[o], as `partial`, tiles × H × STEPS), and returns Σ dV² over the block's rows.
static double RK_FN(train_output_backward)(const float *V, long H, long O, long first, long count, float *logits,
                                          const float *scale, long tiles, long n, const long *targets,
                                          const float *hs, float *dV, float *dc, float *partial) {
  const long end = first + count;
  for (long j = 0; j < tiles; j++) {
    float *Z = logits + j * O * RK_TRAIN_STEPS;
    VF sc[RK_TV];
    for (int v = 0; v < RK_TV; v++) sc[v] = RK_FN(load)(scale + j * RK_TRAIN_STEPS + v * RK_W);
    for (long o = first; o < end; o++)
      for (int v = 0; v < RK_TV; v++) {
        float *p = Z + o * RK_TRAIN_STEPS + v * RK_W;
        RK_FN(store)(p, RK_FN(load)(p) * sc[v]);
      }
    for (long s = 0; s < RK_TRAIN_STEPS && j * RK_TRAIN_STEPS + s < n; s++) {
      long target = targets[j * RK_TRAIN_STEPS + s];
      if (target >= first && target < end) Z[target * RK_TRAIN_STEPS + s] -= 1.0f;
    }
  }
  // dV and dc.
  long o = first;
  for (; o + RK_DVROWS <= end; o += RK_DVROWS) RK_FN(train_dv_rows)(logits, O, hs, H, n, o, RK_DVROWS, dV);
  for (; o < end; o++) RK_FN(train_dv_rows)(logits, O, hs, H, n, o, 1, dV);
  for (o = first; o < end; o++) {
    float sum = 0.0f;
    for (long j = 0; j < tiles; j++) sum += RK_FN(train_sum_steps)(logits + (j * O + o) * RK_TRAIN_STEPS);
    dc[o] = sum;
  }
  // The block's share of ∂Loss/∂h: for each column k, Σ_o V[o][k]·dz[o][:], in order of o.
  for (long j = 0; j < tiles; j++) {
    const float *Z = logits + (j * O + first) * RK_TRAIN_STEPS;
    float *P = partial + j * H * RK_TRAIN_STEPS;
    VF acc[RK_TROWS][RK_TV];
    long k = 0;
    for (; k + RK_TROWS <= H; k += RK_TROWS) {
      RK_FN(train_tile)(V + first * H + k, H, 1, Z, count, RK_TROWS, acc);
      for (int r = 0; r < RK_TROWS; r++)
        for (int v = 0; v < RK_TV; v++) RK_FN(store)(P + (k + r) * RK_TRAIN_STEPS + v * RK_W, acc[r][v]);
    }
    for (; k < H; k++) {
      RK_FN(train_tile)(V + first * H + k, H, 1, Z, count, 1, acc);
      for (int v = 0; v < RK_TV; v++) RK_FN(store)(P + k * RK_TRAIN_STEPS + v * RK_W, acc[0][v]);
    }
  }
  // Σ dV² over the rows: each column summed down the rows in float, then the columns in order in double.
  // Four columns of vectors at a time, so four sums are in flight.
  double total = 0.0;
  long k = 0;
  for (; k + RK_W <= H;) {
    const int cols = k + RK_DVCOLS * RK_W <= H ? RK_DVCOLS : 1;
    VF acc[RK_DVCOLS];
    for (int q = 0; q < cols; q++) acc[q] = RK_FN(splat)(0.0f);
    for (o = first; o < end; o++)
      for (int q = 0; q < cols; q++) {
        VF g = RK_FN(load)(dV + o * H + k + q * RK_W);
        acc[q] = g * g + acc[q];
      }
    for (int q = 0; q < cols; q++) {
      float lanes[RK_W];
      RK_FN(store)(lanes, acc[q]);
      for (int l = 0; l < RK_W; l++) total += lanes[l];
    }
    k += cols * RK_W;
  }
  for (; k < H; k++) {
    float acc = 0.0f;
    for (o = first; o < end; o++) acc = dV[o * H + k] * dV[o * H + k] + acc;
    total += acc;
  }
  return total;
}

// ∂Loss/∂h_t = Σ_b partial_b, in block order, from the blocks' tiles × H × STEPS layout into n rows of H.
static void RK_FN(train_sum_partials)(long blocks, long tiles, long H, long n, const float *partials,
                                      float *dHs) {
  const long stride = tiles * H * RK_TRAIN_STEPS;
  for (long j = 0; j < tiles; j++) {
    const long steps = n - j * RK_TRAIN_STEPS < RK_TRAIN_STEPS ? n - j * RK_TRAIN_STEPS : RK_TRAIN_STEPS;
    for (long k = 0; k < H; k++) {
      const float *p = partials + (j * H + k) * RK_TRAIN_STEPS;
      float sum[RK_TRAIN_STEPS];
      for (int v = 0; v < RK_TV; v++) {
        VF s = RK_FN(load)(p + v * RK_W);
        for (long b = 1; b < blocks; b++) s = s + RK_FN(load)(p + b * stride + v * RK_W);
        RK_FN(store)(sum + v * RK_W, s);
      }
      for (long s = 0; s < steps; s++) dHs[(j * RK_TRAIN_STEPS + s) * H + k] = sum[s];
    }
  }
}

// x[i] += step·g[i].
static void RK_FN(train_step)(float *x, const float *g, long count, float step) {
  const VF s = RK_FN(splat)(step);
  long i = 0;
  for (; i + RK_W <= count; i += RK_W) RK_FN(store)(x + i, s * RK_FN(load)(g + i) + RK_FN(load)(x + i));
  for (; i < count; i++) x[i] = step * g[i] + x[i];
}

// The sum of the 16 lanes of v (RK_TDOT / RK_W vectors), by one tree whatever the width: halve
// (lane i plus lane i + 8, then + 4, ...) down to one vector, then hsum's tree.
#define RK_TDOT 16
#define RK_TDV (RK_TDOT / RK_W)
RK_TINLINE float RK_FN(train_sum16)(VF v[RK_TDV]) {
  for (int half = RK_TDV / 2; half >= 1; half /= 2)
    for (int i = 0; i < half; i++) v[i] = v[i] + v[i + half];
  return RK_FN(hsum)(v[0]);
}

// The recurrence's pre-activations a[i] = (b[i] + W[i][H + x]) + W[i][0..<H]·h for each row i of
// W (row stride `stride`). Each dot product keeps 16 running sums (one per lane, whatever the
// width), adds them by train_sum16's tree, then the columns past the last 16 in order.
static void RK_FN(train_recurrent_forward)(const float *W, long stride, long H, const float *h, long x,
                                           const float *b, float *a) {
  long i = 0;
  for (; i + 4 <= H; i += 4) {
    VF acc[4][RK_TDV];
    for (int r = 0; r < 4; r++)
      for (int v = 0; v < RK_TDV; v++) acc[r][v] = RK_FN(splat)(0.0f);
    long j = 0;
    for (; j + RK_TDOT <= H; j += RK_TDOT)
      for (int v = 0; v < RK_TDV; v++) {
        VF hv = RK_FN(load)(h + j + v * RK_W);
        for (int r = 0; r < 4; r++) acc[r][v] = RK_FN(load)(W + (i + r) * stride + j + v * RK_W) * hv + acc[r][v];
      }
    for (int r = 0; r < 4; r++) {
      const float *row = W + (i + r) * stride;
      float sum = RK_FN(train_sum16)(acc[r]);
      for (long k = j; k < H; k++) sum = row[k] * h[k] + sum;
      a[i + r] = (b[i + r] + row[H + x]) + sum;
    }
  }
  for (; i < H; i++) {
    const float *row = W + i * stride;
    VF acc[RK_TDV];
    for (int v = 0; v < RK_TDV; v++) acc[v] = RK_FN(splat)(0.0f);
    long j = 0;
    for (; j + RK_TDOT <= H; j += RK_TDOT)
      for (int v = 0; v < RK_TDV; v++) acc[v] = RK_FN(load)(row + j + v * RK_W) * RK_FN(load)(h + j + v * RK_W) + acc[v];
    float sum = RK_FN(train_sum16)(acc);
    for (long k = j; k < H; k++) sum = row[k] * h[k] + sum;
    a[i] = (b[i] + row[H + x]) + sum;
  }
}

// One step back through the recurrence: dWh[i][:] += da[i]·hPrev for every row i, and
// dhNext = Σ_i da[i]·W[i][0..<H], summed over i in order.
static void RK_FN(train_recurrent_backward)(const float *W, long stride, long H, const float *da, const float *hPrev,
                                            float *dWh, float *dhNext) {
  for (long i = 0; i < H; i++) {
    const VF d = RK_FN(splat)(da[i]);
    float *g = dWh + i * H;
    long j = 0;
    for (; j + RK_W <= H; j += RK_W) RK_FN(store)(g + j, d * RK_FN(load)(hPrev + j) + RK_FN(load)(g + j));
    for (; j < H; j++) g[j] = da[i] * hPrev[j] + g[j];
  }
  long j = 0;
  for (; j + RK_DVCOLS * RK_W <= H; j += RK_DVCOLS * RK_W) {
    VF acc[RK_DVCOLS];
    for (int q = 0; q < RK_DVCOLS; q++) acc[q] = RK_FN(splat)(0.0f);
    for (long i = 0; i < H; i++) {
      const VF d = RK_FN(splat)(da[i]);
      for (int q = 0; q < RK_DVCOLS; q++) acc[q] = d * RK_FN(load)(W + i * stride + j + q * RK_W) + acc[q];
    }
    for (int q = 0; q < RK_DVCOLS; q++) RK_FN(store)(dhNext + j + q * RK_W, acc[q]);
  }
  for (; j < H; j++) {
    float acc = 0.0f;
    for (long i = 0; i < H; i++) acc = da[i] * W[i * stride + j] + acc;
    dhNext[j] = acc;
  }
}

// h = tanh(a) by the level's vector tanh, for every element: the last partial vector goes through a
// zero-padded copy, so no element takes a scalar path that another width would not.
static void RK_FN(train_tanh)(const float *a, float *h, long n) {
  long i = 0;
  for (; i + RK_W <= n; i += RK_W) RK_FN(store)(h + i, RK_FN(tanh)(RK_FN(load)(a + i)));
  if (i < n) {
    float buffer[RK_W] = {0};
    memcpy(buffer, a + i, (size_t)(n - i) * sizeof(float));
    RK_FN(store)(buffer, RK_FN(tanh)(RK_FN(load)(buffer)));
    memcpy(h + i, buffer, (size_t)(n - i) * sizeof(float));
  }
}

static const rk_training_table RK_FN(training_table) = {
    RK_FN(train_logits),       RK_FN(train_softmax_combine), RK_FN(train_output_backward),
    RK_FN(train_sum_partials), RK_FN(train_step),           RK_FN(train_recurrent_forward),
    RK_FN(train_recurrent_backward), RK_FN(train_tanh),
};

#undef RK_TINLINE
#undef RK_TV
#undef RK_TROWS
#undef RK_DVROWS
#undef RK_DVCOLS
#undef RK_TDOT
#undef RK_TDV
