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
 * - the input gradient lists an image's nonzero values by output pixel, then, a row
 *   u of kernel positions at a time, sums for each image pixel the values of the
 *   output pixels that reach it through that row times their kernels, in registers
 *   (two sums taking turns so that the multiply-adds overlap), and adds them to the
 *   pixel. A row of positions at a time, the kernels read (laid out a block of 32
 *   channels at a time) mostly stay in the first cache; the reaching output pixels
 *   are a run of one output row, listed one after another, so each image pixel's
 *   sum is one loop over one stretch of the list. (The CNN's layers 2 and 3 alone,
 *   batch 128, an output gradient like a pool's with 20 and 25 % nonzero values:
 *   all nine positions at once with the channels' rows interleaved, 5.5 and 5.0
 *   ms; a position at a time, 3.0-3.4 and 1.9-2.4; a row at a time, 2.4-2.5 and
 *   1.7, on 2026-12-06.)
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
 * after a rectifier, a pool and dropout, 16-22 and 42-46 % nonzero on MNIST (layer
 * 2 alone, at 20 %: 4.4-4.9 ms by Winograd, 2.6-2.8 here; layer 3, at 38 %: 3.3-3.5
 * by im2col, 2.0-2.2).
 * Compiled once per node, before corr2d.c, which calls it (see the top of corr2d.c
 * for `real` and FN). */

#define SPARSE_MIN_CHANNELS 8
#define SPARSE_MAX_PERCENT 40
/* The forward pass against im2col (where Winograd does not pay): the CNN's layer 3,
 * batch 128, ran 2.3-2.6 ms here at 42 % nonzero, 2.6-2.9 at 50 %, 2.9-3.2 at 58 %,
 * against im2col's 3.3 at any (Winograd's layer 2: 4.4-4.6 ms, here 4.3-4.7 at 42 %,
 * 4.6-4.7 at 46 %; 2026-12-06) */
