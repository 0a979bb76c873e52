/* The C kernels behind toolkit/ops.py's conv2d, in the manner of Theano's CorrMM:
 * the patches of a chunk of images are unrolled in C ("im2col"), one BLAS gemm per
 * chunk multiplies them with the weights, and the input gradient is scattered back
 * in C ("col2im"). Forward and for the weight gradient, the 3x3 correlations with
 * enough channels take Winograd's F(2x2, 3x3) and F(3x3, 2x2) instead (winograd.c,
 * where winograd_pays says when); and both gradients of an output gradient that is
 * mostly zeros, as under a max pool, and the forward pass of images that are,
 * as after a rectifier, a pool and dropout, skip them (sparse_grad.c, where
 * sparse_pays and sparse_forward_pays say so: before Winograd, which it beats there).
 *
 * Theano's names for the three arrays: `bottom` the images (batch, channels,
 * height, width), `weights` the kernels (n_kernels, channels, kh, kw), `top` the
 * correlation (batch, n_kernels, oh, ow). Each direction reads two of them and
 * writes the third: FORWARD writes top, GRAD_WEIGHTS writes weights (from bottom
 * and the gradient in top), GRAD_INPUTS writes bottom (from weights and the
 * gradient in top). These are correlations: ops.py flips the kernel for Theano's
 * convolution.
 *
 * toolkit/ckernel.py compiles this file once per node, after gemm.c, winograd.c and
 * sparse_grad.c:
 * `real` is npy_float32 or npy_float64, FN(name) makes each function's name unique
 * to the node, and ops.py defines FORWARD, GRAD_WEIGHTS, GRAD_INPUTS and
 * CONV_TARGET_COLUMNS. Arrays are C-contiguous.
 */

/* Whether the forward pass runs as sparse_grad.c's sum (sparse_forward): where the
 * images are mostly zeros, up to SPARSE_FORWARD_MAX_PERCENT nonzero where the dense
 * pass would be im2col, SPARSE_MAX_PERCENT where Winograd pays. Its lists are of
 * the images' channels: enough of those too (the first layer's one channel ran 3
 * times slower so). */
static int FN(sparse_forward_pays)(const real *bottom, const real *weights, int batch,
                                   int channels, int height, int width, int n_kernels,
                                   int kh, int kw, int oh, int ow)
{
    const int most = FN(winograd_pays)(FORWARD, channels, n_kernels, kh, kw, oh, ow)
                     ? SPARSE_MAX_PERCENT : SPARSE_FORWARD_MAX_PERCENT;
    return channels >= SPARSE_MIN_CHANNELS
           && FN(sparse_pays)(weights, (npy_intp)n_kernels * channels * kh * kw, bottom, batch,
                              n_kernels, channels, height, width,
                              FN(input_places)(channels, height, width, n_kernels, kh, kw,
                                               oh, ow), most);
}

/* How many images share one gemm: enough output pixels for the BLAS to run well,
 * few enough that the unrolled patches stay in the core's cache, and as many
 * chunks for every core (the last two of the CNN's layers have one or two chunks'
 * worth of pixels: 82 images and 46 would keep one core waiting). */
static int FN(chunk_size)(int batch, int out_pixels, int threads)
{
    /* an image with half the columns or more is a gemm of its own, whose block of
     * top is the gemm's layout as it is: no regrouping (the first layer's forward
     * pass, 1.54 -> 1.32 ms) */
    if (2 * out_pixels >= CONV_TARGET_COLUMNS) return 1;
    long chunks = ((long)batch * out_pixels + CONV_TARGET_COLUMNS - 1) / CONV_TARGET_COLUMNS;
    chunks = (chunks + threads - 1) / threads * threads;
    int nb = (int)((batch + chunks - 1) / chunks);
    return nb < 1 ? 1 : nb;
}

/* The first and one-past-last output column j whose input column j + v - pad
 * falls inside 0 .. width - 1. */
static void FN(inside)(int v, int pad, int width, int out_width, int *first, int *end)
{
    int lo = pad - v, hi = width + pad - v;
    *first = lo < 0 ? 0 : (lo > out_width ? out_width : lo);
    *end = hi > out_width ? out_width : (hi < *first ? *first : hi);
}

