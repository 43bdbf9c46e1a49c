"""Denoising autoencoders (the tutorial's ``dA.py``).

Denoising autoencoders are the building blocks for SdA.  They are based on
auto-encoders as the ones used in Bengio et al. 2007.  An autoencoder takes an
input x and first maps it to a hidden representation y = f_{\\theta}(x) = s(Wx+b),
parameterized by \\theta={W,b}.  The resulting latent representation y is then
mapped back to a "reconstructed" vector z \\in [0,1]^d in input space
z = g_{\\theta'}(y) = s(W'y + b').  The weight matrix W' can optionally be
constrained such that W' = W^T, in which case the autoencoder is said to have
tied weights.  The network is trained such that to minimize the reconstruction
error (the error between x and z).

For the denoising autoencoder, during training, first x is corrupted into
\\tilde{x}, where \\tilde{x} is a partially destroyed version of x by means of a
stochastic mapping.  Afterwards y is computed as before (using \\tilde{x}),
y = s(W\\tilde{x} + b) and z as s(W'y + b').  The reconstruction error is now
measured between z and the uncorrupted input x, which is computed as the
cross-entropy:
     - \\sum_{k=1}^d[ x_k \\log z_k + (1-x_k) \\log( 1-z_k)]

References:
   - P. Vincent, H. Larochelle, Y. Bengio, P.A. Manzagol: Extracting and
     Composing Robust Features with Denoising Autoencoders, ICML'08, 1096-1103, 2008
   - Y. Bengio, P. Lamblin, D. Popovici, H. Larochelle: Greedy Layer-Wise
     Training of Deep Networks, NIPS'06, 153-160, 2007
"""

import os

import numpy

from ..backend import T, floatX, pytensor, sigmoid
from ..random_streams import RandomStreams
from ..updates import sgd