#define SPARSE_FORWARD_MAX_PERCENT 55
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
 * lists reach into one padded image (weight gradient) or the turned kernels (input
 * gradient, input_places), which their keys, ints, must hold; `max_percent`, how much
 * of top may be nonzero (SPARSE_MAX_PERCENT, or corr2d.c's sparse_forward_pays). */
static int FN(sparse_pays)(const real *other, npy_intp size, const real *top, int batch,
                           int channels, int n_kernels, int oh, int ow, npy_intp places,
                           int max_percent)
{
    if (channels < SPARSE_MIN_CHANNELS || places > INT_MAX) return 0;
    const npy_intp top_size = (npy_intp)batch * n_kernels * oh * ow;
    return 100 * FN(count_nonzero)(top, top_size) <= max_percent * top_size
           && FN(all_finite)(other, size);
}

/* image[c][q] = out[q][c] for the channels c < channels of pixels q < pixels, out's
 * rows `stride` apart: the sums' pixels-by-channels back to the images' layout. With
 * AVX2 and float32, 8 pixels by 8 channels at a time, turned in registers (one load
 * per row of 8 channels, one store per row of 8 pixels; a value at a time, the loads
 * ran down the columns of out, a cache line each); the edges a value at a time. */
static void FN(pixels_to_channels)(real *image, const real *out, int pixels, int channels,
                                   int stride)
{
    int q0 = 0;
#if defined(__AVX2__)
    if (sizeof(real) == 4)
        for (; q0 + 8 <= pixels; q0 += 8) {
            int c0 = 0;
            for (; c0 + 8 <= channels; c0 += 8) {
                const float *from = (const float *)out + (npy_intp)q0 * stride + c0;
                __m256 r[8], t[8];
                for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(from + (npy_intp)i * stride);
                for (int i = 0; i < 8; i += 2) {  /* pairs of rows, interleaved */
                    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
                }
                for (int i = 0; i < 8; i += 4) {  /* then fours */
                    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
                    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
                    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
                    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
                }
                /* then the two halves: row j holds channel c0 + j of the 8 pixels */
                const int lo[4] = {0, 1, 2, 3};
                for (int j = 0; j < 4; j++) {
                    t[j] = _mm256_permute2f128_ps(r[lo[j]], r[lo[j] + 4], 0x20);
                    t[j + 4] = _mm256_permute2f128_ps(r[lo[j]], r[lo[j] + 4], 0x31);
                }
                for (int j = 0; j < 8; j++)
                    _mm256_storeu_ps((float *)image + (npy_intp)(c0 + j) * pixels + q0, t[j]);
            }
            for (int c = c0; c < channels; c++)
                for (int q = q0; q < q0 + 8; q++)
                    image[(npy_intp)c * pixels + q] = out[(npy_intp)q * stride + c];
        }
#endif
    for (int c = 0; c < channels; c++)
        for (int q = q0; q < pixels; q++)
            image[(npy_intp)c * pixels + q] = out[(npy_intp)q * stride + c];
}

/* A bound on how far sparse_inputs_sum's keys and shifts reach into its laid-out
 * kernels (positions of n_kernels x channels, the channels rounded up to whole
 * blocks of at most 32): every kernel position, plus a shift of up to a row of
 * positions (its padding, less than kw, within kh * kw), plus a key of minus up to
 * another. Symmetric in the two maps, so the forward pass, the same sum turned
 * around, gives the same bound. */
static npy_intp FN(input_places)(int channels, int height, int width, int n_kernels, int kh,
                                 int kw, int oh, int ow)
{
    return ((npy_intp)height + width + oh + ow + kh * kw) * n_kernels * (channels + 32);
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
 * images `bottom` and the output gradient `top`. A value whose patch is all zeros
 * adds nothing, and is left out (unless it is infinite or NaN, which makes NaN of
 * the zeros): MNIST's digits lie on a black ground, and where a layer's images are
 * 0 over a whole patch, the gradient under its pool is nonzero all the more (every
 * value of a window of zeros ties for its maximum, 0, and passes the rectifier at
 * 0): layer 2's output gradient is 32 % nonzero where one value a window would be
 * 20 %, and about half of its values lie over patches of zeros. Returns 0, or -1
 * with a Python error set. */
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
    const int padded_pixels = (height + 2 * pad_r) * padded_width;
    real *sums = (real *)calloc(weights_size * threads, sizeof(real));
    int *pixel_at = (int *)malloc(2 * ((size_t)pixels + 1) * sizeof(int));
    if (sums == NULL || pixel_at == NULL) {
        free(sums);
        free(pixel_at);
        PyErr_NoMemory();
        return -1;
    }
    int *pixel_index = pixel_at + pixels + 1;
    for (int i = 0; i < oh; i++)  /* where output pixel (i, j)'s patch starts */
        for (int j = 0; j < ow; j++) {
            pixel_at[i * ow + j] = (i * padded_width + j) * channels;
            pixel_index[i * ow + j] = i * ow + j;
        }
    FN(pack_order) order;
    FN(make_pack_order)(order);
    int failed = 0;
    #pragma omp parallel num_threads(threads)
    {
        real *sum = sums + weights_size * thread_number();
        real *image = (real *)aligned_bytes(padded_size * sizeof(real));
        if (image != NULL) memset(image, 0, padded_size * sizeof(real));  /* zeros stay around */
        int *at = (int *)malloc(((size_t)pixels + 8) * sizeof(int));
        real *g = (real *)malloc(((size_t)pixels + 8) * sizeof(real));
        /* whether an image pixel has a nonzero channel; whether a patch has none */
        char *lit = (char *)malloc((size_t)padded_pixels + pixels);
        char *empty = lit + padded_pixels;
        const int ok = image != NULL && at != NULL && g != NULL && lit != NULL;
        #pragma omp for schedule(static)
        for (int b = 0; b < batch; b++) {
            if (!ok) continue;
            const real *in = bottom + (npy_intp)b * channels * height * width;
            /* channels last, inside the padding: without columns of it, the rows are
             * one run of pixels */
            const int runs = pad_c ? height : 1, run = pad_c ? width : height * width;
            for (int y = 0; y < runs; y++)
                FN(pixels_to_channels)(image + ((npy_intp)(y + pad_r) * padded_width + pad_c)
                                               * channels, in + (npy_intp)y * width,
                                       channels, run, height * width);
            for (int q = 0; q < padded_pixels; q++) {
                int any = 0;
                for (int c = 0; c < channels; c++) any |= image[(npy_intp)q * channels + c] != 0;
                lit[q] = (char)any;
            }
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    int any = 0;
                    for (int u = 0; u < kh; u++)
                        for (int v = 0; v < kw; v++) any |= lit[(i + u) * padded_width + j + v];
                    empty[i * ow + j] = (char)!any;
                }
            for (int k = 0; k < n_kernels; k++) {
                const real *grad = top + ((npy_intp)b * n_kernels + k) * pixels;
                const int found = FN(nonzeros)(grad, pixel_index, pixels, order, g, at);
                int n = 0;  /* the values over a patch that is not all zeros, and where */
                for (int e = 0; e < found; e++) {  /* their patches start */
                    const int p = at[e];
                    g[n] = g[e];
                    at[n] = pixel_at[p];
                    n += !empty[p] | ((g[e] - g[e]) != 0);  /* (inf, NaN: NaN) */
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
        free(lit);
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
 * gg[e] times the kernel row w + shift + row[e] (a block of channels of one kernel at
 * one kernel position). `vectors` is a constant where it is called: the sums stay in
 * registers, two of them, the entries taking turns, so that twice the additions
 * are under way at once. */
static inline void FN(entries_sum)(const real *w, int shift, const int *row, const real *gg,
                                   int first, int end, const int vectors, real *out)
{
    FN(vec) sum[PIXEL_VECTORS], other[PIXEL_VECTORS];
    for (int q = 0; q < vectors; q++) sum[q] = other[q] = (FN(vec)){0};
    int e = first;
    for (; e + 1 < end; e += 2) {
        const real *w1 = w + (row[e] + shift), *w2 = w + (row[e + 1] + shift);
        const real g1 = gg[e], g2 = gg[e + 1];  /* a scalar times a vector: each lane */
        for (int q = 0; q < vectors; q++) {
            FN(vec) values1, values2;
            memcpy(&values1, w1 + q * SPARSE_LANES, sizeof values1);
            memcpy(&values2, w2 + q * SPARSE_LANES, sizeof values2);
            sum[q] += g1 * values1;
            other[q] += g2 * values2;
        }
    }
    if (e < end) {
        const real *w1 = w + (row[e] + shift);
        const real g1 = gg[e];
        for (int q = 0; q < vectors; q++) {
            FN(vec) values1;
            memcpy(&values1, w1 + q * SPARSE_LANES, sizeof values1);
            sum[q] += g1 * values1;
        }
    }
    for (int q = 0; q < vectors; q++) sum[q] += other[q];
    FN(add_vectors)(out, sum, vectors);
}

/* The sum of the input gradient (and, turned around, of the forward pass) over kernels
 * laid out for it: wt[b][uv][k][l] is kernel k's channel b * width + l at position
 * uv = u * kw + v, a block of `width` channels (a multiple of a vector) after another,
 * zeros past the last channel. Each block is contiguous: a row of positions of one
 * block (3 x 128 kernels x 32 channels for the CNN's layer 3) is what every pixel's
 * sum reads, and in one piece it shares the core's first cache evenly (rows of all
 * the channels, 64 for layer 3, put every other line of it on the same half of the
 * cache's sets). The kernels come from `weights` at k * k_step + c * c_step + uv, or
 * + (kh * kw - 1 - uv) with `flip`: the input gradient reads (k, c, u, v) as it is,
 * the forward pass reads it with kernels and channels swapped, flipped. */
static void FN(lay_out_kernels)(real *wt, const real *weights, npy_intp k_step,
                                npy_intp c_step, int flip, int n_kernels, int channels,
                                int kh, int kw, int width)
{
    const int positions = kh * kw, blocks = (channels + width - 1) / width;
    #pragma omp for schedule(static)
    for (int bu = 0; bu < blocks * positions; bu++) {
        const int b = bu / positions, uv = bu % positions;
        const int from = flip ? positions - 1 - uv : uv;
        real *to = wt + (npy_intp)bu * n_kernels * width;
        for (int k = 0; k < n_kernels; k++)
            for (int l = 0; l < width; l++) {
                const int c = b * width + l;
                to[(npy_intp)k * width + l] =
                    c < channels ? weights[k * k_step + c * c_step + from] : 0;
            }
    }
}

/* bottom (batch, channels, height, width) = the sum over kernel positions (u, v) and
 * kernels k of top[k][i][j] times kernel k's channels at (u, v), added at image pixel
 * (i + u - pad_r, j + v - pad_c): the input gradient, with the kernels `weights` read
 * as lay_out_kernels says. Image by image, the nonzero values of top are first listed
 * by output pixel (their kernel's row in a block of wt, and the value); then, a block
 * of channels and a row u of positions at a time, each image pixel (y, x) sums in
 * registers the values of the output pixels (y + pad_r - u, j) that reach it, over
 * the kw positions v = x + pad_c - j: a run of one output row, whose values are
 * listed one after another, and whose kernels lie kw positions apart, one row of
 * positions of the block. Returns 0, or -1 with a Python error set. */
static int FN(sparse_inputs_sum)(real *bottom, const real *weights, npy_intp k_step,
                                 npy_intp c_step, int flip, const real *top, int batch,
                                 int channels, int height, int width, int n_kernels,
                                 int kh, int kw, int pad_r, int pad_c, int oh, int ow)
{
    const int pixels = oh * ow, image_pixels = height * width;
    /* a block: PIXEL_VECTORS vectors of channels, or fewer where there are fewer */
    const int vectors = (channels + SPARSE_LANES - 1) / SPARSE_LANES < PIXEL_VECTORS
                        ? (channels + SPARSE_LANES - 1) / SPARSE_LANES : PIXEL_VECTORS;
    const int block = vectors * SPARSE_LANES, blocks = (channels + block - 1) / block;
    const int padded = blocks * block;  /* channels, a whole number of blocks */
    const int position = n_kernels * block;  /* one position of a block in wt */
    const npy_intp block_size = (npy_intp)kh * kw * position;
    real *wt = (real *)aligned_bytes((size_t)blocks * block_size * sizeof(real));
    /* each output pixel's kernel rows are keyed minus its column j's positions, so
     * that one shift, x + pad_c positions, reaches (u, v) from every j of a run */
    int *kernel_key = (int *)malloc(((size_t)n_kernels + pixels + 1) * sizeof(int));
    if (wt == NULL || kernel_key == NULL) {
        free(wt);
        free(kernel_key);
        PyErr_NoMemory();
        return -1;
    }
    int *column_key = kernel_key + n_kernels;
    for (int k = 0; k < n_kernels; k++) kernel_key[k] = k * block;
    for (int q = 0; q < pixels; q++) column_key[q] = -(q % ow) * position;
    FN(pack_order) order;
    FN(make_pack_order)(order);
    int failed = 0;
    #pragma omp parallel num_threads(parallel_threads(batch))
    {
        FN(lay_out_kernels)(wt, weights, k_step, c_step, flip, n_kernels, channels, kh, kw,
                            block);  /* (the for's end waits for every thread) */
        /* an image's top turned to (pixel, kernel), then each output pixel's nonzero
         * values in order: entries first[p] .. first[p + 1] - 1 of row and gg */
        int *first = (int *)malloc(((size_t)pixels + 1) * sizeof(int));
        const size_t most = (size_t)n_kernels * pixels + 8;
        real *turned = (real *)malloc(most * sizeof(real));
        int *row = (int *)malloc(most * sizeof(int));
        real *gg = (real *)malloc(most * sizeof(real));
        real *out = (real *)aligned_bytes(((size_t)image_pixels * padded + 1) * sizeof(real));
        const int ok = first != NULL && turned != NULL && row != NULL && gg != NULL
                       && out != NULL;
        #pragma omp for schedule(static)
        for (int b = 0; b < batch; b++) {
            if (!ok) continue;
            /* turned[p][k] = top[b][k][p]: the turn back from the sums' layout, the
             * other way round */
            FN(pixels_to_channels)(turned, top + (npy_intp)b * n_kernels * pixels,
                                   n_kernels, pixels, pixels);
            int n = 0;
            for (int q = 0; q < pixels; q++) {
                first[q] = n;
                const int found = FN(nonzeros)(turned + (npy_intp)q * n_kernels, kernel_key,
                                               n_kernels, order, gg + n, row + n);
                for (int e = n; e < n + found; e++) row[e] += column_key[q];
                n += found;
            }
            first[pixels] = n;
            memset(out, 0, (size_t)image_pixels * padded * sizeof(real));
            for (int c = 0; c < blocks; c++)  /* each pixel's channels last in out */
            for (int u = 0; u < kh; u++) {
                const real *w_u = wt + c * block_size + (npy_intp)u * kw * position;
                for (int y = 0; y < height; y++) {
                    const int i = y + pad_r - u;  /* the output row that u takes to row y */
                    if (i < 0 || i >= oh) continue;
                    for (int x = 0; x < width; x++) {
                        /* the run: output columns j with 0 <= x + pad_c - j < kw */
                        const int j_first = x + pad_c - kw + 1 > 0 ? x + pad_c - kw + 1 : 0;
                        const int j_last = x + pad_c < ow - 1 ? x + pad_c : ow - 1;
                        if (j_first > j_last) continue;
                        const int begin = first[i * ow + j_first];
                        const int end = first[i * ow + j_last + 1];
                        const int shift = (x + pad_c) * position;
                        real *o = out + ((npy_intp)y * width + x) * padded + c * block;
                        switch (vectors) {  /* a constant each: the sums stay in registers */
                        case 1: FN(entries_sum)(w_u, shift, row, gg, begin, end, 1, o); break;
                        case 2: FN(entries_sum)(w_u, shift, row, gg, begin, end, 2, o); break;
                        case 3: FN(entries_sum)(w_u, shift, row, gg, begin, end, 3, o); break;
                        default: FN(entries_sum)(w_u, shift, row, gg, begin, end,
                                                 PIXEL_VECTORS, o);
                        }
                    }
                }
            }
            FN(pixels_to_channels)(bottom + (npy_intp)b * channels * image_pixels, out,
                                   image_pixels, channels, padded);  /* back to (c, y, x) */
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        free(first);
        free(turned);
        free(row);
        free(gg);
        free(out);
    }
    free(wt);
    free(kernel_key);
    if (failed) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* bottom (batch, channels, height, width) = the gradient of the images, from the
 * kernels `weights` (n_kernels, channels, kh, kw) and the output gradient `top`:
 * the sum above, over the kernels as they are. Returns 0, or -1 with a Python error
 * set. */
static int FN(sparse_grad_inputs)(real *bottom, const real *weights, const real *top,
                                  int batch, int channels, int height, int width,
                                  int n_kernels, int kh, int kw, int pad_r, int pad_c,
                                  int oh, int ow)
{
    return FN(sparse_inputs_sum)(bottom, weights, (npy_intp)channels * kh * kw, kh * kw, 0,
                                 top, batch, channels, height, width, n_kernels, kh, kw,
                                 pad_r, pad_c, oh, ow);
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
    return FN(sparse_inputs_sum)(top, weights, kh * kw, (npy_intp)channels * kh * kw, 1,
                                 bottom, batch, n_kernels, oh, ow, channels, kh, kw,
                                 kh - 1 - pad_r, kw - 1 - pad_c, height, width);
}

#undef SPARSE_LANES
#undef SPARSE_BLOCK
#undef PIXEL_VECTORS