/* out[0 .. n) = in[0 .. n) for n <= 8: each case a copy of a size the compiler knows,
 * a move or two, where a loop of a few steps costs its setup every row (the CNN's
 * layer 3 has rows of 5). */
static inline void FN(copy_short)(const real *in, real *out, int n)
{
    switch (n) {
    case 1: memcpy(out, in, 1 * sizeof(real)); break;
    case 2: memcpy(out, in, 2 * sizeof(real)); break;
    case 3: memcpy(out, in, 3 * sizeof(real)); break;
    case 4: memcpy(out, in, 4 * sizeof(real)); break;
    case 5: memcpy(out, in, 5 * sizeof(real)); break;
    case 6: memcpy(out, in, 6 * sizeof(real)); break;
    case 7: memcpy(out, in, 7 * sizeof(real)); break;
    case 8: memcpy(out, in, 8 * sizeof(real)); break;
    }
}

/* col[(c, u, v), (b, i, j)] = image[b, c, i + u - pad_r, j + v - pad_c], 0 outside:
 * the patches of nb images as the columns of a (channels*kh*kw, nb*oh*ow) matrix. */
static void FN(im2col)(const real *images, int nb, int channels, int height, int width,
                       int kh, int kw, int pad_r, int pad_c, int oh, int ow, real *col)
{
    const npy_intp columns = (npy_intp)nb * oh * ow;
    for (int c = 0; c < channels; c++)
    for (int u = 0; u < kh; u++)
    for (int v = 0; v < kw; v++) {
        real *row = col + ((npy_intp)(c * kh + u) * kw + v) * columns;
        int first, end;
        FN(inside)(v, pad_c, width, ow, &first, &end);
        for (int b = 0; b < nb; b++) {
            const real *image = images + ((npy_intp)b * channels + c) * height * width;
            for (int i = 0; i < oh; i++) {
                real *out = row + ((npy_intp)b * oh + i) * ow;
                int y = i + u - pad_r;
                if (y < 0 || y >= height) {
                    for (int j = 0; j < ow; j++) out[j] = 0;
                    continue;
                }
                const real *in = image + (npy_intp)y * width + (v - pad_c);  /* j reads in[j] */
                if (first == 0 && end == ow && ow <= 8) {  /* a short row, all inside */
                    FN(copy_short)(in, out, ow);
                    continue;
                }
                int j = 0;  /* plain loops: the compiler vectorizes them, no call per row */
                for (; j < first; j++) out[j] = 0;
                for (; j < end; j++) out[j] = in[j];
                for (; j < ow; j++) out[j] = 0;
            }
        }
    }
}

/* The transpose of im2col: each patch element added back where it came from. */
static void FN(col2im)(const real *col, int nb, int channels, int height, int width,
                       int kh, int kw, int pad_r, int pad_c, int oh, int ow, real *images)
{
    const npy_intp columns = (npy_intp)nb * oh * ow;
    memset(images, 0, (npy_intp)nb * channels * height * width * sizeof(real));
    for (int c = 0; c < channels; c++)
    for (int u = 0; u < kh; u++)
    for (int v = 0; v < kw; v++) {
        const real *row = col + ((npy_intp)(c * kh + u) * kw + v) * columns;
        int first, end;
        FN(inside)(v, pad_c, width, ow, &first, &end);
        for (int b = 0; b < nb; b++) {
            real *image = images + ((npy_intp)b * channels + c) * height * width;
            for (int i = 0; i < oh; i++) {
                int y = i + u - pad_r;
                if (y < 0 || y >= height) continue;
                const real *in = row + ((npy_intp)b * oh + i) * ow;
                real *out = image + (npy_intp)y * width + v - pad_c + first;
                for (int j = first; j < end; j++) *out++ += in[j];
            }
        }
    }
}

/* Gather the (n_kernels, nb*oh*ow) matrix of nb images' outputs from (nb, n_kernels,
 * oh*ow), or scatter it back (to_images = 1). */
static void FN(regroup)(real *by_image, real *by_kernel, int nb, int n_kernels,
                        int pixels, int to_images)
{
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < n_kernels; k++) {
            real *image = by_image + ((npy_intp)b * n_kernels + k) * pixels;
            real *kernel = by_kernel + ((npy_intp)k * nb + b) * pixels;
            if (to_images) memcpy(image, kernel, pixels * sizeof(real));
            else memcpy(kernel, image, pixels * sizeof(real));
        }
}