class dA:
    """Denoising Auto-Encoder class (dA)

    A denoising autoencoder tries to reconstruct the input from a corrupted
    version of it by projecting it first in a latent space and reprojecting
    it afterwards back in the input space.  Please refer to Vincent et al., 2008
    for more details.  If x is the input then equation (1) computes a partially
    destroyed version of x by means of a stochastic mapping q_D.  Equation (2)
    computes the projection of the input into the latent space.  Equation (3)
    computes the reconstruction of the input, while equation (4) computes the
    reconstruction error.

    .. math::

        \\tilde{x} ~ q_D(\\tilde{x}|x)                                     (1)

        y = s(W \\tilde{x} + b)                                           (2)

        x = s(W' y  + b')                                                (3)

        L(x,z) = -sum_{k=1}^d [x_k \\log z_k + (1-x_k) \\log( 1-z_k)]      (4)
    """

    def __init__(self, numpy_rng, theano_rng=None, input=None, n_visible=784, n_hidden=500,
                 W=None, bhid=None, bvis=None):
        """Initialize the dA class by specifying the number of visible units (the
        dimension d of the input), the number of hidden units (the dimension d' of
        the latent or hidden space) and the corruption level.  The constructor also
        receives symbolic variables for the input, weights and bias.  Such a
        symbolic variable is useful when, for example, the input is the result of
        some computations, or when weights are shared between the dA and an MLP
        layer.  When dealing with SdAs this always happens: the dA on layer 2 gets
        as input the output of the dA on layer 1, and the weights of the dA are
        used in the second stage of training to construct an MLP.

        :type numpy_rng: numpy.random.RandomState
        :param numpy_rng: number random generator used to generate weights
        :type theano_rng: sda.random_streams.RandomStreams
        :param theano_rng: symbolic random number generator; if None, one is
            seeded from `numpy_rng`
        :param input: a symbolic description of the input, or None for a
            standalone dA
        :param n_visible: number of visible units
        :param n_hidden: number of hidden units
        :param W: shared weights, (n_visible, n_hidden), to share with an MLP
            layer; None creates them
        :param bhid: shared hidden-unit biases (n_hidden,); None creates them
        :param bvis: shared visible-unit biases (n_visible,); None creates them
        """
        self.n_visible = n_visible
        self.n_hidden = n_hidden

        # create a PyTensor random generator that gives symbolic random values
        if theano_rng is None:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        self.theano_rng = theano_rng
        # the shared generator of this dA's masking noise, made with the model so that
        # every function training this dA draws from it and its state can be saved
        self.noise_rng = theano_rng.generator()

        if W is None:
            # W is initialized with `initial_W` which is uniformly sampled from
            # -4*sqrt(6./(n_visible+n_hidden)) and 4*sqrt(6./(n_hidden+n_visible));
            # the 4 suits the sigmoid (Glorot & Bengio 2010)
            bound = 4 * numpy.sqrt(6.0 / (n_hidden + n_visible))
            initial_W = numpy.asarray(numpy_rng.uniform(low=-bound, high=bound, size=(n_visible, n_hidden)),
                                      dtype=floatX)
            W = pytensor.shared(value=initial_W, name="W", borrow=True)
        if bvis is None:
            bvis = pytensor.shared(value=numpy.zeros(n_visible, dtype=floatX), name="b_prime", borrow=True)
        if bhid is None:
            bhid = pytensor.shared(value=numpy.zeros(n_hidden, dtype=floatX), name="b", borrow=True)

        self.W = W
        self.b = bhid              # bias of the hidden units
        self.b_prime = bvis        # bias of the visible units
        self.W_prime = self.W.T    # tied weights: the decoder uses the transpose

        # a symbolic matrix when no input is given, so that the dA can stand alone
        self.x = T.matrix(name="input", dtype=floatX) if input is None else input

        self.params = [self.W, self.b, self.b_prime]

    def get_corrupted_input(self, input, corruption_level):
        """This function keeps ``1-corruption_level`` entries of the inputs the
        same and zero-out randomly selected subset of size ``corruption_level``.

        The tutorial drew the mask with ``binomial(n=1, p=1-corruption_level)``;
        ``uniform < 1 - corruption_level`` has the same distribution and, unlike
        PyTensor's binomial, also compiles on the JAX back end.
        """
        keep = self.theano_rng.uniform(size=input.shape, rng=self.noise_rng) < 1 - corruption_level
        return T.cast(keep, floatX) * input

    def get_hidden_values(self, input):
        """Computes the values of the hidden layer."""
        return sigmoid(T.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        """Computes the reconstructed input given the values of the hidden layer."""
        return sigmoid(T.dot(hidden, self.W_prime) + self.b_prime)

    def get_cost_updates(self, corruption_level, learning_rate):
        """This function computes the cost and the updates for one training step of the dA.

        :param corruption_level: fraction of the inputs zeroed (float or symbolic scalar)
        :param learning_rate: SGD step (float or symbolic scalar)
        :returns: ``(cost, updates)``
        """
        tilde_x = self.get_corrupted_input(self.x, corruption_level)
        y = self.get_hidden_values(tilde_x)
        z = self.get_reconstructed_input(y)
        # the cross-entropy between x and its reconstruction, summed over the
        # units of each example: a vector with one entry per example.  x is
        # compared with z, not tilde_x: the dA learns to *remove* the noise.
        L = -T.sum(self.x * T.log(z) + (1 - self.x) * T.log(1 - z), axis=1)
        # the cost is the mean over the minibatch
        cost = T.mean(L)
        # the noise generator advances at every step, so each minibatch gets fresh noise
        return cost, sgd(cost, self.params, learning_rate) + self.theano_rng.updates_for(cost)


def test_dA(learning_rate=0.1, training_epochs=15, dataset=None, batch_size=20, output_folder="dA_plots",
            corruption_levels=(0.0, 0.3), n_hidden=500, n_train=None):
    """The tutorial's ``test_dA``, kept as it was written: one dA without
    corruption and one with 30 % corruption on MNIST, one compiled call per
    minibatch, and a picture of each one's filters.

    ``scripts/train_da.py`` runs the same procedure (:func:`sda.recipes.run_da`)
    with checkpoints and faster engines; ``tests/test_tutorial.py`` checks that
    both train the same weights.

    :param dataset: anything :func:`sda.data.load_data` reads (default: MNIST)
    :returns: the trained dAs, one per corruption level
    """
    import sys
    import timeit

    from PIL import Image

    from ..data import image_shape_for, load_data
    from ..minibatches import minibatch
    from .utils import tile_raster_images

    datasets = load_data(dataset, n_train=n_train)
    train_set_x, train_set_y = datasets[0]

    # compute number of minibatches for training, validation and testing
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_visible = train_set_x.get_value(borrow=True).shape[1]

    # allocate symbolic variables for the data
    index = T.lscalar()  # index to a [mini]batch
    x = T.matrix("x", dtype=floatX)  # the data is presented as rasterized images

    os.makedirs(output_folder, exist_ok=True)

    trained = []
    for corruption_level in corruption_levels:
        ###############################
        # BUILDING THE MODEL          #
        ###############################
        rng = numpy.random.RandomState(123)
        theano_rng = RandomStreams(rng.randint(2 ** 30))
        da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=n_visible, n_hidden=n_hidden)
        cost, updates = da.get_cost_updates(corruption_level=corruption_level, learning_rate=learning_rate)
        train_da = pytensor.function([index], cost, updates=updates,
                                     givens={x: minibatch(train_set_x, index, batch_size)})

        start_time = timeit.default_timer()
        ############
        # TRAINING #
        ############
        # go through training epochs
        for epoch in range(training_epochs):
            # go through the training set
            c = []
            for batch_index in range(n_train_batches):
                c.append(train_da(batch_index))
            print("Training epoch %d, cost %f" % (epoch, numpy.mean(c, dtype="float64")))
        end_time = timeit.default_timer()
        what = "no corruption" if corruption_level == 0 else f"{corruption_level * 100:.0f}% corruption"
        print(f"The {what} code for file {os.path.split(__file__)[1]} ran for "
              f"{(end_time - start_time) / 60.0:.2f}m", file=sys.stderr)

        image = Image.fromarray(tile_raster_images(
            X=da.W.get_value(borrow=True).T, img_shape=image_shape_for(n_visible, datasets.image_shape),
            tile_shape=(10, 10), tile_spacing=(1, 1)))
        image.save(os.path.join(output_folder, f"filters_corruption_{corruption_level * 100:.0f}.png"))
        trained.append(da)
    return trained
