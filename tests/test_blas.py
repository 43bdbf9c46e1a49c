"""sda.engines.blas: the deterministic products the kernels use (against NumPy, on every shape the panels pad)."""

import numba
import numpy
import pytest

from sda.engines import blas, kernel_steps as kernels


def test_kernel_helpers_are_the_products_they_name():
    rng = numpy.random.RandomState(2)
    A, W, C = (rng.randn(4, 6).astype(numpy.float32), rng.randn(6, 8).astype(numpy.float32),
               rng.randn(6, 3).astype(numpy.float32))
    D = rng.randn(4, 3).astype(numpy.float32)
    numpy.testing.assert_allclose(kernels.matmul(A, W), A @ W, rtol=1e-5, atol=1e-5)
    numpy.testing.assert_allclose(kernels.matmul_t(D, C), D @ C.T, rtol=1e-5, atol=1e-5)
    expected = C - 0.1 * A.T @ D
    kernels.gemm_accumulate(numpy.float32(-0.1), A, D, C)
    numpy.testing.assert_allclose(C, expected, rtol=1e-5, atol=1e-5)


SHAPES = [(20, 784, 1000), (20, 1000, 10), (3, 30, 20), (1, 7, 5), (5, 33, 70), (8, 64, 128), (0, 5, 3), (4, 0, 6)]


@pytest.mark.parametrize("dtype, tolerance", [(numpy.float32, 2e-6), (numpy.float64, 1e-14)])
@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("sparse", [False, True])
def test_products_match_numpy(dtype, tolerance, m, k, n, sparse):
    rng = numpy.random.RandomState(m * 1000 + k + n)
    A = (rng.randn(m, k) * ((rng.rand(m, k) < 0.15) if sparse else 1)).astype(dtype)
    W = rng.randn(k, n).astype(dtype)
    D = rng.randn(m, n).astype(dtype)
    C = rng.randn(k, n).astype(dtype)
    scale = max(1.0, float(numpy.abs(A).sum(axis=1).max(initial=0) * numpy.abs(W).max(initial=0)))
    numpy.testing.assert_allclose(blas.product(A, W), A @ W, rtol=tolerance, atol=tolerance * scale)
    numpy.testing.assert_allclose(blas.product_t(D, W), D @ W.T, rtol=tolerance, atol=tolerance * scale * 10)
    expected = C - 0.1 * A.T @ D
    blas.add_product_tn(-0.1, A, D, C)
    numpy.testing.assert_allclose(C, expected, rtol=tolerance, atol=tolerance * scale)


def test_products_read_row_slices_and_leave_the_rest_alone():
    rng = numpy.random.RandomState(8)
    big_A, big_D = rng.randn(30, 40).astype(numpy.float32), rng.randn(30, 24).astype(numpy.float32)
    W = rng.randn(40, 24).astype(numpy.float32)
    numpy.testing.assert_allclose(blas.product(big_A[3:10], W), big_A[3:10] @ W, rtol=1e-5, atol=1e-4)
    numpy.testing.assert_allclose(blas.product_t(big_D[5:9], W), big_D[5:9] @ W.T, rtol=1e-5, atol=1e-4)
    big_W = rng.randn(50, 24).astype(numpy.float32)
    before = big_W.copy()
    expected = big_W[10:50] + numpy.float32(0.5) * big_A[2:7].T @ big_D[2:7]
    blas.add_product_tn(0.5, big_A[2:7], big_D[2:7], big_W[10:50])
    numpy.testing.assert_allclose(big_W[10:50], expected, rtol=1e-5, atol=1e-4)
    numpy.testing.assert_array_equal(big_W[:10], before[:10])


