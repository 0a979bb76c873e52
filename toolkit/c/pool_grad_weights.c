/* The C kernel behind toolkit/ops.py's Corr2dGradWeightsOfPool, which c_rewrites.py
 * puts in for the CNN's first layer: the weight gradient of a correlation whose map
 * was rectified and pooled, where nothing else reads the map's gradient (no input
 * gradient). It is corr2d.c's GRAD_WEIGHTS, chunk by chunk as there, with each
 * chunk's map gradient made by pool_grad.c's pool_grad_plane in the thread's buffer,
 * already in the gemm's layout, instead of written out whole by RectifyPoolGrad and
 * read back (the first layer: 14.7 MB a batch, twice). The same products in the same
 * order: the same numbers as the two Ops.
 *
 * This chunk path is im2col's: with enough channels for sparse_grad.c's path (not
 * the first layer's one), or where Winograd pays, the map's gradient is made whole
 * and corr2d.c runs as unfused.
 *
 * Compiled once per node after gemm.c, winograd.c, sparse_grad.c, corr2d.c and
 * pool_grad.c, with their macros (see the top of each). */

/* weights (n_kernels, channels, kh, kw), the gradient of the kernels, given the
 * images `bottom`, the correlation's map (batch, n_kernels, oh, ow), its pooled maps
 * and their gradient (batch, n_kernels, ph, pw). Returns 0, or -1 with a Python
 * error set. */
static int FN(pool_grad_weights)(real *bottom, const real *conv_map, const real *pooled,
                                 const real *grad_pooled, real *weights, int batch,
                                 int channels, int height, int width, int n_kernels, int kh,
                                 int kw, int pad_r, int pad_c, int oh, int ow, int ph, int pw)
{
    const int pixels = oh * ow, patch = channels * kh * kw;
    if (batch == 0 || pixels == 0 || channels >= SPARSE_MIN_CHANNELS
            || FN(winograd_pays)(GRAD_WEIGHTS, channels, n_kernels, kh, kw, oh, ow)) {
        /* the sparse path and Winograd's read the map's gradient whole: made first, as
         * unfused, and corr2d.c takes whichever of its paths pays */
        real *grad_map = (real *)malloc(((size_t)batch * n_kernels * pixels + 1) * sizeof(real));
        if (grad_map == NULL
                || FN(pool_grad)(conv_map, pooled, grad_pooled, grad_map,
                                 (npy_intp)batch * n_kernels, oh, ow, ph, pw) != 0) {
            free(grad_map);
            PyErr_NoMemory();
            return -1;
        }
        const int failed = FN(corr2d)(GRAD_WEIGHTS, bottom, weights, grad_map, batch, channels,
                                      height, width, n_kernels, kh, kw, pad_r, pad_c, oh, ow);
        free(grad_map);
        return failed;
    }
    const size_t weights_size = (size_t)n_kernels * patch;
    memset(weights, 0, weights_size * sizeof(real));
    const int nb_max = FN(chunk_size)(batch, pixels, parallel_threads(batch));
    const int n_chunks = (batch + nb_max - 1) / nb_max;
    const int threads = parallel_threads(n_chunks);
    real *sums = NULL;
    if (threads > 1) {
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
        real *grouped = (real *)malloc((size_t)n_kernels * nb_max * pixels * sizeof(real));
        real *best = (real *)malloc(2 * ((size_t)ow + 1) * sizeof(real));  /* pool_grad_plane's */
        real *sum = sums != NULL ? sums + weights_size * thread_number() : weights;
        const int ok = col != NULL && grouped != NULL && best != NULL;
        #pragma omp for schedule(static)
        for (int chunk = 0; chunk < n_chunks; chunk++) {
            const int b0 = chunk * nb_max, nb = batch - b0 < nb_max ? batch - b0 : nb_max;
            const int columns = nb * pixels;
            if (!ok) continue;
            FN(im2col)(bottom + (npy_intp)b0 * channels * height * width, nb, channels, height,
                       width, kh, kw, pad_r, pad_c, oh, ow, col);
            for (int b = 0; b < nb; b++)  /* the map's gradient, by kernel (as regroup) */
                for (int k = 0; k < n_kernels; k++) {
                    const npy_intp plane = (npy_intp)(b0 + b) * n_kernels + k;
                    FN(pool_grad_plane)(conv_map + plane * pixels, pooled + plane * ph * pw,
                                        grad_pooled + plane * ph * pw,
                                        grouped + ((npy_intp)k * nb + b) * pixels, oh, ow, ph,
                                        pw, best, best + ow + 1);
                }
            FN(gemm_rm)('N', 'T', n_kernels, patch, columns, 1, grouped, columns, col, columns,
                        1, sum, patch);
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        free(col);
        free(grouped);
        free(best);
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
