/* The C kernel behind toolkit/ops.py's pool gradients, MaxPoolGrad and RectifyPoolGrad:
 * the gradient of x given the pooled maps `out` and their gradient `grad_out`.
 *
 * toolkit/ckernel.py compiles this file once per node: `real` is npy_float32 or
 * npy_float64, FN(name) makes each function's name unique to the node, WR, WC are
 * the node's window size, and GETS_GRADIENT(x, m), set by the Op, says whether an
 * element x of a window whose maximum is m gets the window's gradient:
 *   MaxPoolGrad      x == m             (Theano's rule: every tie gets it)
 *   RectifyPoolGrad  x >= 0 && x == m   (max(x, 0) == x exactly where x >= 0: what
 *                                        the rectifier's gradient of the pool's is)
 * Elements in no window (ignore_border) get 0. The result is GETS_GRADIENT times the
 * gradient, as numpy computes it in ops.py, so that a NaN or infinite gradient
 * spreads as there. Arrays are C-contiguous, `planes` images of (height, width)
 * one after the other, the planes shared among the cores (OpenMP) when there are
 * enough of them.
 *
 * Row by row: the row's window maxima and gradients are first copied out to one
 * per column (`best`, `gradient`), so that the test then runs branch-free over
 * contiguous memory, which the compiler vectorizes (a branch per element, taken one
 * time in four, cost four times as much). The copies are made window by window,
 * WC to a window, which the compiler also vectorizes: made column by column, they
 * were single stores that the vector loads after them waited on (the CNN's layer 2
 * alone, 0.72 -> 0.64 ms on 2026-12-06). Returns -1 without memory. */
static int FN(pool_grad)(const real *x, const real *out, const real *grad_out, real *grad,
                         npy_intp planes, int height, int width, int oh, int ow)
{
    const int rows = oh * WR < height ? oh * WR : height;  /* rows in some window */
    const int cols = ow * WC < width ? ow * WC : width;    /* columns in some window */
    int failed = 0;
    #pragma omp parallel num_threads(parallel_threads(planes / 64))
    {
    /* each thread's own copies of one row of windows, one value per column (WC to
     * each of the ow windows: a partial window's extra one is never read) */
    real *best = (real *)malloc(2 * ((size_t)ow * WC + 1) * sizeof(real));
    real *gradient = best + ow * WC + 1;
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
                if (r % WR == 0) {  /* a new row of windows: spread its values */
                    const real *o = out + (p * oh + r / WR) * ow;
                    const real *go = grad_out + (p * oh + r / WR) * ow;
                    #pragma GCC ivdep
                    for (int j = 0; j < ow; j++)
                        for (int v = 0; v < WC; v++) {
                            best[j * WC + v] = o[j];
                            gradient[j * WC + v] = go[j];
                        }
                }
                for (c = 0; c < cols; c++)
                    gr[c] = (real)GETS_GRADIENT(in[c], best[c]) * gradient[c];
            }
            for (; c < width; c++) gr[c] = 0;  /* in no window */
        }
    }
    free(best);
    }
    return failed ? -1 : 0;
}
