/* The C kernel behind c_rewrites.py's ParallelDot: C = alpha op(A) . op(B) for
 * row-major float matrices, the rows or the columns of C (the longer side) shared
 * among the cores (OpenMP), each core calling the one-thread BLAS on its block.
 * Compiled once per node after gemm.c; `real` and FN are set by toolkit/ckernel.py. */

/* Returns 0. */
static int FN(parallel_dot)(char trans_a, char trans_b, int M, int N, int K, real alpha,
                            const real *A, int lda, const real *B, int ldb, real *C)
{
    if (M == 0 || N == 0) return 0;
    if (K == 0) {  /* a sum of nothing */
        memset(C, 0, (size_t)M * N * sizeof(real));
        return 0;
    }
    const int threads = parallel_threads((long)M * N / 16384);
    const int blas_threads = threads > 1 ? blas_single_thread() : 0;
    const int by_rows = M > N;  /* split the longer side: 10000 test images x 10 classes */
    const int length = by_rows ? M : N;
    #pragma omp parallel num_threads(threads)
    {
        const int t = thread_number(), n = threads > 1 ? threads : 1;
        /* blocks of whole 16-row or column groups, so each core's gemm stays aligned */
        const int first = (int)((long)(length / 16) * t / n) * 16;
        const int end = t == n - 1 ? length : (int)((long)(length / 16) * (t + 1) / n) * 16;
        if (end > first && by_rows)
            FN(gemm_rm)(trans_a, trans_b, end - first, N, K, alpha,
                        A + (trans_a == 'N' ? (npy_intp)first * lda : first), lda, B, ldb,
                        0, C + (npy_intp)first * N, N);
        else if (end > first)
            FN(gemm_rm)(trans_a, trans_b, M, end - first, K, alpha, A, lda,
                        B + (trans_b == 'N' ? first : (npy_intp)first * ldb), ldb,
                        0, C + first, N);
    }
    blas_restore_threads(blas_threads);
    return 0;
}
