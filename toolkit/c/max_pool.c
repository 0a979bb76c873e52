/* The C kernel behind toolkit/ops.py's max_pool_2d (its gradient: pool_grad.c).
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
 * unless ignore_border (then oh, ow leave it out). Window by window, from its first
 * element, its maximum kept in a register (rectify_pool.c's way: row by row over the
 * windows, each maximum went to memory and back between elements). Returns 0. */
static int FN(max_pool)(const real *x, real *out, npy_intp planes, int height, int width,
                         int oh, int ow)
{
    #pragma omp parallel for schedule(static) num_threads(parallel_threads(planes / 64))
    for (npy_intp p = 0; p < planes; p++) {
        const real *plane = x + p * height * width;
        for (int i = 0; i < oh; i++) {
            real *o = out + (p * oh + i) * ow;
            const real *top = plane + (npy_intp)i * WR * width;  /* the windows' first row */
            const int rows = (i + 1) * WR <= height ? WR : height - i * WR;
            for (int j = 0; j < ow; j++) {
                const int cols = (j + 1) * WC <= width ? WC : width - j * WC;
                const real *w = top + j * WC;
                real m = w[0];  /* compared with itself again below: no change */
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
    return 0;
}
