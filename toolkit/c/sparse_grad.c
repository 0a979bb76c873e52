/* Both gradients of corr2d.c where the output gradient is mostly zeros, as it is
 * under a max pool: each 2x2 window passes its gradient to its maximum alone, so
 * three values in four of the map's gradient are 0 (more where a window was all
 * negative and the rectifier passed nothing). corr2d.c's gemms multiply the zeros
 * too; here only the nonzero values g, at output pixel (i, j) of kernel k, take part,
 * which is the same sum without its zero terms:
 *     weights[k][c][u][v] = sum over the batch and the nonzero g at (i, j) of
 *                           g * image[c][i + u - pad_r][j + v - pad_c]
 *     image gradient[c][y][x] = sum over (u, v) and the nonzero g at
 *                           (y + pad_r - u, x + pad_c - v) of g * weights[k][c][u][v]
 * Both work with the channels last (the image copied so, with its zero padding
 * around, or the kernels turned), so that each sum runs along contiguous channels in
 * vector registers (gcc's vector types: left to itself, gcc vectorized the weight
 * gradient across the nonzero values instead, with gathers, three times slower than
 * the gemm):
 * - the weight gradient gathers each kernel's nonzero values of an image, then sums
 *   g times the patch under each, a block of SPARSE_BLOCK values of a patch row at a
 *   time, and adds the block to the kernel's gradient once;
 * - the input gradient lists an image's nonzero values by output pixel, then, one
 *   kernel position (u, v) at a time, sums each output pixel's values times the
 *   kernels at (u, v) in registers (two sums taking turns so that the multiply-adds
 *   overlap) and adds them to the image pixel under (u, v). A position at a time,
 *   the kernels read are few enough to stay in the first cache (pixel by pixel over
 *   all nine positions, they did not: the CNN's layers 2 and 3 alone, batch 128, an
 *   output gradient like a pool's with 26 and 32 % nonzero values, 5.5 -> 3.2-3.8
 *   and 5.0 -> 2.1-2.6 ms on 2026-12-06).
 *
 * It pays from SPARSE_MIN_CHANNELS channels (a vector's worth of float32) and where
 * at most SPARSE_MAX_PERCENT of the gradient is nonzero; it skips products with 0,
 * which is the same only where the other factor, the images or the kernels, is
 * finite (0 * inf is NaN): corr2d.c takes this path only then (sparse_pays). The
 * threads share the images; the weight gradient's per-thread sums are added in
 * order, so the result does not depend on timing.
 *
 * The forward pass of images that are mostly zeros is the input gradient's sum
 * turned around (sparse_forward, at the end): the CNN's layers 2 and 3 read maps
 * after a rectifier, a pool and dropout, 16 and 38 % nonzero on MNIST (layer 2
 * alone: 4.4-4.9 ms by Winograd, 3.4-3.6 here; layer 3: 3.3-3.5 by im2col, 2.9).
 * Compiled once per node, before corr2d.c, which calls it (see the top of corr2d.c
 * for `real` and FN). */

#define SPARSE_MIN_CHANNELS 8
#define SPARSE_MAX_PERCENT 40
#define SPARSE_BLOCK 64

/* Both read every value once, on every core (the CNN's layer 2: 1.4 million). */
static npy_intp FN(count_nonzero)(const real *x, npy_intp n)
{
    npy_intp count = 0;
    #pragma omp parallel for reduction(+:count) num_threads(parallel_threads(n / 65536))
    for (npy_intp i = 0; i < n; i++) count += x[i] != 0;
    return count;
}

static int FN(all_finite)(const real *x, npy_intp n)
{
    int finite = 1;
    #pragma omp parallel for reduction(&:finite) num_threads(parallel_threads(n / 65536))
    for (npy_intp i = 0; i < n; i++) finite &= (x[i] - x[i]) == 0;  /* inf, NaN: NaN */
    return finite;
}

/* Listing the nonzero values of an array, with a key (an int) for each one's place:
 * a step of the loop per value, as plain C, keeps the next list slot waiting on the
 * last test; with AVX2, eight values are tested at once and the nonzero ones moved
 * to the front of the vector (and their keys alike) by one permutation, which
 * `pack_order` holds for each of the 256 outcomes of the eight tests. */
#include <limits.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

typedef unsigned char FN(pack_order)[256][8];

/* order[mask] = the places of mask's set bits, in order, then zeros. */
static void FN(make_pack_order)(FN(pack_order) order)
{
    for (int mask = 0; mask < 256; mask++) {
        int j = 0;
        for (int bit = 0; bit < 8; bit++)
            if (mask >> bit & 1) order[mask][j++] = (unsigned char)bit;
        for (; j < 8; j++) order[mask][j] = 0;
    }
}

