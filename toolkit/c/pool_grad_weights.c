/* The C kernel behind toolkit/ops.py's Corr2dGradWeightsOfPool, which c_rewrites.py
 * puts in for the CNN's first layer: the weight gradient of a correlation whose map
 * was rectified and pooled, where nothing else reads the map's gradient (no input
 * gradient). It is corr2d.c's GRAD_WEIGHTS by im2col_chunks, each chunk's map
 * gradient made by pool_grad.c's pool_grad in the thread's buffer instead of written
 * out whole by RectifyPoolGrad and read back (the first layer: 14.7 MB a batch,
 * twice). The same products in the same order: the same numbers as the two Ops.
 *
 * That is im2col's path: with enough channels for sparse_grad.c's path (not the first
 * layer's one), or where Winograd pays, the map's gradient is made whole and corr2d.c
 * runs as unfused.
 *
 * Compiled once per node after gemm.c, winograd.c, sparse_grad.c, corr2d.c and
 * pool_grad.c, with their macros (see the top of each). */

/* What the chunks' map gradients are made from: see pool_grad_weights below. */
typedef struct {
    const real *conv_map, *pooled, *grad_pooled;
    int n_kernels, oh, ow, ph, pw;
} FN(pooled_map);

/* corr2d.c's top_maker: images b0 .. b0 + nb - 1's map gradient into out. */
static int FN(make_map_gradient)(const void *context, int b0, int nb, real *out)
{
    const FN(pooled_map) *m = (const FN(pooled_map) *)context;
    const npy_intp first = (npy_intp)b0 * m->n_kernels;  /* the chunk's first plane */
    return FN(pool_grad)(m->conv_map + first * m->oh * m->ow,
                         m->pooled + first * m->ph * m->pw,
                         m->grad_pooled + first * m->ph * m->pw, out,
                         (npy_intp)nb * m->n_kernels, m->oh, m->ow, m->ph, m->pw);
}

/* weights (n_kernels, channels, kh, kw), the gradient of the kernels, given the
 * images `bottom`, the correlation's map (batch, n_kernels, oh, ow), its pooled maps
 * and their gradient (batch, n_kernels, ph, pw). Returns 0, or -1 with a Python
 * error set. */
static int FN(pool_grad_weights)(real *bottom, const real *conv_map, const real *pooled,
                                 const real *grad_pooled, real *weights, int batch,
                                 int channels, int height, int width, int n_kernels, int kh,
                                 int kw, int pad_r, int pad_c, int oh, int ow, int ph, int pw)
{
    const FN(pooled_map) map = {conv_map, pooled, grad_pooled, n_kernels, oh, ow, ph, pw};
    if (batch > 0 && oh * ow > 0 && channels < SPARSE_MIN_CHANNELS
            && !FN(winograd_pays)(GRAD_WEIGHTS, channels, n_kernels, kh, kw, oh, ow)) {
        const FN(top_maker) maker = {FN(make_map_gradient), &map};
        return FN(im2col_chunks)(GRAD_WEIGHTS, bottom, weights, NULL, &maker, batch, channels,
                                 height, width, n_kernels, kh, kw, pad_r, pad_c, oh, ow);
    }
    /* the sparse path and Winograd's read the map's gradient whole: made first, as
     * unfused, and corr2d.c takes whichever of its paths pays */
    real *grad_map = (real *)malloc(((size_t)batch * n_kernels * oh * ow + 1) * sizeof(real));
    if (grad_map == NULL || FN(make_map_gradient)(&map, 0, batch, grad_map) != 0) {
        free(grad_map);
        PyErr_NoMemory();
        return -1;
    }
    const int failed = FN(corr2d)(GRAD_WEIGHTS, bottom, weights, grad_map, batch, channels,
                                  height, width, n_kernels, kh, kw, pad_r, pad_c, oh, ow);
    free(grad_map);
    return failed;
}
