"""The CUDA C of xpnet's fused kernels, as text (no CuPy needed to read it).

``kernels.py`` builds CuPy kernels from these strings; the CPU test suite
compiles them with NVRTC for sm_80 and sm_90, so a slip in a kernel fails
CI on a machine without a GPU. Each kernel computes the formula of an
Array-API function of xpnet, in the same order (products are rounded before
they are added, as there: ``__dmul_rn``/``__fmul_rn`` keep the compiler from
fusing them into FMAs); :data:`REPLACES` names that function.
"""

PRE = r"""
__device__ inline double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ inline float mul_rn(float a, float b) { return __fmul_rn(a, b); }
template <typename T> __device__ inline T sigmoid_(T x) {
    T e = exp(-fabs(x));
    return x >= (T)0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);
}
"""

#: ``cupy.ElementwiseKernel`` arguments (in_params, out_params, operation, name), preamble PRE.
SIGMOID = ("T x", "T y", "y = sigmoid_(x);", "xpnet_sigmoid")
BIAS_SIGMOID = ("T a, raw T b, int64 ncol", "T y", "y = sigmoid_(a + b[i % ncol]);", "xpnet_bias_sigmoid")

RAW_MODULE = (
    PRE
    + r"""
// softmax(scores + b) row by row, the book's cross-entropy (delta inside the log),
// dy = (y * sum(s) - s) / n with s = t * y / (y + delta), and the column sums of dy.
// One block of 32 warps; a warp takes one row at a time, lane k holds class k
// (at most 32 classes). Row maximum and sums are warp shuffles; sums across
// warps are added in a fixed order: results repeat bit for bit.
template <typename T>
__device__ inline T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <typename T>
__device__ inline T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) { T w = __shfl_xor_sync(0xffffffffu, v, o); v = w > v ? w : v; }
    return v;
}
template <typename T>
__device__ void softmax_loss_grad(const T* scores, const T* b, const T* t, T* dy, T* loss, T* db,
                                  int n, int c, T delta, T nf) {
    __shared__ T col_part[32][33];
    __shared__ T loss_part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const T big = (T)(sizeof(T) == 8 ? 1.7976931348623157e308 : 3.4028234663852886e38);
    bool on = lane < c;
    int kk = on ? lane : 0;  // idle lanes repeat class 0, which leaves the maximum alone
    T bias = b[kk];
    T colsum = 0, lsum = 0;
    for (int r = warp; r < n; r += 32) {
        long i = (long)r * c + kk;
        T v = scores[i] + bias;
        v = v > big ? big : (v < -big ? -big : v);  // xp.clip: +-inf as the largest finite numbers, NaN kept
        T tk = on ? t[i] : (T)0;
        T m = warp_max(v);
        T h = exp(v / (T)2 - m / (T)2);  // exp(v - m) as exp(v/2 - m/2) ** 2: no overflow for huge v, m
        T e = on ? h * h : (T)0;
        T sum = warp_sum(e);
        T y = e / sum;
        T yd = y + delta;
        T l = on ? mul_rn(tk, log(yd)) : (T)0;
        T s = on ? mul_rn(tk, y) / yd : (T)0;
        T srow = warp_sum(s);
        lsum += warp_sum(l);
        if (on) {
            T d = (mul_rn(y, srow) - s) / nf;
            dy[i] = d;
            colsum += d;
        }
    }
    col_part[warp][lane] = colsum;
    if (lane == 0) loss_part[warp] = lsum;
    __syncthreads();
    if (warp == 0) {
        T cs = 0;
        for (int w = 0; w < 32; ++w) cs += col_part[w][lane];
        if (on) db[lane] = cs;
        if (lane == 0) {
            T ls = 0;
            for (int w = 0; w < 32; ++w) ls += loss_part[w];
            *loss = -ls / nf;
        }
    }
}

// da = dout * (1 - z) * z, and the column sums of da. Block (32, 32): 32 columns,
// 32 row lanes, partial sums added in a fixed order.
template <typename T>
__device__ void sigmoid_backward(const T* dout, const T* z, T* da, T* db, int n, int h) {
    __shared__ T part[32][33];
    int col = blockIdx.x * 32 + threadIdx.x;
    T acc = 0;
    if (col < h) {
        for (int r = threadIdx.y; r < n; r += 32) {
            long i = (long)r * h + col;
            T zz = z[i];
            T v = mul_rn(mul_rn(dout[i], (T)1 - zz), zz);
            da[i] = v;
            acc += v;
        }
    }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < h) {
        T s = 0;
        for (int j = 0; j < 32; ++j) s += part[j][threadIdx.x];
        db[col] = s;
    }
}

// p -= lr * g for four parameters in one launch.
template <typename T>
__device__ void sgd4(T* p0, const T* g0, long n0, T* p1, const T* g1, long n1,
                     T* p2, const T* g2, long n2, T* p3, const T* g3, long n3, T lr) {
    long total = n0 + n1 + n2 + n3;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        long j = i;
        if (j < n0) { p0[j] -= mul_rn(lr, g0[j]); continue; }
        j -= n0;
        if (j < n1) { p1[j] -= mul_rn(lr, g1[j]); continue; }
        j -= n1;
        if (j < n2) { p2[j] -= mul_rn(lr, g2[j]); continue; }
        j -= n2;
        p3[j] -= mul_rn(lr, g3[j]);
    }
}

// the mini-batch: rows idx of x (n x d) and of t (n x c), in one launch
template <typename T>
__device__ void take2(const T* x, const T* t, const long long* idx, T* xo, T* to, int n, int d, int c) {
    long total = (long)n * (d + c);
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (long)gridDim.x * blockDim.x) {
        int r = (int)(i / (d + c));
        int k = (int)(i % (d + c));
        long src = idx[r];
        if (k < d) xo[(long)r * d + k] = x[src * d + k];
        else to[(long)r * c + (k - d)] = t[src * c + (k - d)];
    }
}

// Incremental central differences (xpnet/incremental_numgrad.py), one thread per parameter.
// Hidden layer: moving W1[r, j] (x row r; a row of ones for b1) by +-h changes hidden
// unit j by dz = sigmoid(a1 + (+-h) x) - z1, the scores by dz * W2[j, :]; the loss is
// -mean_n log(softmax(scores)[label] + delta), scores shifted by the unperturbed row max.
template <typename T>
__device__ void numgrad_hidden(const T* a1t, const T* z1t, const T* xr, const T* w2, const T* a2c,
                               const long long* labels, T* g, int rows, int hid, int n, int c, T h, T delta) {
    long id = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (long)rows * hid) return;
    int r = (int)(id / hid), j = (int)(id % hid);
    T lp = 0, lm = 0;
    for (int q = 0; q < n; ++q) {
        T base = a1t[(long)j * n + q], zz = z1t[(long)j * n + q];
        T step = mul_rn(h, xr[(long)r * n + q]);
        T dzp = sigmoid_(base + step) - zz;
        T dzm = sigmoid_(base + (-step)) - zz;
        const T* a = a2c + (long)q * c;
        T sp = 0, sm = 0;
        for (int k = 0; k < c; ++k) {
            T w = w2[(long)j * c + k];
            sp += exp(a[k] + mul_rn(dzp, w));
            sm += exp(a[k] + mul_rn(dzm, w));
        }
        int lab = (int)labels[q];
        T w = w2[(long)j * c + lab];
        lp += log(exp(a[lab] + mul_rn(dzp, w)) / sp + delta);
        lm += log(exp(a[lab] + mul_rn(dzm, w)) / sm + delta);
    }
    g[id] = ((-lp / (T)n) - (-lm / (T)n)) / (h + h);
}

// Output layer: moving W2[j, k] by +-h changes score k by +-h z1[:, j]; b2[k] (j == hid) by +-h.
template <typename T>
__device__ void numgrad_output(const T* z1t, const T* a2c, const long long* labels, T* g,
                               int hid, int n, int c, T h, T delta) {
    long id = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (long)(hid + 1) * c) return;
    int j = (int)(id / c), kk = (int)(id % c);
    T lp = 0, lm = 0;
    for (int q = 0; q < n; ++q) {
        T d = j < hid ? mul_rn(h, z1t[(long)j * n + q]) : h;
        const T* a = a2c + (long)q * c;
        T sp = 0, sm = 0;
        for (int k = 0; k < c; ++k) {
            sp += exp(k == kk ? a[k] + d : a[k]);
            sm += exp(k == kk ? a[k] + (-d) : a[k]);
        }
        int lab = (int)labels[q];
        lp += log(exp(lab == kk ? a[lab] + d : a[lab]) / sp + delta);
        lm += log(exp(lab == kk ? a[lab] + (-d) : a[lab]) / sm + delta);
    }
    g[id] = ((-lp / (T)n) - (-lm / (T)n)) / (h + h);
}

#define INSTANTIATE(T, S) \
extern "C" __global__ void numgrad_hidden_##S(const T* a1t, const T* z1t, const T* xr, const T* w2, \
    const T* a2c, const long long* labels, T* g, int rows, int hid, int n, int c, T h, T delta) { \
    numgrad_hidden<T>(a1t, z1t, xr, w2, a2c, labels, g, rows, hid, n, c, h, delta); } \
extern "C" __global__ void numgrad_output_##S(const T* z1t, const T* a2c, const long long* labels, T* g, \
    int hid, int n, int c, T h, T delta) { numgrad_output<T>(z1t, a2c, labels, g, hid, n, c, h, delta); } \
extern "C" __global__ void softmax_loss_grad_##S(const T* a, const T* b, const T* t, T* dy, T* loss, T* db, \
    int n, int c, T delta, T nf) { softmax_loss_grad<T>(a, b, t, dy, loss, db, n, c, delta, nf); } \
extern "C" __global__ void sigmoid_backward_##S(const T* dout, const T* z, T* da, T* db, int n, int h) { \
    sigmoid_backward<T>(dout, z, da, db, n, h); } \
extern "C" __global__ void sgd4_##S(T* p0, const T* g0, long n0, T* p1, const T* g1, long n1, \
    T* p2, const T* g2, long n2, T* p3, const T* g3, long n3, T lr) { \
    sgd4<T>(p0, g0, n0, p1, g1, n1, p2, g2, n2, p3, g3, n3, lr); } \
extern "C" __global__ void take2_##S(const T* x, const T* t, const long long* idx, T* xo, T* to, \
    int n, int d, int c) { take2<T>(x, t, idx, xo, to, n, d, c); }
INSTANTIATE(double, f64)
INSTANTIATE(float, f32)
"""
)