@numba.njit
def _one_product_at_a_time(A, W):
    out = numpy.empty((A.shape[0], W.shape[0]), W.dtype)
    for r in range(A.shape[0]):
        for i in range(W.shape[0]):
            blas._dots_1x1(A, r, W, i, out)
    return out


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("m, n_out", [(20, 1000), (7, 6), (4, 4), (3, 9), (1, 1)])
def test_product_t_blocks_do_not_change_the_bits(dtype, m, n_out):
    # product_t sums 4 rows of A by 4 rows of W at once, and the rows left over one by one: each element must
    # have the bits of its sum computed alone
    rng = numpy.random.RandomState(m + n_out)
    A, W = rng.randn(m, 37).astype(dtype), rng.randn(n_out, 37).astype(dtype)
    numpy.testing.assert_array_equal(blas.product_t(A, W), _one_product_at_a_time(A, W))


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_skipping_zeros_gives_the_same_bits(dtype):
    # mostly-zero inputs take other code paths, which leave their zeros out: the same sums, the same bits
    rng = numpy.random.RandomState(9)
    A = (rng.randn(22, 50) * (rng.rand(22, 50) < 0.3)).astype(dtype)
    W, D = rng.randn(50, 70).astype(dtype), rng.randn(22, 70).astype(dtype)
    assert blas._mostly_zero(A)
    one = dtype(1)
    skipped, all_terms = numpy.empty((22, 70), dtype), numpy.empty((22, 70), dtype)
    blas._panels(A, W, skipped, one, False, True, 70)
    blas._panels(A, W, all_terms, one, False, False, 70)
    numpy.testing.assert_array_equal(skipped, all_terms)
    gathered, panels = W.copy(), W.copy()
    blas.add_product_tn(dtype(-0.1), A, D, gathered)  # A is mostly zero: its non-zero rows gathered
    blas._panels(numpy.ascontiguousarray(A.T), D, panels, dtype(-0.1), True, False, 70)  # every term
    numpy.testing.assert_array_equal(gathered, panels)


def test_kernels_cached_with_other_helpers_are_forgotten(tmp_path, monkeypatch):
    # Numba keys the kernels' cache on kernel_steps.py only; they inline blas.py's products and threads.py's
    # barriers, so a change to either must flush it
    assert {module.__name__ for module in kernels.INLINED_HELPERS} == {"sda.engines.blas", "sda.engines.threads"}
    flushed = []
    cached = [kernel for kernel in vars(kernels).values()
              if isinstance(kernel, numba.core.registry.CPUDispatcher) and hasattr(kernel._cache, "_cache_path")]
    assert len(cached) >= 5
    for kernel in cached:
        monkeypatch.setattr(kernel._cache, "_cache_path", str(tmp_path))
        monkeypatch.setattr(kernel._cache, "flush", lambda kernel=kernel: flushed.append(kernel))
    assert kernels.forget_kernels_built_with_other_helpers("binding 1") is True  # no digest yet
    assert len(flushed) == len(cached)
    assert kernels.forget_kernels_built_with_other_helpers("binding 1") is False
    assert len(flushed) == len(cached)
    assert kernels.forget_kernels_built_with_other_helpers("binding 2") is True
    assert len(flushed) == 2 * len(cached)
    assert (tmp_path / "kernels.helpers-digest").read_text().strip() == "binding 2"


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("m, n_in, n", [(20, 1000, 1000), (7, 13, 37), (5, 784, 70), (3, 9, 16), (6, 10, 5),
                                        (1, 8, 40), (4, 6, 0)])
