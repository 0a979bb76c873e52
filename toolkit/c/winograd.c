/* Winograd's F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2015) for the 3x3 correlations of corr2d.c, stride 1: each 2x2 block
 * ("tile") of the output comes from the 4x4 block of the input under it, with 16
 * multiplications per (tile, kernel, channel) instead of im2col's 4 * 9 = 36.
 *
 * The one-dimensional F(2, 3): two outputs of a 3-tap correlation,
 *     y0 = d0 g0 + d1 g1 + d2 g2,    y1 = d1 g0 + d2 g1 + d3 g2,
 * from four products, the Toom-Cook way: evaluate the polynomials at 0, 1, -1 and
 * infinity, multiply there, interpolate back. Written out:
 *     m0 = (d0 - d2) g0                   m1 = (d1 + d2) (g0 + g1 + g2) / 2
 *     m2 = (d2 - d1) (g0 - g1 + g2) / 2   m3 = (d1 - d3) g2
 *     y0 = m0 + m1 + m2                   y1 = m1 - m2 - m3
 * (expand them: the cross terms cancel). As matrices, y = A^T [(G g) * (B^T d)]
 * with * elementwise and
 *     B^T = | 1  0 -1  0 |     G = | 1    0    0   |     A^T = | 1  1  1  0 |
 *           | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
 *           | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
 *           | 0  1  0 -1 |         | 0    0    1   |
 * Nesting it in both dimensions gives the 2x2 tile Y of the 4x4 input block d and
 * the 3x3 kernel g:  Y = A^T [(G g G^T) * (B^T d B)] A.
 *
 * Summed over the input channels, the 16 elementwise products become 16 matrix
 * products, one per position xi of the 4x4 transformed tile:
 *     M[xi] (n_out x tiles) = U[xi] (n_out x n_in) . V[xi] (n_in x tiles)
 * with U = G g G^T for each (output, input) channel pair, done once per call, and
 * V = B^T d B for each (input channel, tile), done per chunk of the batch. That is
 * where the time goes, in the BLAS (gemm.c's FN(gemm_rm)), as in corr2d.c.
 *
 * The arithmetic differs from the direct sum only by rounding (the 1/2s are exact).
 * Tiles that run past the output's edge (13 = 6 * 2 + 1) read zeros past the input's
 * edge and their extra outputs are dropped; padding ('full') is zeros read the same
 * way.
 *
 * corr2d.c runs the forward correlation and the weight gradient (F(3x3, 2x2), at
 * the end of this file) here where winograd_pays says it pays; the input gradient
 * stays im2col. Compiled once per node after gemm.c and before corr2d.c, which calls
 * it (see the top of corr2d.c for `real`, FN and the directions).
 */

/* When Winograd pays, as measured on the tutorial's 2-core machine (batch 128, ms
 * per call), written down in two rules. Others' work on that machine makes timings
 * noisy: the ranges below are medians of 41 calls taking turns with im2col's, on
 * both cores, from two runs; the small cases, CPU time on one core, best of 7.
 *
 * Channels: Winograd's gemms have the input channels as their inner dimension
 * (im2col's have 9 times as many) and the output channels as their rows; with few
 * of either they are short products that the BLAS runs slowly, and the transforms
 * cost as much as they save. 15x15 images to 13x13, 8 channels to 8 kernels: 1.2
 * against 1.9; 1 channel to 32 kernels (the CNN's first layer): 1.3 against 0.8,
 * so it stays im2col. */
#define WINOGRAD_MIN_CHANNELS 8

/* Wasted products: im2col's gemm makes 9 products per (output pixel, kernel,
 * channel), Winograd's 16 per 2x2 tile, and tiles past the edge waste theirs; the
 * transforms cost more the fewer tiles an image has. It pays when it needs under 60 %
 * of im2col's products. The CNN's layers 2 and 3, forward:
 *   15x15 to 13x13, 32 -> 64 channels: 52 % of the products, 9.1-9.6 against 10.0-11.3;
 *     in the training step (bench/profile_step.py), 0.72-0.89 of the weight
 *     gradient's time (im2col, unchanged) against 0.97-0.99
 *   7x7 to 5x5, 64 -> 128 channels: 64 %, 5.5-6.8 against 6.1-7.3 alone, but in the
 *     training step 0.94-1.07 of the weight gradient's time against 0.90-0.96:
 *     im2col. */
#define WINOGRAD_MAX_PRODUCTS_PERCENT 60

/* Output pixels per 2x2 tile, rounded up: tiles along a dimension. */
static int FN(tiles_along)(int size) { return (size + 1) / 2; }