/* One chunk of nb images in one direction; col and grouped are the thread's buffers.
 * Here bottom and top point at the chunk's first image, weights at the thread's sum
 * for GRAD_WEIGHTS. */
static void FN(corr2d_chunk)(int direction, real *bottom, real *weights, real *top, int nb,
                             int channels, int height, int width, int n_kernels, int kh,
                             int kw, int pad_r, int pad_c, int oh, int ow,
                             real *col, real *grouped)
{
    const int pixels = oh * ow, patch = channels * kh * kw, columns = nb * pixels;
    /* one image: its (n_kernels, oh*ow) block of top is already the gemm's layout */
    real *by_kernel = nb == 1 ? top : grouped;
    if (direction == FORWARD) {              /* top = weights . patches */
        FN(im2col)(bottom, nb, channels, height, width, kh, kw, pad_r, pad_c, oh, ow, col);
        FN(gemm_rm)('N', 'N', n_kernels, columns, patch, 1, weights, patch, col, columns,
                    0, by_kernel, columns);
        if (nb > 1) FN(regroup)(top, grouped, nb, n_kernels, pixels, 1);
    } else if (direction == GRAD_WEIGHTS) {  /* weights += d top . patches^T */
        FN(im2col)(bottom, nb, channels, height, width, kh, kw, pad_r, pad_c, oh, ow, col);
        if (nb > 1) FN(regroup)(top, grouped, nb, n_kernels, pixels, 0);
        FN(gemm_rm)('N', 'T', n_kernels, patch, columns, 1, by_kernel, columns, col, columns,
                    1, weights, patch);
    } else {                                 /* bottom = weights^T . d top, scattered */
        if (nb > 1) FN(regroup)(top, grouped, nb, n_kernels, pixels, 0);
        FN(gemm_rm)('T', 'N', patch, columns, n_kernels, 1, weights, patch, by_kernel, columns,
                    0, col, columns);
        FN(col2im)(col, nb, channels, height, width, kh, kw, pad_r, pad_c, oh, ow, bottom);
    }
}

/* For a caller that has no output gradient `top` for GRAD_WEIGHTS but makes it chunk
 * by chunk (pool_grad_weights.c): make(context, b0, nb, out) writes the output
 * gradient of images b0 .. b0 + nb - 1 into out, laid out as top would hold them;
 * nonzero on failure. */
typedef struct {
    int (*make)(const void *context, int b0, int nb, real *out);
    const void *context;
} FN(top_maker);

/* corr2d's im2col path: the chunks of the batch are shared among the cores (OpenMP),
 * each running a one-thread BLAS on its own buffers; the weight gradient is summed per
 * thread, then over threads in order, so the result does not depend on timing.
 * GRAD_WEIGHTS reads top, or, where `maker` is not NULL, what it makes in the
 * thread's buffer. Returns 0, or -1 with a Python error set. */