@pytest.mark.parametrize("sparse", [False, True])
def test_backward_rows_is_the_two_products_it_fuses(dtype, m, n_in, n, sparse):
    # one pass over the rows of W (the delta below with each row as it was, then its update) must give the
    # bits of product_t and add_product_tn, whichever rows each of two threads takes
    rng = numpy.random.RandomState(m * 100 + n_in + n)
    A = rng.rand(m, n_in).astype(dtype)
    if sparse:
        A[A < 0.6] = 0.0
    D, W = rng.randn(m, n).astype(dtype), rng.randn(n_in, n).astype(dtype)
    expected_W = W.copy()
    expected_d = blas.product_t(D, expected_W)
    blas.add_product_tn(dtype(-0.1), A, D, expected_W)
    for cut in (0, n_in // 2, n_in - 1):
        fused_W, fused_d = W.copy(), numpy.full((m, n_in), numpy.nan, dtype)
        blas.backward_rows(D, fused_W, A, dtype(-0.1), fused_d, 0, cut)
        blas.backward_rows(D, fused_W, A, dtype(-0.1), fused_d, cut, n_in)
        numpy.testing.assert_array_equal(fused_d.view(numpy.uint8), expected_d.view(numpy.uint8))
        numpy.testing.assert_array_equal(fused_W.view(numpy.uint8), expected_W.view(numpy.uint8))
    with pytest.raises(ValueError, match="shapes"):
        blas.backward_rows(D, W, A[:, :-1], dtype(-0.1), fused_d, 0, n_in)


@numba.njit
def _add_rows_one_term_at_a_time(acc, x, W, rows, first):
    for i in rows:
        for j in range(acc.shape[0]):
            acc[j] += x[i] * W[i, first + j]


@numba.njit
def _add_rows_block(acc, x, W, rows, first):
    blas.add_rows_block(acc, x, W, rows, rows.shape[0], first)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_add_rows_block_keeps_the_sums_of_the_plain_loop(dtype):
    # the sums in registers over the rows: the same roundings, in the same order, as one term at a time
    rng = numpy.random.RandomState(3)
    W = (rng.randn(50, 300) * 10 ** rng.uniform(-3, 3, (50, 300))).astype(dtype)
    x = rng.randn(50).astype(dtype)
    rows = numpy.array([0, 3, 4, 9, 17, 18, 30, 49, 2], numpy.int64)
    width = blas.ROWS_BLOCK_VECTORS * blas.lanes(W)
    for first in (0, 7, 300 - width):
        start = rng.randn(width).astype(dtype)
        expected, got = start.copy(), start.copy()
        _add_rows_one_term_at_a_time(expected, x, W, rows, first)
        _add_rows_block(got, x, W, rows, first)
        assert not numpy.array_equal(got, start)
        numpy.testing.assert_array_equal(got.view(numpy.uint8), expected.view(numpy.uint8))


@numba.njit
def _update_rows_one_at_a_time(W, lr, tx, dz, x_next, dh, h, acc):
    for i in range(W.shape[0]):
        a, c = lr * tx[i], lr * dz[i]
        for j in range(W.shape[1]):
            W[i, j] -= a * dh[j] + c * h[j]
            if x_next[i] != 0.0:
                acc[j] += x_next[i] * W[i, j]


@numba.njit
def _update_rows_block(W, lr, tx, dz, x_next, dh, h, acc):
    blas.update_rows_block(W, lr, tx, dz, x_next, dh, h, acc)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_update_rows_block_keeps_the_roundings_of_the_plain_loop(dtype):
    # a panel of a batch-1 dA update with the next forward sums: the same bits as element by element
    rng = numpy.random.RandomState(5)
    width = blas.ROWS_BLOCK_VECTORS * blas.lanes(numpy.zeros(0, dtype))
    W = (rng.randn(40, width) * 10 ** rng.uniform(-3, 1, (40, width))).astype(dtype)
    tx, dz, x_next = (rng.randn(40).astype(dtype) for _ in range(3))
    tx[::3], x_next[1::4] = 0.0, 0.0
    dh, h, acc = (rng.randn(width).astype(dtype) for _ in range(3))
    expected_W, expected_acc = W.copy(), acc.copy()
    _update_rows_one_at_a_time(expected_W, dtype(0.01), tx, dz, x_next, dh, h, expected_acc)
    got_W, got_acc = W.copy(), acc.copy()
    _update_rows_block(got_W, dtype(0.01), tx, dz, x_next, dh, h, got_acc)
    assert not numpy.array_equal(got_W, W) and not numpy.array_equal(got_acc, acc)
    numpy.testing.assert_array_equal(got_W.view(numpy.uint8), expected_W.view(numpy.uint8))
    numpy.testing.assert_array_equal(got_acc.view(numpy.uint8), expected_acc.view(numpy.uint8))
    x_next[5] = numpy.nan  # a nan input is added, as ``!= 0`` says
    got_acc = acc.copy()
    _update_rows_block(W.copy(), dtype(0.01), tx, dz, x_next, dh, h, got_acc)
    assert numpy.isnan(got_acc).all()


@numba.njit
def _dot_in_panels(P, lo, hi, count, y, cut, states, out):
    blas.dot_panels_head(P[:cut], lo, hi, cut, y, states)
    blas.dot_panels_tail(P[cut:], lo, hi, count - cut, y[cut * P.shape[2]:], states, out)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("count, cut", [(1, 0), (1, 1), (3, 1), (4, 2), (5, 0)])
def test_dot_products_over_panels_are_the_dot_products_of_the_rows(dtype, count, cut):
    # a head over the first thread's panels and a tail over the second's: the bits of dot() over the whole row
    rng = numpy.random.RandomState(6)
    width = blas.ROWS_BLOCK_VECTORS * blas.lanes(numpy.zeros(0, dtype))
    W = (rng.randn(11, count * width) * 10 ** rng.uniform(-3, 3, (11, count * width))).astype(dtype)
    y = rng.randn(count * width).astype(dtype)
    P = numpy.ascontiguousarray(W.reshape(11, count, width).transpose(1, 0, 2))
    states = blas.dot_states(11, W)
    for lo, hi in ((0, 11), (2, 9), (3, 4)):  # 4-row groups with single rows left over, or single rows only
        out = numpy.full(hi - lo, numpy.nan, dtype)
        _dot_in_panels(P, lo, hi, count, y, cut, states, out)
        expected = numpy.array([kernels.dot(W[i], y) for i in range(lo, hi)], dtype)
        numpy.testing.assert_array_equal(out.view(numpy.uint8), expected.view(numpy.uint8))


@numba.njit
def _update_add_rows_one_at_a_time(acc, x, W, rows, c, delta):
    for i in rows:
        if c[i] != 0.0:
            for j in range(W.shape[1]):
                W[i, j] -= c[i] * delta[j]
        if x[i] != 0.0:
            for j in range(W.shape[1]):
                acc[j] += x[i] * W[i, j]


@numba.njit
def _update_add_rows_block(acc, x, W, rows, c, delta):
    blas.update_add_rows_block(acc, x, W, rows, rows.shape[0], c, delta)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_update_add_rows_block_keeps_the_roundings_of_the_plain_loops(dtype):
    # a panel of a finetuning forward product with the update left pending: the same bits as element by element
    rng = numpy.random.RandomState(7)
    width = blas.ROWS_BLOCK_VECTORS * blas.lanes(numpy.zeros(0, dtype))
    W = (rng.randn(30, width) * 10 ** rng.uniform(-3, 1, (30, width))).astype(dtype)
    x, c = rng.randn(30).astype(dtype), rng.randn(30).astype(dtype)
    x[::3], c[1::4] = 0.0, 0.0
    delta, acc = rng.randn(width).astype(dtype), rng.randn(width).astype(dtype)
    rows = numpy.array([0, 1, 2, 4, 5, 9, 13, 20, 29, 3], numpy.int64)
    expected_W, expected_acc = W.copy(), acc.copy()
    _update_add_rows_one_at_a_time(expected_acc, x, expected_W, rows, c, delta)
    got_W, got_acc = W.copy(), acc.copy()
    _update_add_rows_block(got_acc, x, got_W, rows, c, delta)
    assert not numpy.array_equal(got_W, W) and not numpy.array_equal(got_acc, acc)
    numpy.testing.assert_array_equal(got_W.view(numpy.uint8), expected_W.view(numpy.uint8))
    numpy.testing.assert_array_equal(got_acc.view(numpy.uint8), expected_acc.view(numpy.uint8))
    numpy.testing.assert_array_equal(got_W[[6, 7, 8]], W[[6, 7, 8]])  # rows not listed are left alone


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("count", [1, 3])
def test_the_wide_dot_product_over_panels_is_dot_wide_of_the_row(dtype, count):
    # the row's last 13 columns padded with zeros in the panels (and in y): the bits of dot_wide over the row
    rng = numpy.random.RandomState(8)
    width = blas.ROWS_BLOCK_VECTORS * blas.lanes(numpy.zeros(0, dtype))
    n = count * width - 13
    W = (rng.randn(5, n) * 10 ** rng.uniform(-3, 3, (5, n))).astype(dtype)
    y = rng.randn(n).astype(dtype)
    padded_W, padded_y = numpy.zeros((5, count * width), dtype), numpy.zeros(count * width, dtype)
    padded_W[:, :n], padded_y[:n] = W, y
    P = numpy.ascontiguousarray(padded_W.reshape(5, count, width).transpose(1, 0, 2))
    for i in range(5):
        got, expected = _dot_wide_panels(P, i, count, padded_y), kernels.dot_wide(W[i], y)
        assert numpy.float64(got).tobytes() == numpy.float64(expected).tobytes()


@numba.njit
def _dot_wide_panels(P, i, count, y):
    return blas.dot_wide_panels(P, i, count, y)