/* Whether corr2d.c runs this direction by Winograd: forward or the weight gradient,
 * 3x3 kernels, enough channels on both sides, few enough products. The weight
 * gradient (below) has the forward's products and transforms, and the same rules
 * (under a max pool, as in the CNN, corr2d.c takes sparse_grad.c's path first):
 * the CNN's layer 2 (on 2026-12-05, ms, 80 training steps of bench/profile_step.py,
 * three runs taking turns with im2col's) 6.2-6.4 against 7.2-7.6; alone (median of
 * 60 calls, three pairs) 5.4-5.8 against 6.9-7.5; its layer 3 no faster (3.7 against
 * 3.7-3.8). The input gradient stays im2col: as a correlation (of the output
 * gradient, padded by 2, with the kernels turned) it transforms 2.6 times more input
 * tiles than the forward pass, which costs more than its products save: the CNN's
 * 15x15 images from 13x13, 64 -> 32 channels, 13.1-14.7 against 10.0-11.3 (and again
 * on 2026-12-05, with the transforms of today: 8.5-8.7 against 7.3-7.7); 30x30 from
 * 28x28 only 6 % faster. */
static int FN(winograd_pays)(int direction, int channels, int n_kernels, int kh, int kw,
                             int oh, int ow)
{
    if (direction == GRAD_INPUTS || kh != 3 || kw != 3) return 0;
    if (channels < WINOGRAD_MIN_CHANNELS || n_kernels < WINOGRAD_MIN_CHANNELS) return 0;
    const long winograd = 16L * FN(tiles_along)(oh) * FN(tiles_along)(ow);
    const long im2col = 9L * oh * ow;
    return 100 * winograd < WINOGRAD_MAX_PRODUCTS_PERCENT * im2col;
}

/* The three one-dimensional transforms, on values `in` at stride si to `out` at
 * stride so; applied to the columns of a tile, then to its rows, they make the
 * two-dimensional ones. */
static void FN(kernel_1d)(const real *g, int si, real *u, int so)   /* u = G g */
{
    u[0] = g[0];
    u[so] = (g[0] + g[si] + g[2 * si]) / 2;
    u[2 * so] = (g[0] - g[si] + g[2 * si]) / 2;
    u[3 * so] = g[2 * si];
}

static void FN(input_1d)(const real *d, int si, real *v, int so)    /* v = B^T d */
{
    v[0] = d[0] - d[2 * si];
    v[so] = d[si] + d[2 * si];
    v[2 * so] = d[2 * si] - d[si];
    v[3 * so] = d[si] - d[3 * si];
}

static void FN(output_1d)(const real *m, int si, real *y, int so)   /* y = A^T m */
{
    y[0] = m[0] + m[si] + m[2 * si];
    y[so] = m[si] - m[2 * si] - m[3 * si];
}

/* U[xi][k][c] = (G g G^T)[xi] for the kernel g = weights[k][c] of every kernel k and
 * channel c. */
static void FN(winograd_kernels)(const real *weights, int n_kernels, int channels, real *U)
{
    const npy_intp pairs = (npy_intp)n_kernels * channels;
    for (npy_intp kc = 0; kc < pairs; kc++) {
        const real *g = weights + kc * 9;
        real t[12], u[16];
        for (int col = 0; col < 3; col++) FN(kernel_1d)(g + col, 3, t + col, 3);            /* G g */
        for (int row = 0; row < 4; row++) FN(kernel_1d)(t + 3 * row, 1, u + 4 * row, 1);  /* . G^T */
        for (int xi = 0; xi < 16; xi++) U[xi * pairs + kc] = u[xi];
    }
}

/* V[xi][i][p] = (B^T d B)[xi] for every input channel i and tile p = (b, ti, tj) of
 * the chunk's nb images: d is the 4x4 block at rows 2 ti - pad_r.., cols 2 tj - pad_c..
 * Each image plane is first copied into `plane`, zeros around it, so that every
 * block lies inside. Then the transform in two steps, each a plain loop that the
 * compiler vectorizes:
 * - along the rows, . B for the four columns s of every block on each row y of the
 *   plane, into h[s][y % 2][y / 2][tj] (even rows apart from odd ones);
 * - down the columns, B^T . on rows 2 ti .. 2 ti + 3, which are even[ti], odd[ti],
 *   even[ti + 1], odd[ti + 1]: tw further on for every tile, one loop over them all. */
