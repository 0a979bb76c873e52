/* The weight gradient of corr2d.c where the output gradient is mostly zeros, as it
 * is under a max pool: each 2x2 window passes its gradient to its maximum alone, so
 * three values in four of the map's gradient are 0 (more where a window was all
 * negative and the rectifier passed nothing). corr2d.c's gemm multiplies the zeros
 * too; here each nonzero value g at output pixel (i, j) of kernel k adds g times the
 * image's patch under (i, j) to kernel k's gradient, which is the same sum without
 * its zero terms:
 *     weights[k][c][u][v] = sum over the batch and the nonzero g at (i, j) of
 *                           g * image[c][i + u - pad_r][j + v - pad_c]
 * The image is first copied with its channels last (and its zero padding around), so
 * that a row of a patch, kw * channels values, is contiguous; the sums are kept in
 * that order too, (k, u, v, c), and turned back at the end. Each kernel's nonzero
 * values of an image are gathered first; then, a block of SPARSE_BLOCK values of a
 * patch row at a time, they are summed in a local array that the compiler keeps in
 * vector registers, and added to the kernel's gradient once.
 *
 * It pays from SPARSE_MIN_CHANNELS channels (a vector's worth of float32) and where
 * at most SPARSE_MAX_PERCENT of the gradient is nonzero; it skips products with 0,
 * which is the same only where the images are finite (0 * inf is NaN): corr2d.c takes
 * this path only then (sparse_pays). The threads share the images; their sums are
 * added in order, so the result does not depend on timing. Compiled once per node,
 * before corr2d.c, which calls it (see the top of corr2d.c for `real` and FN). */

#define SPARSE_MIN_CHANNELS 8
#define SPARSE_MAX_PERCENT 40
#define SPARSE_BLOCK 64

static npy_intp FN(count_nonzero)(const real *x, npy_intp n)
{
    npy_intp count = 0;
    for (npy_intp i = 0; i < n; i++) count += x[i] != 0;
    return count;
}

static int FN(all_finite)(const real *x, npy_intp n)
{
    int finite = 1;
    for (npy_intp i = 0; i < n; i++) finite &= (x[i] - x[i]) == 0;  /* inf, NaN: NaN */
    return finite;
}

/* Whether corr2d.c's weight gradient runs here: see above. */
static int FN(sparse_pays)(const real *bottom, const real *top, int batch, int channels,
                           int height, int width, int n_kernels, int oh, int ow)
{
    if (channels < SPARSE_MIN_CHANNELS) return 0;
    const npy_intp size = (npy_intp)batch * n_kernels * oh * ow;
    return 100 * FN(count_nonzero)(top, size) <= SPARSE_MAX_PERCENT * size
           && FN(all_finite)(bottom, (npy_intp)batch * channels * height * width);
}

/* 32 bytes of `real`s, one AVX register (gcc's vector extension: two SSE registers
 * where there is no AVX). */
typedef real FN(vec) __attribute__((vector_size(32)));
#define SPARSE_LANES ((int)(32 / sizeof(real)))

/* sum[q] += the sum over the n gathered values of g[w] * x[at[w] + q], for the
 * first `vectors` vectors of values (a constant where it is called: the sums stay in
 * registers). */
static inline void FN(sparse_vectors)(const real *x, const npy_intp *at, const real *g,
                                      int n, const int vectors, real *sum)
{
    FN(vec) block[SPARSE_BLOCK / SPARSE_LANES];
    for (int i = 0; i < vectors; i++) block[i] = (FN(vec)){0};
    for (int w = 0; w < n; w++) {
        const real *row = x + at[w];
        const FN(vec) gw = (FN(vec)){0} + g[w];
        for (int i = 0; i < vectors; i++) {
            FN(vec) values;
            memcpy(&values, row + i * SPARSE_LANES, sizeof values);
            block[i] += gw * values;
        }
    }
    for (int i = 0; i < vectors; i++) {
        FN(vec) total;
        memcpy(&total, sum + i * SPARSE_LANES, sizeof total);
        total += block[i];
        memcpy(sum + i * SPARSE_LANES, &total, sizeof total);
    }
}

