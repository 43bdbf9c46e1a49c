"""The kernels' BLAS (sda.engines.blas): gemm against NumPy, in place, on row slices; thread control."""

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


def test_two_threads_train_the_same_parameters():
    # large enough for OpenBLAS to split the products between threads
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
        numpy.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)
    assert results[0][0][-1] < results[0][0][0]  # and the cost fell


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
