/* The C kernel behind c_rewrites.py's UniformFromSeed: uniform(0, 1) numbers made
 * from a seed and each number's own place in the array, so that any number of cores
 * fill it alike. Number i is SplitMix64's output number i + 1 from the seed: the seed
 * plus i + 1 times 2^64 / golden ratio, mixed by its finalizer (Steele, Lea and Flood,
 * 2014). Its top 24 bits (53 for float64) are the fraction, as numpy's
 * Generator.random makes a float from a draw's bits. UniformFromSeed.perform is the
 * same in numpy. `real` and FN are set by toolkit/ckernel.py. */

static npy_uint64 FN(splitmix)(npy_uint64 z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* out[i] = uniform number i of the seed, 0 <= out[i] < 1. Returns 0. */
static int FN(uniform)(npy_uint64 seed, real *out, npy_intp size)
{
    const int bits = sizeof(real) == 4 ? 24 : 53;
    const real scale = (real)1 / (real)((npy_uint64)1 << bits);
    #pragma omp parallel for schedule(static) num_threads(parallel_threads(size / 65536))
    for (npy_intp i = 0; i < size; i++) {
        npy_uint64 z = FN(splitmix)(seed + (npy_uint64)(i + 1) * 0x9E3779B97F4A7C15ULL);
        /* a float32's 24 bits through int32, which the vector units convert */
        out[i] = (sizeof(real) == 4 ? (real)(npy_int32)(z >> 40) : (real)(npy_int64)(z >> 11))
                 * scale;
    }
    return 0;
}
