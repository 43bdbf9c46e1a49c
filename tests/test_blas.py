"""sda.engines.blas: the deterministic products the kernels use (against NumPy, on every shape the panels pad),
OpenBLAS's gemm (against NumPy, in place, on row slices) and its thread control."""

import numba
import numpy
import pytest

from sda.engines import blas, kernel_steps as kernels
from sda.errors import UsageError


@numba.njit
def gemm_in_numba(alpha, A, trans_a, B, trans_b, beta, C):
    blas.gemm(alpha, A, trans_a, B, trans_b, beta, C)


@pytest.mark.parametrize("dtype, tolerance", [(numpy.float32, 1e-5), (numpy.float64, 1e-12)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_numpy(dtype, tolerance, trans_a, trans_b):
    rng = numpy.random.RandomState(0)
    m, k, n = 7, 13, 5
    A = rng.randn(*((k, m) if trans_a else (m, k))).astype(dtype)
    B = rng.randn(*((n, k) if trans_b else (k, n))).astype(dtype)
    C = rng.randn(m, n).astype(dtype)
    expected = 0.5 * (A.T if trans_a else A) @ (B.T if trans_b else B) + 2.0 * C
    gemm_in_numba(0.5, A, trans_a, B, trans_b, 2.0, C)
    numpy.testing.assert_allclose(C, expected, rtol=tolerance, atol=tolerance)


def test_gemm_on_row_slices_leaves_the_rest_alone():
    rng = numpy.random.RandomState(1)
    big_A = rng.randn(10, 6).astype(numpy.float32)
    big_C = rng.randn(9, 4).astype(numpy.float32)
    B = rng.randn(6, 4).astype(numpy.float32)
    before = big_C.copy()
    gemm_in_numba(1.0, big_A[2:5], False, B, False, 1.0, big_C[3:6])
    numpy.testing.assert_allclose(big_C[3:6], before[3:6] + big_A[2:5] @ B, rtol=1e-5, atol=1e-5)
    numpy.testing.assert_array_equal(numpy.delete(big_C, [3, 4, 5], axis=0), numpy.delete(before, [3, 4, 5], axis=0))


def test_gemm_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes"):
        gemm_in_numba(1.0, numpy.ones((3, 4)), False, numpy.ones((5, 2)), False, 0.0, numpy.ones((3, 2)))


@pytest.mark.parametrize("view", ["reversed rows", "broadcast rows", "overlapping rows", "strided elements"])
def test_gemm_refuses_views_blas_cannot_read_as_rows(view):
    rng = numpy.random.RandomState(5)
    A = rng.randn(4, 3)
    views = {"reversed rows": A[::-1],
             "broadcast rows": numpy.broadcast_to(A[0], (4, 3)),
             "overlapping rows": numpy.lib.stride_tricks.sliding_window_view(rng.randn(6), 3),
             "strided elements": A[:, ::2]}
    bad = views[view]
    B, C = rng.randn(bad.shape[1], 2), numpy.zeros((bad.shape[0], 2))
    with pytest.raises(ValueError, match="rows of contiguous elements"):
        gemm_in_numba(1.0, bad, False, B, False, 0.0, C)
    assert not C.any()  # nothing written


def test_gemm_refuses_a_read_only_result():
    C = numpy.zeros((2, 2))
    C.flags.writeable = False
    with pytest.raises(numba.core.errors.TypingError, match="read-only"):
        gemm_in_numba(1.0, numpy.ones((2, 3)), False, numpy.ones((3, 2)), False, 0.0, C)


@pytest.mark.parametrize("m, k, n", [(4, 0, 2), (0, 3, 2), (3, 2, 0)])
def test_gemm_on_empty_arrays_is_beta_times_c(m, k, n):
    C = numpy.full((m, n), 3.0)
    gemm_in_numba(1.0, numpy.empty((m, k)), False, numpy.empty((k, n)), False, 0.5, C)
    numpy.testing.assert_array_equal(C, numpy.full((m, n), 1.5 if k == 0 else 3.0))


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


def test_threads_apply_inside_the_block_only():
    before = blas.num_threads()
    with blas.threads(2):
        assert blas.num_threads() == 2
        with blas.threads(1):
            assert blas.num_threads() == 1
        assert blas.num_threads() == 2
    assert blas.num_threads() == before


def test_threads_are_restored_after_an_error():
    before = blas.num_threads()
    with pytest.raises(RuntimeError):
        with blas.threads(2):
            raise RuntimeError
    assert blas.num_threads() == before


def test_the_thread_count_does_not_change_a_bit():
    # the kernels use no OpenBLAS: the products are the same whatever the threads (they differed by ~1e-7 before)
    rng = numpy.random.RandomState(3)
    X = (rng.rand(200, 300) * (rng.rand(200, 300) < 0.3)).astype(numpy.float32)
    U = rng.rand(200, 300).astype(numpy.float32)
    results = []
    for n_threads in (1, 2):
        W = (numpy.random.RandomState(4).randn(300, 400) * 0.05).astype(numpy.float32)
        b, b_prime = numpy.zeros(400, numpy.float32), numpy.zeros(300, numpy.float32)
        with blas.threads(n_threads):
            costs = kernels.da_train(X, U, 0, 10, 20, W, b, b_prime, numpy.float32(0.8), numpy.float32(0.1))
        results.append((costs, W, b, b_prime))
    for one, two in zip(*results):
        numpy.testing.assert_array_equal(one, two)
    assert results[0][0][-1] < results[0][0][0]  # and the cost fell


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


@pytest.mark.parametrize("value, expected", [("1", 1), ("3", 3), (" 2 ", 2)])
def test_sda_blas_threads_sets_the_threads(monkeypatch, value, expected):
    monkeypatch.setenv("SDA_BLAS_THREADS", value)
    assert blas.default_threads() == expected


def test_default_threads_are_one_or_two(monkeypatch):
    monkeypatch.delenv("SDA_BLAS_THREADS", raising=False)
    assert blas.default_threads() in (1, 2)


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5", "\u00b2", "65"])
def test_bad_sda_blas_threads_is_a_usage_error(monkeypatch, value):
    monkeypatch.setenv("SDA_BLAS_THREADS", value)
    with pytest.raises(UsageError, match="SDA_BLAS_THREADS must be a whole number"):
        blas.default_threads()


def test_kernels_cached_with_another_blas_binding_are_forgotten(tmp_path, monkeypatch):
    # Numba keys the kernels' cache on kernels.py only; they inline blas.gemm, so a changed blas.py must flush it
    flushed = []
    cached = [kernel for kernel in vars(kernels).values()
              if isinstance(kernel, numba.core.registry.CPUDispatcher) and hasattr(kernel._cache, "_cache_path")]
    assert len(cached) >= 5
    for kernel in cached:
        monkeypatch.setattr(kernel._cache, "_cache_path", str(tmp_path))
        monkeypatch.setattr(kernel._cache, "flush", lambda kernel=kernel: flushed.append(kernel))
    assert kernels.forget_kernels_built_with_another_blas_binding("binding 1") is True  # no digest yet
    assert len(flushed) == len(cached)
    assert kernels.forget_kernels_built_with_another_blas_binding("binding 1") is False
    assert len(flushed) == len(cached)
    assert kernels.forget_kernels_built_with_another_blas_binding("binding 2") is True
    assert len(flushed) == 2 * len(cached)
    assert (tmp_path / "kernels.blas-digest").read_text().strip() == "binding 2"
