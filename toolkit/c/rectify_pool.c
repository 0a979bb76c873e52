/* The C kernel behind ops.py's RectifyPool, which c_rewrites.py puts in for the
 * CNN's max_pool_2d(rectify(x)): one pass over x, so that the rectified map (as
 * large as x) is never written nor read back. Its gradient, RectifyPoolGrad, is
 * pool_grad.c's.
 *
 * toolkit/ckernel.py compiles this file once per node, after max_pool.c: `real` is
 * npy_float32 or npy_float64, FN(name) makes each function's name unique to the node,
 * and WR, WC are the node's window size, constants to the compiler. Arrays are C-contiguous,
 * `planes` images of (height, width) one after the other, the planes shared among
 * the cores (OpenMP) when there are enough of them. Windows do not overlap; a
 * partial window at the bottom or right edge counts when (oh, ow) include it.
 */

/* Whether any of these n values is NaN (the one value not equal to itself). */
static int FN(any_nan)(const real *x, npy_intp n)
{
    int found = 0;
    for (npy_intp k = 0; k < n; k++) found |= x[k] != x[k];
    return found;
}

/* In the reference (numpy's maximum) a window that holds a NaN pools to NaN; the
 * comparisons of rectify_pool skip NaN instead (it loses them all). Testing for NaN
 * inside those loops made them two to three times slower (the compiler's vector
 * code for a two-part condition); NaN is rare, so each plane is tested once, and
 * only a plane that has one is read again, to set its windows with a NaN to NaN. */
static void FN(spread_nan)(const real *plane, real *o, int height, int width, int oh, int ow)
{
    if (!FN(any_nan)(plane, (npy_intp)height * width)) return;
    const int rows = oh * WR < height ? oh * WR : height;  /* rows in some window */
    const int cols = ow * WC < width ? ow * WC : width;    /* columns in some window */
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const real value = plane[(npy_intp)r * width + c];
            if (value != value) o[(r / WR) * ow + c / WC] = value;
        }
}

/* max(maxpool(x), 0): each window's maximum, then the rectifier. Max is monotone,
 * so pooling first and rectifying the 4x smaller result gives the same numbers;
 * here each window's maximum simply starts at 0 instead of at its first element.
 * Each plane by max_pool.c's pool_plane, from 0 (the CNN's three layers alone, on
 * 2026-12-06: 1.15, 0.78 and 0.43 ms row by row before, 0.83, 0.46 and 0.25 ms window
 * by window). Returns 0. */
static int FN(rectify_pool)(const real *x, real *out, npy_intp planes, int height,
                            int width, int oh, int ow)
{
    #pragma omp parallel for schedule(static) num_threads(parallel_threads(planes / 64))
    for (npy_intp p = 0; p < planes; p++) {
        const real *plane = x + p * height * width;
        FN(pool_plane)(plane, out + p * oh * ow, height, width, oh, ow, 1);
        FN(spread_nan)(plane, out + p * oh * ow, height, width, oh, ow);
    }
    return 0;
}
