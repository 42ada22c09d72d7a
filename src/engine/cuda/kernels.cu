// gzbench's own CUDA kernels, compiled at run time with NVRTC (src/engine/cuda/kernels.rs) with
// FMA contraction off, so each follows its CPU twin's arithmetic operation by operation:
//   relu_max_pool_fwd / _bwd   src/engine/pool.rs
//   lgamma_* / digamma_*       src/engine/special.rs
//   adamw_multi                src/engine/adamw.rs
//   gn_*                       src/engine/groupnorm.rs
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

// Group norm (groupnorm.rs). Per plane (image, channel) of `inner` values, the two f64 sums of
// the CPU op: (sum a, sum a*a) when `mean` is null, else (sum a, sum a*(b - mean[group])) with
// `per` planes (channels) to a group. One
// block of GN_THREADS threads per plane, a tree reduction in shared memory (the CPU sums in 8
// fixed lanes: the order differs, so the bits may too).
#define GN_THREADS 256
extern "C" __global__ void gn_plane_sums(const float* a, const float* b, const double* mean,
                                         int per, double* out, u64 inner) {
  __shared__ double s[GN_THREADS], t[GN_THREADS];
  u64 p = blockIdx.x;
  const float* ap = a + p * inner;
  const float* bp = b + p * inner;
  double m = mean ? mean[p / per] : 0.0;
  double ls = 0.0, lt = 0.0;
  for (u64 i = threadIdx.x; i < inner; i += GN_THREADS) {
    double v = (double)ap[i];
    ls = ls + v;
    lt = lt + v * (mean ? (double)bp[i] - m : v);
  }
  s[threadIdx.x] = ls;
  t[threadIdx.x] = lt;
  __syncthreads();
  for (int k = GN_THREADS / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) {
      s[threadIdx.x] = s[threadIdx.x] + s[threadIdx.x + k];
      t[threadIdx.x] = t[threadIdx.x] + t[threadIdx.x + k];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[2 * p] = s[0];
    out[2 * p + 1] = t[0];
  }
}

// Per (image, group) k of `per` channels: mean and 1/sqrt(var + eps) from its planes' sums,
// then per plane the scale and shift of `x*a + b`, as the CPU forward computes them.
extern "C" __global__ void gn_stats(const double* sums, const float* weight, const float* bias,
                                    double* mean, double* invstd, float* a, float* b, u64 groups,
                                    int c, int per, double m, double eps) {
  for (u64 k = blockIdx.x * (u64)blockDim.x + threadIdx.x; k < groups;
       k += (u64)gridDim.x * blockDim.x) {
    double s = 0.0, ss = 0.0;
    for (int j = 0; j < per; j++) {
      s = s + sums[2 * (k * per + j)];
      ss = ss + sums[2 * (k * per + j) + 1];
    }
    double mu = s / m;
    double var = ss / m - mu * mu;
    if (!(var > 0.0)) var = 0.0;
    double inv = 1.0 / sqrt(var + eps);
    mean[k] = mu;
    invstd[k] = inv;
    for (int j = 0; j < per; j++) {
      u64 p = k * per + j;
      double w = (double)weight[p % c];
      a[p] = (float)(w * inv);
      b[p] = (float)((double)bias[p % c] - mu * w * inv);
    }
  }
}

// The activation after group norm (0 none, 1 ReLU, 2 SiLU) of z = x*a + b, per plane a and b.
__device__ float gn_act(float z, int act) {
  if (act == 1) return fmaxf(z, 0.0f);
  if (act == 2) return z / (1.0f + expf(-z));
  return z;
}

extern "C" __global__ void gn_act_fwd(const float* x, const float* a, const float* b, float* y,
                                      u64 n, u64 inner, int act) {
  for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
       i += (u64)gridDim.x * blockDim.x) {
    u64 p = i / inner;
    y[i] = gn_act(x[i] * a[p] + b[p], act);
  }
}

// The gradient reaching z = x*a + b from the activation's output gradient dy (the CPU's
// `0 + ...` sums of candle's autograd kept, so the sign of a zero matches).
extern "C" __global__ void gn_act_grad(const float* x, const float* a, const float* b,
                                       const float* dy, float* dz, u64 n, u64 inner, int act) {
  for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
       i += (u64)gridDim.x * blockDim.x) {
    u64 p = i / inner;
    float z = x[i] * a[p] + b[p];
    float g = dy[i];
    if (act == 1) {
      g = 0.0f + g * (z >= 0.0f ? 1.0f : 0.0f);
    } else if (act == 2) {
      float e = expf(-z);
      float s = 1.0f / (e + 1.0f);
      float node = z / (1.0f + e);
      g = 0.0f + g * (s * (1.0f - node) + node);
    }
    dz[i] = g;
  }
}

