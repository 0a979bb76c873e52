/* What every C kernel of the project shares, compiled once per module
 * (toolkit/ckernel.py hands it to PyTensor as support code): the thread helpers.
 * Each kernel's own .c file is compiled once per node, after these. Guarded:
 * ThreadedElemwise (c_rewrites.py) includes it too, and a module may hold both. */
#ifndef TOOLKIT_CKERNEL_H
#define TOOLKIT_CKERNEL_H
#include <string.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
/* as many threads as cores, but no more than pieces of work */
static int parallel_threads(long pieces) {
    int cores = omp_get_max_threads();
    return pieces < 1 ? 1 : (pieces < cores ? (int)pieces : cores);
}
static int thread_number(void) { return omp_get_thread_num(); }
#else
static int parallel_threads(long pieces) { return 1; }
static int thread_number(void) { return 0; }
#endif

/* While the cores share a piece of work, each one's BLAS calls run on one thread:
 * OpenBLAS's own threads would compete with them for the same cores. (Weak: a BLAS
 * without these calls keeps its setting.) */
#ifdef __cplusplus
extern "C" {
#endif
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
#ifdef __cplusplus
}
#endif
static int blas_single_thread(void) {
    if (!openblas_set_num_threads || !openblas_get_num_threads) return 0;
    int n = openblas_get_num_threads();
    if (n > 1) openblas_set_num_threads(1);
    return n;
}
static void blas_restore_threads(int n) {
    if (n > 1) openblas_set_num_threads(n);
}

/* n bytes starting on a cache line (64 bytes), or NULL; freed by free(). malloc's 16
 * bytes put half of the 32-byte vector loads of a row across two lines, each then
 * read twice. */
static void *aligned_bytes(size_t n) {
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 1) == 0 ? p : NULL;
}
#endif