static void FN(winograd_inputs)(const real *images, int nb, int n_in, int height, int width,
                                int pad_r, int pad_c, int th, int tw, real *plane, real *h,
                                real *V)
{
    const int ph = 2 * th + 2, pw = 2 * tw + 2, per_image = th * tw;
    const npy_intp tiles = (npy_intp)nb * per_image, stride = (npy_intp)n_in * tiles;
    const int parity = (th + 1) * tw, column = 2 * parity;  /* strides in h */
    const int rows = height < ph - pad_r ? height : ph - pad_r;  /* rows that blocks read */
    const int cols = width < pw - pad_c ? width : pw - pad_c;
    memset(plane, 0, (size_t)ph * pw * sizeof(real));  /* the zeros stay: only the */
    for (int b = 0; b < nb; b++)                       /* image's place is rewritten */
        for (int i = 0; i < n_in; i++) {
            const real *image = images + ((npy_intp)b * n_in + i) * height * width;
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < cols; x++)
                    plane[(y + pad_r) * pw + x + pad_c] = image[(npy_intp)y * width + x];
            for (int y = 0; y < ph; y++) {  /* d . B along each row */
                const real *row = plane + y * pw;
                real *out = h + (y % 2) * parity + (y / 2) * tw;
                for (int tj = 0; tj < tw; tj++) FN(input_1d)(row + 2 * tj, 1, out + tj, column);
            }
            real *out = V + (npy_intp)i * tiles + (npy_intp)b * per_image;
            for (int s = 0; s < 4; s++) {  /* B^T . down each column */
                const real *even = h + s * column, *odd = even + parity;
                real *v = out + s * stride;
                for (int q = 0; q < per_image; q++) {
                    const real d[4] = {even[q], odd[q], even[q + tw], odd[q + tw]};
                    FN(input_1d)(d, 1, v + q, 4 * stride);
                }
            }
        }
}

/* Y = A^T M A for every (output channel, tile) q of the chunk, in place: Y's four
 * values (r, c) overwrite M[2 r + c][q] once all sixteen M[xi][q] are read (ivdep,
 * as above). One loop over all n_out * tiles of them, which the compiler vectorizes. */
static void FN(winograd_outputs_in_place)(real *M, npy_intp n)
{
    #pragma GCC ivdep
    for (npy_intp q = 0; q < n; q++) {
        real m[16], t[8];
        for (int xi = 0; xi < 16; xi++) m[xi] = M[xi * n + q];
        for (int col = 0; col < 4; col++) FN(output_1d)(m + col, 4, t + col, 4);
        for (int row = 0; row < 2; row++) FN(output_1d)(t + 4 * row, 1, M + 2 * row * n + q, n);
    }
}

/* top[b][o] from the tiles' 2x2 outputs Y[r][c][o][b][ti][tj] (in M, see above),
 * those inside (oh, ow); the rest, past the edge, are dropped. */
static void FN(winograd_place)(const real *Y, int nb, int n_out, int oh, int ow,
                               int th, int tw, real *top)
{
    const npy_intp tiles = (npy_intp)nb * th * tw, n = n_out * tiles;
    for (int b = 0; b < nb; b++)
        for (int o = 0; o < n_out; o++)
            for (int y = 0; y < oh; y++) {
                const npy_intp q = (npy_intp)o * tiles + ((npy_intp)b * th + y / 2) * tw;
                const real *even = Y + (y % 2) * 2 * n + q, *odd = even + n;  /* c = 0, 1 */
                real *out = top + (((npy_intp)b * n_out + o) * oh + y) * ow;
                for (int x = 0; x < ow / 2; x++) {
                    out[2 * x] = even[x];
                    out[2 * x + 1] = odd[x];
                }
                if (ow % 2) out[ow - 1] = even[ow / 2];
            }
}

/* --- the weight gradient -------------------------------------------------------------
 * The forward pass gives each tile's 2x2 outputs as y = A^T [(G g G^T) * (B^T d B)] A.
 * The weight gradient of a tile is the 3x3 sum over its outputs of dy times the
 * block d shifted, and sum(dy * y) = sum((A dy A^T) * (G g G^T) * (B^T d B)) for every
 * g: so the tile's weight gradient is G^T [(A dy A^T) * (B^T d B)] G, Winograd's
 * F(3x3, 2x2) with the forward's matrices turned around, and the same input
 * transform V. Summed over the tiles before the last transform, it is 16 matrix
 * products again, one per position xi:
 *     S[xi] (n_out x n_in) += D[xi] (n_out x tiles) . V[xi]^T (tiles x n_in)
 * with D = A dy A^T for every (output channel, tile); then G^T S G per kernel. Where
 * the output ends mid-tile (13 = 6 * 2 + 1), dy past it is zero. */

