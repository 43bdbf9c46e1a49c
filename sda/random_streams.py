"""Symbolic random numbers, the way the tutorial's ``RandomStreams`` gave them.

A :class:`RandomStreams` is a seeded family of NumPy generators held in shared
variables.  A model creates the generators it needs when it is built
(:meth:`RandomStreams.generator`: the dA creates the one its masking noise comes
from), so they exist before any function is compiled, every function that trains
the model draws from the same generator, and their states can be saved and
restored (:meth:`RandomStreams.state_dict`).

A compiled function that draws from a generator must also advance it (PyTensor
has deprecated Theano's implicit ``default_update``): :meth:`RandomStreams.updates_for`
returns that update, and :meth:`sda.tutorial.dA.dA.get_cost_updates` adds it to its
updates, so successive minibatches see fresh noise, as with Theano's ``RandomStreams``.

We draw uniforms only: the dA's masking noise is ``uniform < 1 - c``, which has
the distribution of Theano's ``binomial(n=1, p=1 - c)`` and also compiles on
PyTensor's JAX back end (whose ``binomial`` needs NumPyro).
"""

import numpy

from .backend import T, pytensor


class RandomStreams:
    """A seeded family of symbolic random generators (Theano's ``RandomStreams``).

    :param seed: an int; the generators' seeds are spawned from it in the order
        the generators are created, so the same seed and the same model give the
        same noise.
    """

    def __init__(self, seed):
        self.seed = int(seed)
        self._seeds = numpy.random.SeedSequence(self.seed)
        self.generators = []  # shared variables holding numpy Generators, in creation order
        self._draws = []  # (generator, sample, its next state) of every symbolic draw

    def generator(self):
        """A new shared generator of this family."""
        (child,) = self._seeds.spawn(1)
        rng = pytensor.shared(numpy.random.default_rng(child), borrow=True, name=f"rng_{len(self.generators)}")
        self.generators.append(rng)
        return rng

    def uniform(self, size, low=0.0, high=1.0, dtype=None, rng=None):
        """A symbolic draw of shape ``size`` from U[low, high), from the shared
        generator ``rng`` (a new generator of this family if None, as Theano's
        ``RandomStreams.uniform`` made a new stream at every call)."""
        rng = self.generator() if rng is None else rng
        next_rng, sample = T.random.uniform(low, high, size=size, rng=rng, return_next_rng=True)
        self._draws.append((rng, sample, next_rng))
        return sample if dtype is None else T.cast(sample, dtype)

    def updates_for(self, variable):
        """The generator updates that a function computing ``variable`` needs."""
        from pytensor.graph.traversal import ancestors

        used = set(ancestors([variable]))
        updates = {}
        for rng, sample, next_rng in self._draws:
            if sample in used:
                if rng in updates:
                    raise ValueError(f"{variable} draws twice from the generator {rng.name}: draw once per "
                                     f"function, or give each draw its own generator (rng=None)")
                updates[rng] = next_rng
        return list(updates.items())

    def state_dict(self):
        """The generators' states, as plain data (JSON-able: ints and strings)."""
        return {"seed": self.seed,
                "generators": [rng.get_value(borrow=True).bit_generator.state for rng in self.generators]}

    def load_state_dict(self, state):
        """Restore states returned by :meth:`state_dict` (the same model, so the same generators)."""
        states = state["generators"]
        if len(states) != len(self.generators):
            raise ValueError(f"expected {len(self.generators)} generator states, got {len(states)}")
        for rng, generator_state in zip(self.generators, states):
            generator = numpy.random.default_rng()
            generator.bit_generator.state = generator_state
            rng.set_value(generator, borrow=True)
