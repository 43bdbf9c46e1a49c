"""Fast runners: many minibatches per call, through the Numba kernels of :mod:`sda.engines.kernel_steps`.

The kernels are hand-written for the tutorial's model (a tied-weight dA with
masking noise and the cross-entropy cost; a sigmoid MLP with a softmax layer and
the mean negative log-likelihood).  They update the model's own shared variables
in place and draw the masking noise from the dA's own generator, in the same
order and amount as the compiled functions do, so both engines train the same
model on the same noise (equal within float rounding).

A kernel knows nothing of the model's graph, so an edited model (another cost,
another noise, another activation) would silently be trained as the tutorial's.
Hence, before each phase, the kernels are checked against the model's compiled
step on the real data (:func:`disagreement`): a few minibatches through both, on
copies of the parameters and the noise state.  When they disagree, ``--engine
auto`` trains that phase with the compiled engine and says so in one line, and
``--engine kernels`` refuses.

Pretraining layer ``k > 0`` runs on the outputs of the (frozen) layers below,
computed once for the whole training set when the layer starts -- the
tutorial's own suggestion -- instead of recomputing them at every minibatch.

The kernels give the same bits on every x86-64 CPU (``docs/determinism.md``):
their sums have a fixed order and no fast-math, and their products are
:mod:`sda.engines.blas`'s, not OpenBLAS's.
"""

import copy

import numpy

from ..errors import UsageError, UserError
from . import register
from .compiled import CompiledEngine, finetuning_step, pretraining_step
from .threads import ThreadChooser, by_rows, requested_threads

# minibatches per kernel call: long enough to make the call's cost negligible,
# short enough that a stop request (Ctrl-C) is answered within a fraction of a second
DEFAULT_CHUNK = 500
#: uniforms drawn at once for the masking noise (float64: 512 kB, which stays in the cache)
NOISE_BLOCK_VALUES = 1 << 16

# minibatches run through both the kernels and the compiled step before a phase
CHECKED_MINIBATCHES = 4

# examples whose class probabilities the kernels and the model's graph must agree on before the kernels score a set
CHECKED_EXAMPLES = 100

# largest relative difference (of the costs and of every updated variable) that
# float rounding explains after CHECKED_MINIBATCHES steps; an edited model differs by far more
TOLERANCE = {"float32": 2e-4, "float64": 1e-9}


def _value(shared):
    return shared.get_value(borrow=True)


def typed_params(layers):
    """The layers' weights and biases as the kernels take them: two Numba typed lists."""
    from numba import typed

    Ws, bs = typed.List(), typed.List()
    for layer in layers:
        Ws.append(_value(layer.W))
        bs.append(_value(layer.b))
    return Ws, bs


