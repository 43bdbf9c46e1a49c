"""The pictures a learner looks at: masking noise, a dA's reconstructions, finetuning side by side."""

import numpy
import pytest
from PIL import Image

from sda.pictures import (first_of_each_class, masking_noise, reconstruct, reconstructions,
                          reconstructions_image)

TILE = 28 + 1  # a 28x28 digit and one pixel of spacing


def digits(n=10, seed=0):
    """Digit-like rows: about a quarter of the pixels lit, the rest exactly 0, as in MNIST."""
    rng = numpy.random.RandomState(seed)
    return ((rng.uniform(size=(n, 784)) < 0.25) * rng.uniform(0.5, 1.0, size=(n, 784))).astype("float32")


def small_dA(dA_class=None, n_hidden=20):
    from sda.tutorial.dA import dA

    return (dA_class or dA)(numpy_rng=numpy.random.RandomState(123), n_visible=784, n_hidden=n_hidden)


def test_masking_noise_zeroes_the_corruption_level_and_keeps_the_rest():
    x = numpy.random.RandomState(1).uniform(0.1, 1.0, size=(200, 784)).astype("float32")
    masked = masking_noise(x, 0.3, seed=5)
    assert masked.dtype == x.dtype and masked.shape == x.shape
    assert abs(numpy.mean(masked == 0) - 0.3) < 0.01
    kept = masked != 0
    numpy.testing.assert_array_equal(masked[kept], x[kept])  # a kept pixel is unchanged
    numpy.testing.assert_array_equal(masking_noise(x, 0.3, seed=5), masked)  # the same seed, the same noise
    assert not numpy.array_equal(masking_noise(x, 0.3, seed=6), masked)
    numpy.testing.assert_array_equal(masking_noise(x, 0.0, seed=5), x)


def test_reconstructions_are_the_digits_their_masked_copies_and_the_dAs_output():
    from sda.backend import floatX

    da, x = small_dA(), digits()
    clean, masked, z = reconstructions(da, x, 0.5, seed=3)
    numpy.testing.assert_array_equal(clean, x)
    lit = x > 0
    assert abs(numpy.mean(masked[lit] == 0) - 0.5) < 0.05  # half the strokes masked
    assert z.shape == x.shape and ((z > 0) & (z < 1)).all()
    assert numpy.abs(z - masked).max() > 0.1  # the reconstruction is not the masked input

    def sigmoid(a):
        return 1 / (1 + numpy.exp(-a))

    W, b, b_prime = (p.get_value() for p in (da.W, da.b, da.b_prime))
    expected = sigmoid(sigmoid(masked @ W + b) @ W.T + b_prime)  # tied weights: the decoder uses W'
    numpy.testing.assert_allclose(z, expected, atol=1e-5 if floatX == "float32" else 1e-12)


def test_a_dA_subclass_is_reconstructed_by_its_own_graph():
    from sda.tutorial.dA import dA

    class Inverted(dA):
        def get_reconstructed_input(self, hidden):
            return 1 - super().get_reconstructed_input(hidden)

    x = digits(3)
    numpy.testing.assert_allclose(reconstruct(small_dA(Inverted), x), 1 - reconstruct(small_dA(), x), atol=1e-6)


def test_the_reconstructions_picture_has_three_rows_of_n_digits_and_is_the_same_for_a_seed(tmp_path):
    da, x = small_dA(), digits(7)
    path = tmp_path / "reconstructions.png"
    image = reconstructions_image(da, x, 0.3, seed=9, path=str(path))
    assert image.size == (7 * TILE - 1, 3 * TILE - 1) and image.mode == "L"
    saved = numpy.asarray(Image.open(path))
    numpy.testing.assert_array_equal(saved, numpy.asarray(image))
    rows = [saved[r * TILE:r * TILE + 28] for r in range(3)]
    # the first row is the digits as they are (255 is white)
    numpy.testing.assert_array_equal(rows[0][:, :28], (x[0].reshape(28, 28) * 255).astype("uint8"))
    assert 0 < numpy.count_nonzero(rows[1]) < numpy.count_nonzero(rows[0])  # the masked row lost some strokes
    assert not numpy.array_equal(rows[2], rows[1])
    first = path.read_bytes()
    reconstructions_image(da, x, 0.3, seed=9, path=str(path))
    assert path.read_bytes() == first
    assert not numpy.array_equal(numpy.asarray(reconstructions_image(da, x, 0.3, seed=10)), saved)


def test_first_of_each_class_shows_one_digit_per_class_then_the_next_ones():
    y = [3, 1, 3, 0, 1, 2]
    assert first_of_each_class(y) == [3, 1, 5, 0, 2, 4]
    assert first_of_each_class(y, n=2) == [3, 1]
    assert first_of_each_class(y, n=5) == [3, 1, 5, 0, 2]


@pytest.mark.parametrize("test_error", [1.5, None])
def test_finetuning_comparison_is_one_picture_of_both_runs(tmp_path, test_error):
    from sda.plots import plot_finetuning_comparison

    def results(errors):
        return {"test_error_percent": test_error,
                "validation_history": [{"epoch": e + 1, "train_cost": 1.0 / (e + 1), "validation_error": v}
                                       for e, v in enumerate(errors)]}

    path = tmp_path / "comparison.png"
    assert plot_finetuning_comparison({"pretrained": results([0.1, 0.05]), "not pretrained": results([0.2, 0.1])},
                                      str(path)) == str(path)
    assert Image.open(path).size[0] > 500
