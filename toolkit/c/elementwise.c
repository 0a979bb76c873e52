/* The C kernels behind c_rewrites.py's Rectify and MaskWhereEqual: plain loops over
 * contiguous arrays, which the compiler vectorizes, shared among the cores (OpenMP)
 * when the arrays are large. `real` and FN are set by toolkit/ckernel.py. */

/* max(x, 0); NaN stays NaN, as in numpy.maximum. Returns 0. */
static int FN(rectify)(const real *x, real *out, npy_intp size)
{
    #pragma omp parallel for schedule(static) num_threads(parallel_threads(size / 65536))
    for (npy_intp i = 0; i < size; i++) out[i] = x[i] < 0 ? 0 : x[i];
    return 0;
}

/* (a == b) * c: the gradient of rectify, which passes c where max(x, 0) == x.
 * Returns 0. */
static int FN(mask_where_equal)(const real *a, const real *b, const real *c, real *out,
                                npy_intp size)
{
    #pragma omp parallel for schedule(static) num_threads(parallel_threads(size / 65536))
    for (npy_intp i = 0; i < size; i++) out[i] = (real)(a[i] == b[i]) * c[i];
    return 0;
}
