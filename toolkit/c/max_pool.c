/* The C kernel behind toolkit/ops.py's max_pool_2d (its gradient: pool_grad.c).
 *
 * toolkit/ckernel.py compiles this file once per node: `real` is npy_float32 or
 * npy_float64, FN(name) makes each function's name unique to the node, and WR, WC
 * (set by ops.py) are the node's window size, so that the compiler sees them as
 * constants (a division or a loop by a runtime window size is slower). Arrays are
 * C-contiguous, `planes` images of (height, width) one after the other, shared
 * among the cores (OpenMP) when there are enough of them.
 */

/* One plane's pooling, window by window, each window's maximum kept in a register
 * (row by row over the windows, each maximum went to memory and back between the
 * elements, each waiting on the last): from the window's first element, or from 0
 * where from_zero (rectify_pool.c's pool of the rectified map; a constant where it
 * is called). The comparisons `value > m` skip a NaN. */
static inline void FN(pool_plane)(const real *plane, real *out, int height, int width,
                                  int oh, int ow, const int from_zero)
{
    for (int i = 0; i < oh; i++) {
        real *o = out + (npy_intp)i * ow;
        const real *top = plane + (npy_intp)i * WR * width;  /* the windows' first row */
        const int rows = (i + 1) * WR <= height ? WR : height - i * WR;
        for (int j = 0; j < ow; j++) {
            const int cols = (j + 1) * WC <= width ? WC : width - j * WC;
            const real *w = top + j * WC;
            real m = from_zero ? 0 : w[0];  /* w[0] compared with itself below: no change */
            if (rows == WR && cols == WC) {  /* a whole window: loops the compiler unrolls */
                for (int r = 0; r < WR; r++)
                    for (int v = 0; v < WC; v++)
                        m = w[r * width + v] > m ? w[r * width + v] : m;
            } else {                         /* a partial one at the edge */
                for (int r = 0; r < rows; r++)
                    for (int v = 0; v < cols; v++)
                        m = w[r * width + v] > m ? w[r * width + v] : m;
            }
            o[j] = m;
        }
    }
}

/* Max pooling of non-overlapping (WR, WC) windows into (oh, ow), the size computed by
 * ops.py's pool_output_shape: a partial window at the bottom or right edge counts
 * unless ignore_border (then oh, ow leave it out). Returns 0. */
static int FN(max_pool)(const real *x, real *out, npy_intp planes, int height, int width,
                         int oh, int ow)
{
    #pragma omp parallel for schedule(static) num_threads(parallel_threads(planes / 64))
    for (npy_intp p = 0; p < planes; p++)
        FN(pool_plane)(x + p * height * width, out + p * oh * ow, height, width, oh, ow, 0);
    return 0;
}