static void FN(grad_1d)(const real *y, int si, real *d, int so)      /* d = A y */
{
    d[0] = y[0];
    d[so] = y[0] + y[si];
    d[2 * so] = y[0] - y[si];
    d[3 * so] = -y[si];
}

static void FN(sum_1d)(const real *m, int si, real *w, int so)       /* w = G^T m */
{
    w[0] = m[0] + (m[si] + m[2 * si]) / 2;
    w[so] = (m[si] - m[2 * si]) / 2;
    w[2 * so] = (m[si] + m[2 * si]) / 2 + m[3 * si];
}

/* D[xi][o][q] = (A dy A^T)[xi] for every output channel o and tile q = (b, ti, tj) of
 * the chunk's nb images: dy is the 2x2 block of top at rows 2 ti, 2 ti + 1 and
 * columns 2 tj, 2 tj + 1. Each plane is first copied into `plane` (2 th x 2 tw),
 * zeros past its edge; then, as in winograd_inputs, two plain loops that the
 * compiler vectorizes: . A^T along each row into h[s][y % 2][y / 2][tj], then A .
 * down the columns, rows 2 ti and 2 ti + 1 being even[ti] and odd[ti]. */
static void FN(winograd_grads)(const real *top, int nb, int n_out, int oh, int ow,
                               int th, int tw, real *plane, real *h, real *D)
{
    const int pw = 2 * tw, per_image = th * tw;
    const npy_intp tiles = (npy_intp)nb * per_image, stride = (npy_intp)n_out * tiles;
    memset(plane, 0, (size_t)2 * th * pw * sizeof(real));  /* the zeros past the edge stay */
    for (int b = 0; b < nb; b++)
        for (int o = 0; o < n_out; o++) {
            const real *grad = top + ((npy_intp)b * n_out + o) * oh * ow;
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) plane[y * pw + x] = grad[(npy_intp)y * ow + x];
            for (int y = 0; y < 2 * th; y++) {  /* dy . A^T along each row */
                const real *row = plane + y * pw;
                real *out = h + (y % 2) * per_image + (y / 2) * tw;
                for (int tj = 0; tj < tw; tj++)
                    FN(grad_1d)(row + 2 * tj, 1, out + tj, 2 * per_image);
            }
            real *out = D + (npy_intp)o * tiles + (npy_intp)b * per_image;
            for (int s = 0; s < 4; s++) {  /* A . down each column */
                const real *even = h + 2 * s * per_image, *odd = even + per_image;
                real *d = out + s * stride;
                for (int q = 0; q < per_image; q++) {
                    const real y[2] = {even[q], odd[q]};
                    FN(grad_1d)(y, 1, d + q, 4 * stride);
                }
            }
        }
}

/* weights[k][c] = G^T S[.][k][c] G for every kernel k and channel c. */
static void FN(winograd_sums_out)(const real *S, int n_out, int n_in, real *weights)
{
    const npy_intp pairs = (npy_intp)n_out * n_in;
    for (npy_intp kc = 0; kc < pairs; kc++) {
        real m[16], t[12];
        for (int xi = 0; xi < 16; xi++) m[xi] = S[xi * pairs + kc];
        for (int col = 0; col < 4; col++) FN(sum_1d)(m + col, 4, t + col, 4);        /* G^T . */
        for (int row = 0; row < 3; row++) FN(sum_1d)(t + 4 * row, 1, weights + kc * 9 + 3 * row, 1);
    }
}

/* How many images share one chunk: about WINOGRAD_TARGET_TILES tiles, the columns of
 * each of the 16 gemms, and as many chunks for every core (as corr2d.c's chunk_size).
 * Few: the chunk's transforms then stay in the core's cache between the gemms, and
 * that pays more than longer gemms (the CNN's layer 2 forward alone, median of 150
 * calls, on 2026-12-06: 512 tiles (10 images) 5.1-5.3 ms, 128 (3) 4.6-4.7, 64 (2)
 * 4.5-4.6). */
#define WINOGRAD_TARGET_TILES 64
static int FN(winograd_chunk_size)(int batch, int tiles, int threads)
{
    long chunks = ((long)batch * tiles + WINOGRAD_TARGET_TILES - 1) / WINOGRAD_TARGET_TILES;
    chunks = (chunks + threads - 1) / threads * threads;
    int nb = (int)((batch + chunks - 1) / chunks);
    return nb < 1 ? 1 : nb;
}

