/* The C kernels behind toolkit/ops.py's max_pool_2d and its gradient.
 *
 * toolkit/ckernel.py compiles this file once per node: `real` is npy_float32 or
 * npy_float64, FN(name) makes each function's name unique to the node, and WR, WC
 * (set by ops.py) are the node's window size, so that the compiler sees them as
 * constants (a division or a loop by a runtime window size is slower). Arrays are
 * C-contiguous, `planes` images of (height, width) one after the other, shared
 * among the cores (OpenMP) when there are enough of them.
 */

/* Max pooling of non-overlapping (WR, WC) windows into (oh, ow), the size computed by
 * ops.py's pool_output_shape: a partial window at the bottom or right edge counts
 * unless ignore_border (then oh, ow leave it out). Returns 0. */
static int FN(max_pool)(const real *x, real *out, npy_intp planes, int height, int width,
                         int oh, int ow)
{
    const int full = width / WC < ow ? width / WC : ow;  /* windows inside a row */
    #pragma omp parallel for schedule(static) num_threads(parallel_threads(planes / 64))
    for (npy_intp p = 0; p < planes; p++) {
        const real *plane = x + p * height * width;
        for (int i = 0; i < oh; i++) {
            real *o = out + (p * oh + i) * ow;
            const int r_end = (i + 1) * WR < height ? (i + 1) * WR : height;
            for (int r = i * WR; r < r_end; r++) {
                const real *row = plane + (npy_intp)r * width;
                for (int v = 0; v < WC; v++)
                    for (int j = 0; j < full; j++) {
                        const real value = row[j * WC + v];
                        o[j] = (r == i * WR && v == 0) || value > o[j] ? value : o[j];
                    }
                for (int j = full; j < ow; j++)  /* the partial window at the right */
                    for (int c = j * WC; c < width; c++)
                        o[j] = (r == i * WR && c == j * WC) || row[c] > o[j] ? row[c] : o[j];
            }
        }
    }
    return 0;
}

/* Each window's gradient goes to every element equal to the window's maximum
 * (Theano's rule for ties); elements in no window get 0. Row by row: the row's
 * window maxima and gradients are first spread to one per column, so that the
 * comparison runs branch-free over contiguous memory (a branch per element,
 * taken one time in four, cost four times as much). Returns -1 without memory. */
static int FN(max_pool_grad)(const real *x, const real *out, const real *grad_out,
                             real *grad, npy_intp planes, int height, int width,
                             int oh, int ow)
{
    const int rows = oh * WR < height ? oh * WR : height;
    const int cols = ow * WC < width ? ow * WC : width;
    int failed = 0;
    #pragma omp parallel num_threads(parallel_threads(planes / 64))
    {
    real *best = (real *)malloc(2 * ((size_t)ow * WC + 1) * sizeof(real));
    real *gradient = best + (size_t)ow * WC + 1;
    if (best == NULL) {
        #pragma omp atomic write
        failed = 1;
    }
    #pragma omp for schedule(static)
    for (npy_intp p = 0; p < planes; p++) {
        if (best == NULL) continue;
        const real *plane = x + p * height * width;
        real *g = grad + p * height * width;
        for (int r = 0; r < height; r++) {
            const real *in = plane + (npy_intp)r * width;
            real *gr = g + (npy_intp)r * width;
            int c = 0;
            if (r < rows) {
                if (r % WR == 0) {
                    const real *o = out + (p * oh + r / WR) * ow;
                    const real *go = grad_out + (p * oh + r / WR) * ow;
                    for (int j = 0; j < ow; j++)
                        for (int v = 0; v < WC; v++) {
                            best[j * WC + v] = o[j];
                            gradient[j * WC + v] = go[j];
                        }
                }
                for (; c < cols; c++) gr[c] = in[c] == best[c] ? gradient[c] : 0;
            }
            for (; c < width; c++) gr[c] = 0;
        }
    }
    free(best);
    }
    return failed ? -1 : 0;
}
