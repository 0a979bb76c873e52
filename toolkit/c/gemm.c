/* The one matrix product of the C kernels, for row-major arrays:
 * C (M x N) = alpha op(A) (M x K) . op(B) (K x N) + beta C, op is 'N' or 'T'.
 * The BLAS is column-major, and a row-major matrix is its column-major transpose,
 * so the operands are swapped. `real` and `gemm_` (sgemm_ or dgemm_) are set per
 * node by toolkit/ckernel.py. */
static void FN(gemm_rm)(char trans_a, char trans_b, int M, int N, int K, real alpha,
                        const real *A, int lda, const real *B, int ldb,
                        real beta, real *C, int ldc)
{
    gemm_(&trans_b, &trans_a, &N, &M, &K, &alpha, (real *)B, &ldb, (real *)A, &lda,
          &beta, C, &ldc);
}