/* The same for len values, a block of SPARSE_BLOCK or half one at a time. */
static void FN(sparse_row)(const real *x, const npy_intp *at, const real *g, int n, int len,
                           real *sum)
{
    int q = 0;
    for (; q + SPARSE_BLOCK <= len; q += SPARSE_BLOCK)
        FN(sparse_vectors)(x + q, at, g, n, SPARSE_BLOCK / SPARSE_LANES, sum + q);
    for (; q + SPARSE_BLOCK / 2 <= len; q += SPARSE_BLOCK / 2)
        FN(sparse_vectors)(x + q, at, g, n, SPARSE_BLOCK / 2 / SPARSE_LANES, sum + q);
    for (int w = 0; q < len && w < n; w++) {  /* the rest, if any */
        const real *row = x + at[w], gw = g[w];
        for (int r = q; r < len; r++) sum[r] += gw * row[r];
    }
}

/* weights (n_kernels, channels, kh, kw) = the gradient of the kernels, from the
 * images `bottom` and the output gradient `top`. Returns 0, or -1 with a Python
 * error set. */
static int FN(sparse_grad_weights)(const real *bottom, const real *top, real *weights,
                                   int batch, int channels, int height, int width,
                                   int n_kernels, int kh, int kw, int pad_r, int pad_c,
                                   int oh, int ow)
{
    const int pixels = oh * ow, patch = channels * kh * kw, row = kw * channels;
    const int padded_width = width + 2 * pad_c;
    const size_t padded_size = (size_t)(height + 2 * pad_r) * padded_width * channels;
    const size_t weights_size = (size_t)n_kernels * patch;
    const int threads = parallel_threads(batch);
    real *sums = (real *)calloc(weights_size * threads, sizeof(real));
    npy_intp *pixel_at = (npy_intp *)malloc(((size_t)pixels + 1) * sizeof(npy_intp));
    if (sums == NULL || pixel_at == NULL) {
        free(sums);
        free(pixel_at);
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < oh; i++)  /* where output pixel (i, j)'s patch starts */
        for (int j = 0; j < ow; j++)
            pixel_at[i * ow + j] = ((npy_intp)i * padded_width + j) * channels;
    int failed = 0;
    #pragma omp parallel num_threads(threads)
    {
        real *sum = sums + weights_size * thread_number();
        real *image = (real *)calloc(padded_size, sizeof(real));  /* zeros stay around */
        npy_intp *at = (npy_intp *)malloc(((size_t)pixels + 1) * sizeof(npy_intp));
        real *g = (real *)malloc(((size_t)pixels + 1) * sizeof(real));
        const int ok = image != NULL && at != NULL && g != NULL;
        #pragma omp for schedule(static)
        for (int b = 0; b < batch; b++) {
            if (!ok) continue;
            const real *in = bottom + (npy_intp)b * channels * height * width;
            for (int c = 0; c < channels; c++)  /* channels last, inside the padding */
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                        image[((npy_intp)(y + pad_r) * padded_width + x + pad_c) * channels + c] =
                            in[((npy_intp)c * height + y) * width + x];
            for (int k = 0; k < n_kernels; k++) {
                const real *grad = top + ((npy_intp)b * n_kernels + k) * pixels;
                int n = 0;
                for (int p = 0; p < pixels; p++) {  /* gathered without a branch */
                    at[n] = pixel_at[p];
                    g[n] = grad[p];
                    n += grad[p] != 0;
                }
                for (int u = 0; u < kh; u++)
                    FN(sparse_row)(image + (npy_intp)u * padded_width * channels, at, g, n, row,
                                   sum + (npy_intp)k * patch + (npy_intp)u * row);
            }
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        free(image);
        free(at);
        free(g);
    }
    for (int t = 0; t < threads; t++) {  /* in order, (k, u, v, c) back to (k, c, u, v) */
        const real *s = sums + t * weights_size;
        for (int k = 0; k < n_kernels; k++)
            for (int c = 0; c < channels; c++)
                for (int uv = 0; uv < kh * kw; uv++)
                    weights[((size_t)k * channels + c) * kh * kw + uv] +=
                        s[((size_t)k * kh * kw + uv) * channels + c];
    }
    free(sums);
    free(pixel_at);
    if (failed) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

#undef SPARSE_BLOCK
#undef SPARSE_LANES