static int FN(im2col_chunks)(int direction, real *bottom, real *weights, real *top,
                             const FN(top_maker) *maker, int batch, int channels, int height,
                             int width, int n_kernels, int kh, int kw, int pad_r, int pad_c,
                             int oh, int ow)
{
    const int pixels = oh * ow, patch = channels * kh * kw;
    const size_t weights_size = (size_t)n_kernels * patch;
    if (direction == GRAD_WEIGHTS) memset(weights, 0, weights_size * sizeof(real));
    const int nb_max = FN(chunk_size)(batch, pixels, parallel_threads(batch));
    const int n_chunks = (batch + nb_max - 1) / nb_max;
    const int threads = parallel_threads(n_chunks);
    real *sums = NULL;
    if (direction == GRAD_WEIGHTS && threads > 1) {
        sums = (real *)calloc(weights_size * threads, sizeof(real));
        if (sums == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    int failed = 0;
    const int blas_threads = threads > 1 ? blas_single_thread() : 0;
    #pragma omp parallel num_threads(threads)
    {
        real *col = (real *)malloc((size_t)patch * nb_max * pixels * sizeof(real));
        real *grouped = nb_max > 1 ?
            (real *)malloc((size_t)n_kernels * nb_max * pixels * sizeof(real)) : NULL;
        real *made = maker != NULL ?
            (real *)malloc((size_t)n_kernels * nb_max * pixels * sizeof(real)) : NULL;
        real *sum = sums != NULL ? sums + weights_size * thread_number() : weights;
        int ok = col != NULL && (nb_max == 1 || grouped != NULL)
                 && (maker == NULL || made != NULL);
        #pragma omp for schedule(static)
        for (int chunk = 0; chunk < n_chunks; chunk++) {
            const int b0 = chunk * nb_max, nb = batch - b0 < nb_max ? batch - b0 : nb_max;
            if (ok && maker != NULL && maker->make(maker->context, b0, nb, made) != 0) ok = 0;
            if (ok)
                FN(corr2d_chunk)(direction, bottom + (npy_intp)b0 * channels * height * width,
                                 direction == GRAD_WEIGHTS ? sum : weights,
                                 maker != NULL ? made : top + (npy_intp)b0 * n_kernels * pixels,
                                 nb, channels, height, width, n_kernels, kh, kw, pad_r, pad_c,
                                 oh, ow, col, grouped);
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        free(col);
        free(grouped);
        free(made);
    }
    blas_restore_threads(blas_threads);
    if (sums != NULL) {
        for (int t = 0; t < threads; t++)
            for (size_t i = 0; i < weights_size; i++) weights[i] += sums[t * weights_size + i];
        free(sums);
    }
    if (failed) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* One direction (FORWARD, GRAD_WEIGHTS or GRAD_INPUTS) over the batch: reads two of
 * bottom, weights and top and writes the third (see the top of this file). oh and ow
 * are top's size, computed by ops.py's conv_output_shape. The path is sparse_grad.c's
 * or winograd.c's where they pay, else im2col_chunks. Returns 0, or -1 with a Python
 * error set. */
static int FN(corr2d)(int direction, real *bottom, real *weights, real *top,
                      int batch, int channels, int height, int width,
                      int n_kernels, int kh, int kw, int pad_r, int pad_c, int oh, int ow)
{
    const int pixels = oh * ow, patch = channels * kh * kw;
    const size_t weights_size = (size_t)n_kernels * patch;
    if (direction == GRAD_WEIGHTS) memset(weights, 0, weights_size * sizeof(real));
    if (batch == 0 || pixels == 0) {
        if (direction == GRAD_INPUTS)
            memset(bottom, 0, (size_t)batch * channels * height * width * sizeof(real));
        return 0;
    }
    if (direction == GRAD_WEIGHTS
            && FN(sparse_pays)(bottom, (npy_intp)batch * channels * height * width, top, batch,
                               channels, n_kernels, oh, ow,
                               (npy_intp)(height + 2 * pad_r) * (width + 2 * pad_c) * channels,
                               SPARSE_MAX_PERCENT))
        return FN(sparse_grad_weights)(bottom, top, weights, batch, channels, height, width,
                                       n_kernels, kh, kw, pad_r, pad_c, oh, ow);
    if (direction == GRAD_INPUTS
            && FN(sparse_pays)(weights, (npy_intp)weights_size, top, batch, channels,
                               n_kernels, oh, ow, FN(input_places)(channels, height, width,
                                                                   n_kernels, kh, kw, oh, ow),
                               SPARSE_MAX_PERCENT))
        return FN(sparse_grad_inputs)(bottom, weights, top, batch, channels, height, width,
                                      n_kernels, kh, kw, pad_r, pad_c, oh, ow);
    if (direction == FORWARD
            && FN(sparse_forward_pays)(bottom, weights, batch, channels, height, width,
                                       n_kernels, kh, kw, oh, ow))
        return FN(sparse_forward)(bottom, weights, top, batch, channels, height, width,
                                  n_kernels, kh, kw, pad_r, pad_c, oh, ow);
    if (FN(winograd_pays)(direction, channels, n_kernels, kh, kw, oh, ow))
        return FN(winograd)(direction, bottom, weights, top, batch, channels, height, width,
                            n_kernels, pad_r, pad_c, oh, ow);
    return FN(im2col_chunks)(direction, bottom, weights, top, NULL, batch, channels, height,
                             width, n_kernels, kh, kw, pad_r, pad_c, oh, ow);
}
