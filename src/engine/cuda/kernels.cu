// gzbench's own CUDA kernels, compiled at run time with NVRTC (src/engine/cuda/kernels.rs) with
// FMA contraction off, so each follows its CPU twin's arithmetic operation by operation:
//   relu_max_pool_fwd / _bwd   src/engine/pool.rs
//   lgamma_* / digamma_*       src/engine/special.rs
//   adamw_multi                src/engine/adamw.rs
// Checked here with `nvcc -ptx` (scripts/cuda-toolkit.sh) and on a GPU by scripts/gpu-check.sh.

typedef unsigned long long u64;

// ReLU then k x k max-pool, stride k. One thread per output; the first window maximum wins.
extern "C" __global__ void relu_max_pool_fwd(const float* x, float* y, u64 planes, int h, int w,
                                             int oh, int ow, int k) {
  u64 total = planes * (u64)oh * (u64)ow;
  for (u64 o = blockIdx.x * (u64)blockDim.x + threadIdx.x; o < total;
       o += (u64)gridDim.x * blockDim.x) {
    u64 plane = o / ((u64)oh * ow);
    int r = (int)(o % ((u64)oh * ow));
    int oy = r / ow, ox = r % ow;
    const float* xp = x + plane * (u64)h * w;
    float best = __int_as_float(0xff800000);  // -inf
    for (int dy = 0; dy < k; dy++)
      for (int dx = 0; dx < k; dx++) {
        float v = xp[(oy * k + dy) * w + ox * k + dx];
        if (v > best) best = v;
      }
    y[o] = fmaxf(best, 0.0f);
  }
}

// Backward: each output's gradient to its window's first maximum, where that is > 0. Windows
// do not overlap, so every dx element is written by at most one thread; dx arrives zeroed.
extern "C" __global__ void relu_max_pool_bwd(const float* x, const float* gy, float* gx,
                                             u64 planes, int h, int w, int oh, int ow, int k) {
  u64 total = planes * (u64)oh * (u64)ow;
  for (u64 o = blockIdx.x * (u64)blockDim.x + threadIdx.x; o < total;
       o += (u64)gridDim.x * blockDim.x) {
    u64 plane = o / ((u64)oh * ow);
    int r = (int)(o % ((u64)oh * ow));
    int oy = r / ow, ox = r % ow;
    u64 base = plane * (u64)h * w;
    float best = __int_as_float(0xff800000);  // -inf
    int at = 0;
    for (int dy = 0; dy < k; dy++)
      for (int dx = 0; dx < k; dx++) {
        int i = (oy * k + dy) * w + ox * k + dx;
        float v = x[base + i];
        if (v > best) {
          best = v;
          at = i;
        }
      }
    if (best > 0.0f) gx[base + at] = gy[o];
  }
}

// ln Gamma(x), x > 0: shift by 6, then Stirling's series to z^-7 (see special.rs).
__device__ double gz_lgamma(double x) {
  double shift = log(x);
  for (int k = 1; k < 6; k++) shift = shift + log(x + (double)k);
  double z = x + 6.0;
  double zi = 1.0 / z;
  double zi2 = zi * zi;
  double s = ((zi2 * (-1.0 / 1680.0) + 1.0 / 1260.0) * zi2 - 1.0 / 360.0) * zi2 + 1.0 / 12.0;
  s = s * zi;
  double st = (z - 0.5) * log(z) - z + 0.91893853320467278 + s;
  return st - shift;
}

// digamma(x), x > 0: shift by 6, then the asymptotic series to z^-8 (see special.rs).
__device__ double gz_digamma(double x) {
  double shift = 0.0;
  for (int k = 0; k < 6; k++) shift = shift + 1.0 / (x + (double)k);
  double z = x + 6.0;
  double zi = 1.0 / z;
  double zi2 = zi * zi;
  double s = (((zi2 * (1.0 / 240.0) - 1.0 / 252.0) * zi2 + 1.0 / 120.0) * zi2 - 1.0 / 12.0) * zi2;
  double ps = log(z) - 0.5 * zi + s;
  return ps - shift;
}

#define UNARY(NAME, F, T)                                                              \
  extern "C" __global__ void NAME(const T* x, T* y, u64 n) {                           \
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;                    \
         i += (u64)gridDim.x * blockDim.x)                                             \
      y[i] = (T)F((double)x[i]);                                                       \
  }
UNARY(lgamma_f32, gz_lgamma, float)
UNARY(lgamma_f64, gz_lgamma, double)
UNARY(digamma_f32, gz_digamma, float)
UNARY(digamma_f64, gz_digamma, double)

// AdamW over many tensors in one launch, its arguments in one buffer `a` (one upload a step):
// per tensor the addresses of the parameter, its gradient and the two moments (4 x tensors);
// then the running element counts (tensor t owns [ends[t-1], ends[t])); then, as f32,
// {b1, 1-b1, b2, 1-b2, 1/(1-b1^t), 1/(1-b2^t), eps, 1-lr*wd, lr}, exactly the constants the
// CPU op uses.
extern "C" __global__ void adamw_multi(const u64* a, int tensors) {
  const u64* ptrs = a;
  const u64* ends = a + 4 * tensors;
  const float* c = (const float*)(a + 5 * tensors);
  u64 total = ends[tensors - 1];
  float b1 = c[0], nb1 = c[1], b2 = c[2], nb2 = c[3], c1 = c[4], c2 = c[5], eps = c[6],
        decay = c[7], lr = c[8];
  for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < total;
       i += (u64)gridDim.x * blockDim.x) {
    int lo = 0, hi = tensors - 1;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (ends[mid] > i) hi = mid; else lo = mid + 1;
    }
    u64 j = i - (lo == 0 ? 0 : ends[lo - 1]);
    float* p = (float*)ptrs[4 * lo];
    const float* g = (const float*)ptrs[4 * lo + 1];
    float* m = (float*)ptrs[4 * lo + 2];
    float* v = (float*)ptrs[4 * lo + 3];
    float gi = g[j];
    float mi = (m[j] * b1 + 0.0f) + (gi * nb1 + 0.0f);
    float vi = (v[j] * b2 + 0.0f) + ((gi * gi) * nb2 + 0.0f);
    float mhat = mi * c1 + 0.0f;
    float vhat = vi * c2 + 0.0f;
    float den = sqrtf(vhat) * 1.0f + eps;
    float upd = mhat / den;
    p[j] = (p[j] * decay + 0.0f) - (upd * lr + 0.0f);
    m[j] = mi;
    v[j] = vi;
  }
}