class PretrainingRunner:
    """Trains ``model.dA_layers[layer]`` on minibatches of the training set."""

    def __init__(self, model, layer, train_set_x, batch_size, corruption_level, learning_rate,
                 chunk=DEFAULT_CHUNK):
        self.model, self.layer, self.train_set_x = model, layer, train_set_x
        self.batch_size, self.chunk = batch_size, chunk
        self.dA = model.dA_layers[layer]
        dtype = _value(self.dA.W).dtype
        # the compiled graph compares float32 uniforms with 1 - c computed in floatX
        self.keep = dtype.type(1) - dtype.type(corruption_level)
        self.learning_rate = dtype.type(learning_rate)
        self.inputs = None
        self._noise_buffer = None
        self._draws = None  # float64 uniforms of one block of the noise
        self.threads = ThreadChooser()

    def layer_inputs(self):
        """The layer's inputs for the whole training set: the data, or the output
        of the frozen layers below (computed on first use, i.e. once they are trained)."""
        if self.inputs is None:
            x = _value(self.train_set_x)
            if self.layer > 0:
                from . import kernel_steps

                # the same bits on every CPU (PyTensor's compiled encode goes through OpenBLAS)
                x = by_rows(kernel_steps.encode, x, *typed_params(self.model.sigmoid_layers[:self.layer]))
            self.inputs = x
        return self.inputs

    def __call__(self, first, stop):
        from . import kernel_steps

        stop = min(stop, first + self.threads.call_length(self.chunk))
        inputs = self.layer_inputs()
        W = _value(self.dA.W)
        noise = self._noise((stop - first) * self.batch_size, inputs.shape[1], W.dtype)
        parameters = (W, _value(self.dA.b), _value(self.dA.b_prime), self.keep, self.learning_rate)
        if self.batch_size == 1:
            return self.threads.run(kernel_steps.da_train_b1, inputs, noise.reshape(stop - first, inputs.shape[1]),
                                    first, stop, *parameters, *kernel_steps.da_workspace(W.shape[0], W.dtype),
                                    minibatches=stop - first)
        return self.threads.run(kernel_steps.da_train_batch, inputs, noise, first, stop, self.batch_size,
                                *parameters, *kernel_steps.da_workspace_batch(self.batch_size, *W.shape, W.dtype),
                                minibatches=stop - first)

    def _noise(self, rows, columns, dtype):
        """The masking noise of ``rows`` examples: the same draws, in the same order, as the compiled function's
        ``uniform(size=(batch, n_in))``, converted to ``dtype`` block by block into a buffer kept between calls
        (drawing a whole call's float64 uniforms at once cost ~10% of a batch-20 call, most of it in touching
        fresh memory)."""
        if self._noise_buffer is None or self._noise_buffer.shape[0] < rows or self._noise_buffer.dtype != dtype:
            self._noise_buffer = numpy.empty((rows, columns), dtype)
        noise = self._noise_buffer[:rows]
        generator = _value(self.dA.noise_rng)
        block = max(1, NOISE_BLOCK_VALUES // columns)
        if self._draws is None or self._draws.shape != (block, columns):
            self._draws = numpy.empty((block, columns))
        for start in range(0, rows, block):
            stop = min(start + block, rows)
            # Generator.random draws what uniform(0, 1) draws (0 + 1 * u is u), into a buffer reused, where
            # uniform allocates one per block and computes 0 + 1 * u: 40 % less time (~4 against ~6.5 ns a value)
            draws = self._draws[:stop - start]
            generator.random(out=draws)
            noise[start:stop] = draws
        return noise


class FinetuningRunner:
    """Finetunes the whole SdA (sigmoid layers and logistic layer) on minibatches.

    ``learning_rate`` is a number, or a shared scalar read at every call (so that
    the rate can change between epochs, as with the compiled functions)."""

    def __init__(self, model, train_set, batch_size, learning_rate, chunk=DEFAULT_CHUNK):
        self.model, (self.train_set_x, self.train_set_y) = model, train_set
        self.batch_size, self.chunk = batch_size, chunk
        self.rate = learning_rate
        self.threads = ThreadChooser()

    @property
    def learning_rate(self):
        rate = self.rate.get_value() if hasattr(self.rate, "get_value") else self.rate
        return _value(self.model.logLayer.W).dtype.type(rate)

    def __call__(self, first, stop):
        from . import kernel_steps

        stop = min(stop, first + self.threads.call_length(self.chunk))
        Ws, bs = typed_params(self.model.sigmoid_layers)
        W_out, b_out = _value(self.model.logLayer.W), _value(self.model.logLayer.b)
        data = (_value(self.train_set_x), _value(self.train_set_y), first, stop)
        parameters = (Ws, bs, W_out, b_out, self.learning_rate)
        if self.batch_size == 1:
            return self.threads.run(kernel_steps.mlp_train_b1, *data, *parameters,
                                    *kernel_steps.mlp_workspace(Ws, W_out), minibatches=stop - first)
        return self.threads.run(kernel_steps.mlp_train_batch, *data, self.batch_size, *parameters,
                                *kernel_steps.mlp_workspace_batch(self.batch_size, Ws, W_out),
                                minibatches=stop - first)


class ErrorScorer:
    """The 0/1 error of every example of the shared set ``(set_x, set_y)``, through the kernels: what
    :func:`sda.inference.error_scorer` computes from the model's graph, with the same bits on every CPU."""

    def __init__(self, model, set_x, set_y, batch_size):
        self.model, self.set_x, self.set_y, self.batch_size = model, set_x, set_y, batch_size

    def probabilities(self, x):
        from . import kernel_steps

        Ws, bs = typed_params(self.model.sigmoid_layers)
        return by_rows(kernel_steps.class_probabilities, numpy.ascontiguousarray(x), Ws, bs,
                       _value(self.model.logLayer.W), _value(self.model.logLayer.b))

    def __call__(self):
        x, y, size = _value(self.set_x), _value(self.set_y), self.batch_size
        return numpy.concatenate([self.probabilities(x[i:i + size]).argmax(axis=1) != y[i:i + size]
                                  for i in range(0, len(x), size)] or [numpy.zeros(0, bool)])


def scoring_disagreement(scorer, model, n_examples=CHECKED_EXAMPLES):
    """How far the kernels' class probabilities and predictions are from the model's graph
    (``logLayer.p_y_given_x``, ``logLayer.y_pred``) on the first examples of the set, or None if they agree."""
    from ..inference import compiled_function

    x = _value(scorer.set_x)[:n_examples]
    try:
        ours = scorer.probabilities(x)
    except Exception as error:  # a model the kernels cannot even read
        return numpy.inf, f"the kernels failed on this model ({type(error).__name__}: {error})"
    reference = compiled_function(model, "proba", model.logLayer.p_y_given_x)(x)
    if ours.shape != reference.shape:
        return numpy.inf, f"p(y | x) (shape {ours.shape} instead of {reference.shape})"
    difference = float(numpy.max(numpy.abs(ours - reference), initial=0.0))
    if not difference <= TOLERANCE[str(ours.dtype)]:
        return difference, f"p(y | x) of the first {len(x)} examples"
    if (ours.argmax(axis=1) != compiled_function(model, "predict", model.logLayer.y_pred)(x)).any():
        return 1.0, f"the predicted class of one of the first {len(x)} examples"
    return None


def disagreement(kernel_run, compiled_run, updated, n_minibatches=CHECKED_MINIBATCHES):
    """How far the kernels are from the model's compiled step, or None if they agree.

    Runs minibatches ``0 .. n_minibatches - 1`` through each, from the same
    state, then puts every variable of ``updated`` (the shared variables the
    compiled step updates: parameters and noise generators) back as it was.

    :returns: None, or ``(largest relative difference, what differs most)``
    """
    saved = [copy.deepcopy(variable.get_value(borrow=True)) for variable in updated]

    def run(runner):
        try:
            costs = numpy.asarray(runner(0, n_minibatches), dtype="float64")
            return [("the cost", costs)] + [
                (variable.name or "a shared variable", numpy.array(variable.get_value(), copy=True))
                for variable in updated if isinstance(variable.get_value(borrow=True), numpy.ndarray)]
        finally:
            for variable, value in zip(updated, saved):
                variable.set_value(copy.deepcopy(value), borrow=True)

    try:
        ours = run(kernel_run)
    except Exception as error:  # a model the kernels cannot even read (other shapes, missing attributes)
        return numpy.inf, f"the kernels failed on this model ({type(error).__name__}: {error})"
    reference = run(compiled_run)
    worst = (0.0, None)
    for (name, a), (_, b) in zip(ours, reference):
        if a.shape != b.shape:
            return numpy.inf, f"{name} (shape {a.shape} instead of {b.shape})"
        difference = float(numpy.max(numpy.abs(a - b), initial=0.0) / max(1.0, float(numpy.max(numpy.abs(b),
                                                                                              initial=0.0))))
        if not difference <= worst[0]:  # NaN counts as the worst
            worst = (difference, name)
    from ..backend import floatX

    if worst[0] <= TOLERANCE[floatX]:
        return None
    return worst[0], f"after {n_minibatches} minibatches {worst[1]}"


def _updated_variables(fn):
    """The shared variables a compiled function updates."""
    return [i.variable for i in fn.maker.inputs if i.update is not None]


@register
class KernelEngine:
    """Numba kernels on the CPU, checked against the model's graph before each phase.

    :param strict: refuse (``--engine kernels``) rather than fall back to the
        compiled engine (``--engine auto``) when the kernels disagree with the model
    """

    name = "kernels"
    auto_on = ("cpu",)

    def __init__(self, strict=True):
        self.strict = strict
        requested_threads()  # a bad SDA_THREADS is refused before the run starts
        self.fallbacks = []  # the phases the compiled engine trained instead
        self.fallback = CompiledEngine()

    @staticmethod
    def check_device(device):
        if device != "cpu":
            raise UsageError(f"--engine kernels runs on the CPU only, but device={device}: "
                             f"use --engine chunks, compiled or auto")

    def pretraining_runner(self, model, layer, train_set_x, batch_size, corruption_level, learning_rate, stop,
                           log=print):
        from ..training import minibatch_runner

        step = pretraining_step(model, layer, train_set_x, batch_size)
        reference = minibatch_runner(step, None, corruption=corruption_level, lr=learning_rate)
        try:
            runner = PretrainingRunner(model, layer, train_set_x, batch_size, corruption_level, learning_rate)
        except UserError:
            raise
        except Exception as error:  # a model the kernels cannot read (other attributes): the check says so
            runner = _failing(error)
        differs = disagreement(runner, reference, _updated_variables(step))
        if differs:
            return self._fall_back(f"pretraining layer {layer}", differs, log,
                                   minibatch_runner(step, stop, corruption=corruption_level, lr=learning_rate))
        return runner

    def finetuning_runner(self, model, train_set, batch_size, learning_rate, stop, log=print):
        from ..training import minibatch_runner

        step = finetuning_step(model, train_set, batch_size, learning_rate)
        try:
            runner = FinetuningRunner(model, train_set, batch_size, learning_rate)
        except UserError:
            raise
        except Exception as error:  # a model the kernels cannot read (other attributes): the check says so
            runner = _failing(error)
        differs = disagreement(runner, minibatch_runner(step, None), _updated_variables(step))
        if differs:
            return self._fall_back("finetuning", differs, log, minibatch_runner(step, stop))
        return runner

    def error_scorer(self, model, set_x, set_y, batch_size, log=print):
        from ..inference import error_scorer

        scorer = ErrorScorer(model, set_x, set_y, batch_size)
        differs = scoring_disagreement(scorer, model)
        if differs:
            return self._fall_back(f"errors on {set_x.name or 'a data set'}", differs, log,
                                   error_scorer(model, set_x, set_y, batch_size))
        return scorer

    def _fall_back(self, phase, differs, log, compiled_runner):
        difference, what = differs
        reason = (f"the kernels do not compute this model's {phase}: {what} differs from the model's compiled "
                  f"graph by {difference:.3g} (relative)")
        if self.strict:
            raise UsageError(f"--engine kernels: {reason}; use --engine compiled (or auto) to train this model")
        log(f"... {reason}: {phase} runs with the compiled engine")
        self.fallbacks.append(phase)
        return compiled_runner

    def determinants(self, batch_size):
        """The kernels' arithmetic (the same on every CPU, but it changes the bits when edited)."""
        from . import blas

        return {"kernel_arithmetic": blas.arithmetic()}

    def describe(self):
        return {"engine": self.name, **self.determinants(None), "compiled_fallbacks": list(self.fallbacks)}


def _failing(error):
    def run(first, stop):
        raise error

    return run