/* values, keys = the x[p] != 0 of x[0 .. n), in order, and key[p] for each; returns
 * how many. values and keys have room for n + 8 (a vector's store runs past). */
static int FN(nonzeros)(const real *x, const int *key, int n,
                        const FN(pack_order) order, real *values, int *keys)
{
    int count = 0, p = 0;
#if defined(__AVX2__)
    if (sizeof(real) == 4)  /* float32: eight to a vector */
        for (; p + 8 <= n; p += 8) {
            const __m256 v = _mm256_loadu_ps((const float *)x + p);
            /* not equal, or unordered (NaN): as x[p] != 0 */
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(),
                                                              _CMP_NEQ_UQ));
            const __m256i to_front = _mm256_cvtepu8_epi32(
                _mm_loadl_epi64((const __m128i *)order[mask]));
            _mm256_storeu_ps((float *)values + count, _mm256_permutevar8x32_ps(v, to_front));
            const __m256i k = _mm256_loadu_si256((const __m256i *)(key + p));
            _mm256_storeu_si256((__m256i *)(keys + count),
                                _mm256_permutevar8x32_epi32(k, to_front));
            count += __builtin_popcount(mask);
        }
#endif
    for (; p < n; p++) {  /* written without a branch: a zero's slot is reused */
        values[count] = x[p];
        keys[count] = key[p];
        count += x[p] != 0;
    }
    return count;
}

/* Whether corr2d.c's direction runs here: see above. `top` is what is mostly zeros,
 * (batch, n_kernels, oh, ow): the output gradient, or the images for the forward
 * pass, which is the input gradient turned around (`channels` then the kernels').
 * `other` is what the products skip a zero times, the images (weight gradient) or
 * the kernels (input gradient, forward pass), of `size` values; `places`, how far the
 * lists reach into one padded image (weight gradient) or the kernels of one position
 * (input gradient), which their keys, ints, must hold. */
static int FN(sparse_pays)(const real *other, npy_intp size, const real *top, int batch,
                           int channels, int n_kernels, int oh, int ow, npy_intp places)
{
    if (channels < SPARSE_MIN_CHANNELS || places > INT_MAX) return 0;
    const npy_intp top_size = (npy_intp)batch * n_kernels * oh * ow;
    return 100 * FN(count_nonzero)(top, top_size) <= SPARSE_MAX_PERCENT * top_size
           && FN(all_finite)(other, size);
}

/* 32 bytes of `real`s, one AVX register (gcc's vector extension: two SSE registers
 * where there is no AVX). */
typedef real FN(vec) __attribute__((vector_size(32)));
#define SPARSE_LANES ((int)(32 / sizeof(real)))

/* out[0 .. vectors * SPARSE_LANES) += the vectors v, sums made in registers. */
static inline void FN(add_vectors)(real *out, const FN(vec) *v, const int vectors)
{
    for (int q = 0; q < vectors; q++) {
        FN(vec) total;
        memcpy(&total, out + q * SPARSE_LANES, sizeof total);
        total += v[q];
        memcpy(out + q * SPARSE_LANES, &total, sizeof total);
    }
}

/* sum[q] += the sum over the n gathered values of g[w] * x[at[w] + q], for the
 * first `vectors` vectors of values (a constant where it is called: the sums stay in
 * registers). */
static inline void FN(sparse_vectors)(const real *x, const int *at, const real *g,
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
    FN(add_vectors)(sum, block, vectors);
}