#: Kernel -> the Array-API code whose formula it computes (parity tests compare the two).
REPLACES = {
    "xpnet_sigmoid": "xpnet.functions.sigmoid_of",
    "xpnet_bias_sigmoid": "sigmoid(a1) with a1 = x @ W1 + b1, in xpnet.nets.loss_and_gradient",
    "softmax_loss_grad": "y = softmax(a2), the loss and dy = (y * sum(s) - s) / batch_num with "
    "s = t * y / (y + DELTA), and sum(dy, axis=0), in xpnet.nets.loss_and_gradient",
    "sigmoid_backward": "dz1 = da1 * (1 - z1) * z1 and sum(dz1, axis=0), in xpnet.nets.loss_and_gradient",
    "sgd4": "params[key] -= lr * grads[key] for the four parameters: xpnet.steps.sgd_update, in xpnet.steps.sgd_step",
    "take2": "xp.take(x, idx, axis=0) and xp.take(t, idx, axis=0), in xpnet.steps.sgd_step",
    "numgrad_hidden": "xpnet.incremental_numgrad.hidden_gradient (one-hot targets)",
    "numgrad_output": "xpnet.incremental_numgrad.output_gradient (one-hot targets)",
}

#: The kernels of RAW_MODULE, each instantiated for float64 (suffix f64) and float32 (f32).
RAW_KERNELS = ("numgrad_hidden", "numgrad_output", "softmax_loss_grad", "sigmoid_backward", "sgd4", "take2")