/* One direction of the correlation of `input` (batch, n_in, height, width) with the
 * 3x3 kernels `weights` (n_out, n_in, 3, 3), zeros padded pad_r, pad_c on each side,
 * whose output `top` is (batch, n_out, oh, ow): FORWARD writes top, GRAD_WEIGHTS
 * writes weights from the gradient in top. The chunks of the batch are shared among
 * the cores, each with a one-thread BLAS and its own buffers; each chunk's input tiles
 * V are transformed alike, then
 * - FORWARD: M = U . V, with U the kernels' transforms, back to top's 2x2 tiles;
 * - GRAD_WEIGHTS: M = the gradient's transforms D, and S += D . V^T, each thread its
 *   own S, the threads' sums added in order (the result does not depend on timing),
 *   then the kernels' gradient G^T S G.
 * Returns 0, or -1 with a Python error set. */
static int FN(winograd)(int direction, const real *input, real *weights, real *top,
                        int batch, int n_in, int height, int width, int n_out, int pad_r,
                        int pad_c, int oh, int ow)
{
    const int forward = direction == FORWARD;
    const int th = FN(tiles_along)(oh), tw = FN(tiles_along)(ow);
    const int nb_max = FN(winograd_chunk_size)(batch, th * tw, parallel_threads(batch));
    const int n_chunks = (batch + nb_max - 1) / nb_max;
    const int threads = parallel_threads(n_chunks);
    const size_t pairs = (size_t)16 * n_out * n_in;  /* U, or one thread's S */
    real *US = forward ? (real *)malloc(pairs * sizeof(real))
                       : (real *)calloc(pairs * threads, sizeof(real));
    if (US == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (forward) FN(winograd_kernels)(weights, n_out, n_in, US);
    int failed = 0;
    const int blas_threads = threads > 1 ? blas_single_thread() : 0;
    #pragma omp parallel num_threads(threads)
    {
        const npy_intp most_tiles = (npy_intp)nb_max * th * tw;
        real *V = (real *)malloc((size_t)16 * n_in * most_tiles * sizeof(real));
        real *M = (real *)malloc((size_t)16 * n_out * most_tiles * sizeof(real));
        real *plane = (real *)malloc((size_t)(2 * th + 2) * (2 * tw + 2) * sizeof(real));
        real *h = (real *)malloc((size_t)8 * (th + 1) * tw * sizeof(real));
        real *S = forward ? NULL : US + pairs * thread_number();
        const int ok = V != NULL && M != NULL && plane != NULL && h != NULL;
        #pragma omp for schedule(static)
        for (int chunk = 0; chunk < n_chunks; chunk++) {
            const int b0 = chunk * nb_max, nb = batch - b0 < nb_max ? batch - b0 : nb_max;
            const int tiles = nb * th * tw;
            real *chunk_top = top + (npy_intp)b0 * n_out * oh * ow;
            if (!ok) continue;
            FN(winograd_inputs)(input + (npy_intp)b0 * n_in * height * width, nb, n_in,
                                height, width, pad_r, pad_c, th, tw, plane, h, V);
            if (forward) {
                for (int xi = 0; xi < 16; xi++)  /* M[xi] = U[xi] . V[xi] */
                    FN(gemm_rm)('N', 'N', n_out, tiles, n_in, 1, US + (npy_intp)xi * n_out * n_in,
                                n_in, V + (npy_intp)xi * n_in * tiles, tiles, 0,
                                M + (npy_intp)xi * n_out * tiles, tiles);
                FN(winograd_outputs_in_place)(M, (npy_intp)n_out * tiles);
                FN(winograd_place)(M, nb, n_out, oh, ow, th, tw, chunk_top);
            } else {
                FN(winograd_grads)(chunk_top, nb, n_out, oh, ow, th, tw, plane, h, M);
                for (int xi = 0; xi < 16; xi++)  /* S[xi] += D[xi] . V[xi]^T */
                    FN(gemm_rm)('N', 'T', n_out, n_in, tiles, 1, M + (npy_intp)xi * n_out * tiles,
                                tiles, V + (npy_intp)xi * n_in * tiles, tiles, 1,
                                S + (size_t)xi * n_out * n_in, n_in);
            }
        }
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        free(V);
        free(M);
        free(plane);
        free(h);
    }
    blas_restore_threads(blas_threads);
    if (!forward) {
        for (int t = 1; t < threads; t++)
            for (size_t i = 0; i < pairs; i++) US[i] += US[t * pairs + i];
        if (!failed) FN(winograd_sums_out)(US, n_out, n_in, weights);
    }
    free(US);
    if (failed) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}
