"""Symbolic random numbers, the way the tutorial's ``RandomStreams`` gave them.

Each call of :meth:`RandomStreams.uniform` creates a shared NumPy generator and a
symbolic draw from it, and records the update that advances the generator.  A
compiled function that uses the draw must include that update (PyTensor has
deprecated Theano's implicit ``default_update``): :meth:`RandomStreams.updates_for`
returns it, and :meth:`sda.dA.get_cost_updates` adds it to its updates, so
successive minibatches see fresh noise, as with Theano's ``RandomStreams``.

We draw uniforms only: the dA's masking noise is ``uniform < 1 - c``, which has
the distribution of Theano's ``binomial(n=1, p=1 - c)`` and also compiles on
PyTensor's JAX back end (whose ``binomial`` needs NumPyro).
"""

import numpy

from .backend import T, pytensor


class RandomStreams:
    """A seeded family of symbolic random generators (Theano's ``RandomStreams``).

    :param seed: an int; the generators' seeds are spawned from it, so the same
        seed and the same sequence of ``uniform`` calls give the same noise.
    """

    def __init__(self, seed):
        self.seed = int(seed)
        self._seeds = numpy.random.SeedSequence(self.seed)
        self.state_updates = []  # [(shared generator, its next state)]

    def uniform(self, size, low=0.0, high=1.0, dtype=None):
        """A symbolic draw of shape ``size`` from U[low, high)."""
        (child,) = self._seeds.spawn(1)
        rng = pytensor.shared(numpy.random.default_rng(child), borrow=True,
                              name=f"rng_{len(self.state_updates)}")
        next_rng, sample = T.random.uniform(low, high, size=size, rng=rng, return_next_rng=True)
        self.state_updates.append((rng, next_rng))
        if dtype is not None:
            sample = T.cast(sample, dtype)
        return sample

    def updates_for(self, variable):
        """The generator updates that a function computing ``variable`` needs."""
        from pytensor.graph.traversal import ancestors

        used = set(ancestors([variable]))
        return [(rng, next_rng) for rng, next_rng in self.state_updates if rng in used]

    def get_state(self):
        """The generators' states, as plain picklable data (for checkpoints)."""
        return [rng.get_value(borrow=True).bit_generator.state for rng, _ in self.state_updates]

    def set_state(self, states):
        """Restore states returned by :meth:`get_state`."""
        if len(states) != len(self.state_updates):
            raise ValueError(f"expected {len(self.state_updates)} generator states, got {len(states)}")
        for (rng, _), state in zip(self.state_updates, states):
            generator = numpy.random.default_rng()
            generator.bit_generator.state = state
            rng.set_value(generator, borrow=True)