/* The same for len values, a block of SPARSE_BLOCK or half one at a time. */
static void FN(sparse_row)(const real *x, const int *at, const real *g, int n, int len,
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
    int *pixel_at = (int *)malloc(((size_t)pixels + 1) * sizeof(int));
    if (sums == NULL || pixel_at == NULL) {
        free(sums);
        free(pixel_at);
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < oh; i++)  /* where output pixel (i, j)'s patch starts */
        for (int j = 0; j < ow; j++)
            pixel_at[i * ow + j] = (i * padded_width + j) * channels;
    FN(pack_order) order;
    FN(make_pack_order)(order);
    int failed = 0;
    #pragma omp parallel num_threads(threads)
    {
        real *sum = sums + weights_size * thread_number();
        real *image = (real *)calloc(padded_size, sizeof(real));  /* zeros stay around */
        int *at = (int *)malloc(((size_t)pixels + 8) * sizeof(int));
        real *g = (real *)malloc(((size_t)pixels + 8) * sizeof(real));
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
                const int n = FN(nonzeros)(grad, pixel_at, pixels, order, g, at);
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


/* Vectors of channels summed at once for the input gradient: two sums of 4, 8 of the
 * 16 AVX registers. */
#define PIXEL_VECTORS 4

/* out[0 .. vectors * SPARSE_LANES) += the sum over entries e = first .. end - 1 of
 * gg[e] times the kernel row w + row[e] (a block of channels of one kernel at one
 * kernel position). `vectors` is a constant where it is called: the sums stay in
 * registers, two of them, the entries taking turns, so that twice the additions
 * are under way at once. */
static inline void FN(entries_sum)(const real *w, const int *row, const real *gg,
                                   int first, int end, const int vectors, real *out)
{
    FN(vec) sum[PIXEL_VECTORS], other[PIXEL_VECTORS];
    for (int q = 0; q < vectors; q++) sum[q] = other[q] = (FN(vec)){0};
    int e = first;
    for (; e + 1 < end; e += 2) {
        const real *w1 = w + row[e], *w2 = w + row[e + 1];
        const FN(vec) g1 = (FN(vec)){0} + gg[e], g2 = (FN(vec)){0} + gg[e + 1];
        for (int q = 0; q < vectors; q++) {
            FN(vec) values1, values2;
            memcpy(&values1, w1 + q * SPARSE_LANES, sizeof values1);
            memcpy(&values2, w2 + q * SPARSE_LANES, sizeof values2);
            sum[q] += g1 * values1;
            other[q] += g2 * values2;
        }
    }
    if (e < end) {
        const real *w1 = w + row[e];
        const FN(vec) g1 = (FN(vec)){0} + gg[e];
        for (int q = 0; q < vectors; q++) {
            FN(vec) values1;
            memcpy(&values1, w1 + q * SPARSE_LANES, sizeof values1);
            sum[q] += g1 * values1;
        }
    }
    for (int q = 0; q < vectors; q++) sum[q] += other[q];
    FN(add_vectors)(out, sum, vectors);
}

/* bottom (batch, channels, height, width) = the gradient of the images, from the
 * kernels `weights` and the output gradient `top`. Image by image, the nonzero values
 * of top are first listed by output pixel (the kernel's row in the turned kernels,
 * and the value); then, a block of channels and one kernel position (u, v) at a time,
 * each output pixel's listed values times the kernels' channels at (u, v) are summed
 * in registers and added to the image pixel that (u, v) reaches from there. One
 * position's kernels (turned to (u, v, k, c) first) are a block small enough to stay
 * in the core's first cache while every pixel reads them. Returns 0, or -1 with a
 * Python error set. */
static int FN(sparse_grad_inputs)(real *bottom, const real *weights, const real *top,
                                  int batch, int channels, int height, int width,
                                  int n_kernels, int kh, int kw, int pad_r, int pad_c,
                                  int oh, int ow)
{
    const int pixels = oh * ow, image_pixels = height * width;
    const npy_intp uv_stride = (npy_intp)n_kernels * channels;
    real *wt = (real *)malloc((size_t)kh * kw * uv_stride * sizeof(real));
    if (wt == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int k = 0; k < n_kernels; k++)  /* (k, c, u, v) to (u, v, k, c) */
        for (int c = 0; c < channels; c++)
            for (int uv = 0; uv < kh * kw; uv++)
                wt[uv * uv_stride + (npy_intp)k * channels + c] =
                    weights[((npy_intp)k * channels + c) * kh * kw + uv];
    int *pixel_index = (int *)malloc(((size_t)pixels + 1) * sizeof(int));
    if (pixel_index == NULL) {
        free(wt);
        PyErr_NoMemory();
        return -1;
    }
    for (int p = 0; p < pixels; p++) pixel_index[p] = p;
    FN(pack_order) order;
    FN(make_pack_order)(order);
    const int block = PIXEL_VECTORS * SPARSE_LANES;
    int failed = 0;
    #pragma omp parallel num_threads(parallel_threads(batch))
    {
        /* each kernel's nonzero values and their pixels (nonzeros), then each output
         * pixel's: entries first[p] .. last[p] - 1 of row and gg */
        int *first = (int *)malloc(2 * ((size_t)pixels + 1) * sizeof(int));
        int *last = first + pixels + 1;
        const size_t most = (size_t)n_kernels * pixels + 8;
        real *found = (real *)malloc(most * sizeof(real));
        int *found_at = (int *)malloc(most * sizeof(int));
        int *kernel_end = (int *)malloc(((size_t)n_kernels + 1) * sizeof(int));
        int *row = (int *)malloc(most * sizeof(int));
        real *gg = (real *)malloc(most * sizeof(real));
        real *out = (real *)malloc(((size_t)image_pixels * channels + 1) * sizeof(real));
        const int ok = first != NULL && found != NULL && found_at != NULL
                       && kernel_end != NULL && row != NULL && gg != NULL && out != NULL;
        #pragma omp for schedule(static)
        for (int b = 0; b < batch; b++) {
            if (!ok) continue;
            const real *grad = top + (npy_intp)b * n_kernels * pixels;
            int n = 0;
            for (int k = 0; k < n_kernels; k++) {
                n += FN(nonzeros)(grad + (npy_intp)k * pixels, pixel_index, pixels, order,
                                  found + n, found_at + n);
                kernel_end[k] = n;
            }
            for (int p = 0; p < pixels; p++) last[p] = 0;
            for (int e = 0; e < n; e++) last[found_at[e]]++;  /* count, then list */
            for (int p = 0, at = 0; p < pixels; p++) {
                first[p] = at;
                at += last[p];
                last[p] = first[p];
            }
            for (int k = 0, e = 0; k < n_kernels; k++)
                for (; e < kernel_end[k]; e++) {
                    const int p = found_at[e];
                    row[last[p]] = k * channels;
                    gg[last[p]++] = found[e];
                }
            memset(out, 0, (size_t)image_pixels * channels * sizeof(real));
            for (int c = 0; c < channels; c += block)  /* each pixel's channels last in out */
            for (int u = 0; u < kh; u++)
            for (int v = 0; v < kw; v++) {
                const real *w_uv = wt + (u * kw + v) * uv_stride + c;
                /* the output pixels (i, j) whose image pixel (i + u - pad_r, j + v - pad_c)
                 * is inside the image */
                const int i_first = pad_r - u > 0 ? pad_r - u : 0;
                const int i_end = height + pad_r - u < oh ? height + pad_r - u : oh;
                const int j_first = pad_c - v > 0 ? pad_c - v : 0;
                const int j_end = width + pad_c - v < ow ? width + pad_c - v : ow;
                for (int i = i_first; i < i_end; i++)
                    for (int j = j_first; j < j_end; j++) {
                        const int p = i * ow + j;
                        real *o = out + ((npy_intp)(i + u - pad_r) * width + j + v - pad_c)
                                        * channels + c;
                        if (c + block <= channels) {
                            FN(entries_sum)(w_uv, row, gg, first[p], last[p], PIXEL_VECTORS, o);
                            continue;
                        }
                        int q = 0;  /* the last channels: vectors, then one by one */
                        for (; c + q + SPARSE_LANES <= channels; q += SPARSE_LANES)
                            FN(entries_sum)(w_uv + q, row, gg, first[p], last[p], 1, o + q);
                        for (; c + q < channels; q++)
                            for (int e = first[p]; e < last[p]; e++)
                                o[q] += gg[e] * w_uv[row[e] + q];
                    }
            }
            real *image = bottom + (npy_intp)b * channels * image_pixels;
            for (int c = 0; c < channels; c++)  /* back to (c, y, x) */
                for (int q = 0; q < image_pixels; q++)
                    image[(npy_intp)c * image_pixels + q] = out[(npy_intp)q * channels + c];
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        free(first);
        free(found);
        free(found_at);
        free(kernel_end);
        free(row);
        free(gg);
        free(out);
    }
    free(wt);
    free(pixel_index);
    if (failed) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The forward correlation where the images are mostly zeros (the CNN's layer 2 reads
 * the first layer's rectified, pooled maps after dropout: about 16 % of them
 * nonzero). Turned around, it is the input gradient's sum above: top[k][i][j] sums
 * bottom[c][i + u - pad_r][j + v - pad_c] times weights[k][c][u][v], which is
 * the input gradient of the "output gradient" bottom, with the kernels' roles of
 * kernel and channel swapped and each kernel flipped (u -> kh - 1 - u, v alike),
 * padded kh - 1 - pad_r and kw - 1 - pad_c. Returns 0, or -1 with a Python error
 * set. */
static int FN(sparse_forward)(const real *bottom, const real *weights, real *top, int batch,
                              int channels, int height, int width, int n_kernels, int kh,
                              int kw, int pad_r, int pad_c, int oh, int ow)
{
    real *turned = (real *)malloc(((size_t)n_kernels * channels * kh * kw + 1) * sizeof(real));
    if (turned == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int k = 0; k < n_kernels; k++)  /* turned[c][k][kh - 1 - u][kw - 1 - v] */
        for (int c = 0; c < channels; c++)
            for (int u = 0; u < kh; u++)
                for (int v = 0; v < kw; v++)
                    turned[(((npy_intp)c * n_kernels + k) * kh + kh - 1 - u) * kw + kw - 1 - v] =
                        weights[(((npy_intp)k * channels + c) * kh + u) * kw + v];
    const int failed = FN(sparse_grad_inputs)(top, turned, bottom, batch, n_kernels, oh, ow,
                                              channels, kh, kw, kh - 1 - pad_r, kw - 1 - pad_c,
                                              height, width);
    free(turned);
    return failed;
}

#undef SPARSE_LANES
#undef SPARSE_BLOCK
#undef PIXEL_VECTORS