// Backward, per (image, group) k: dx = dz*p + x*q + r per plane (coef: 3 floats per plane).
extern "C" __global__ void gn_bwd_coefs(const double* sums, const float* weight,
                                        const double* mean, const double* invstd, float* coef,
                                        u64 groups, int c, int per, double m) {
  for (u64 k = blockIdx.x * (u64)blockDim.x + threadIdx.x; k < groups;
       k += (u64)gridDim.x * blockDim.x) {
    double inv = invstd[k];
    double sw = 0.0, swx = 0.0;
    for (int j = 0; j < per; j++) {
      u64 p = k * per + j;
      double w = (double)weight[p % c];
      sw = sw + w * sums[2 * p];
      swx = swx + w * sums[2 * p + 1];
    }
    double q = -inv * inv * inv * swx / m;
    double r = -inv * sw / m - q * mean[k];
    for (int j = 0; j < per; j++) {
      u64 p = k * per + j;
      coef[3 * p] = (float)((double)weight[p % c] * inv);
      coef[3 * p + 1] = (float)q;
      coef[3 * p + 2] = (float)r;
    }
  }
}

// dweight and dbias, one thread per channel, summed over the images in order.
extern "C" __global__ void gn_param_grads(const double* sums, const double* invstd, float* dw,
                                          float* db, int n, int c, int per) {
  for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c; ch += gridDim.x * blockDim.x) {
    double w = 0.0, bsum = 0.0;
    for (int i = 0; i < n; i++) {
      u64 p = (u64)i * c + ch;
      bsum = bsum + sums[2 * p];
      w = w + sums[2 * p + 1] * invstd[p / per];
    }
    dw[ch] = (float)w;
    db[ch] = (float)bsum;
  }
}

extern "C" __global__ void gn_dx(const float* dz, const float* x, const float* coef, float* dx,
                                 u64 n, u64 inner) {
  for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
       i += (u64)gridDim.x * blockDim.x) {
    u64 p = i / inner;
    dx[i] = dz[i] * coef[3 * p] + x[i] * coef[3 * p + 1] + coef[3 * p + 2];
  }
}

// Nearest upsampling by `s` of `N*C` planes of h x w: one thread per output value (a copy).
extern "C" __global__ void upsample_fwd(const float* x, float* y, u64 n, int h, int w, int s) {
  u64 ow = (u64)w * s, oplane = (u64)h * s * ow;
  for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
       i += (u64)gridDim.x * blockDim.x) {
    u64 p = i / oplane, r = i % oplane;
    y[i] = x[(p * h + (r / ow) / s) * w + (r % ow) / s];
  }
}

// Its gradient: each input value the sum of its s x s block of `dy`, from 0, row by row (the
// CPU's order: the same bits).
extern "C" __global__ void upsample_bwd(const float* dy, float* dx, u64 n, int h, int w, int s) {
  u64 ow = (u64)w * s, plane = (u64)h * w;
  for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
       i += (u64)gridDim.x * blockDim.x) {
    u64 p = i / plane, r = i % plane;
    const float* g = dy + p * plane * s * s + (r / w) * s * ow + (r % w) * s;
    float sum = 0.0f;
    for (int di = 0; di < s; di++) {
      for (int dj = 0; dj < s; dj++) {
        sum = sum + g[di * ow + dj];
      }
    }
    dx[i] = sum;
  }
}

// A per-channel bias added to N x C x inner values (the same bits as the CPU).
extern "C" __global__ void bias_add(const float* y, const float* b, float* out, u64 n, u64 inner,
                                   int c) {
  for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n;
       i += (u64)gridDim.x * blockDim.x) {
    out[i] = y[i] + b[(i / inner) % c];
  }
}

// Per channel of N x C x inner values, their sum: one block of GN_THREADS threads per channel,
// each summing a stride of the channel's values, then a tree reduction in shared memory (the
// CPU sums in memory order: the same values to rounding).
extern "C" __global__ void channel_sums(const float* g, float* out, u64 images, int c, u64 inner) {
  __shared__ float s[GN_THREADS];
  u64 ch = blockIdx.x, total = images * inner;
  float acc = 0.0f;
  for (u64 i = threadIdx.x; i < total; i += GN_THREADS) {
    acc = acc + g[((i / inner) * c + ch) * inner + i % inner];
  }
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int k = GN_THREADS / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) {
      s[threadIdx.x] = s[threadIdx.x] + s[threadIdx.x + k];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[ch] = s[0];
  }
}
