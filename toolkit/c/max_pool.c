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
