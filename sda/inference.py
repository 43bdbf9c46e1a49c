"""Using a trained SdA: class probabilities, predictions and hidden representations.

Each is the model's own graph (``logLayer.p_y_given_x``, ``logLayer.y_pred``,
a sigmoid layer's ``output``), applied to an array in batches of rows.  On the
CPU, class probabilities and hidden representations are computed by the
kernels (:mod:`sda.engines.kernel_steps`), which give the same bits on every
CPU, once they have agreed with the graph's compiled function on the first rows
(an edited model is computed by its graph); elsewhere, and for ``predict``, by
the compiled function, compiled on first use and kept with the model.
"""

import numpy

from .tutorial.SdA import SdA


def compiled_function(model, name, output):
    """``output`` of the model's graph as a function of ``model.x``, compiled once and kept with the model."""
    from .backend import pytensor

    cache = model.__dict__.setdefault("_inference_functions", {})
    if name not in cache:
        cache[name] = pytensor.function([model.x], output, name=name)
    return cache[name]


def _rows(model, x):
    from .backend import floatX

    x = numpy.asarray(x, dtype=floatX)
    if x.ndim != 2 or x.shape[1] != model.n_ins:
        raise ValueError(f"expected inputs of shape (n, {model.n_ins}), got {x.shape}")
    return x


def _in_batches(model, fn, x, batch_size=1000):
    x = _rows(model, x)
    if not len(x):
        return fn(x)
    return numpy.concatenate([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def _kernel_or_compiled(model, name, output, kernel, x):
    """``kernel`` (arrays -> array, the same bits on every CPU) if it computes what the compiled ``output`` of the
    model does on the first rows of ``x`` (checked once per model and output), else the compiled function."""
    from .backend import device, floatX

    compiled = compiled_function(model, name, output)
    x = _rows(model, x)
    if device != "cpu" or not len(x):
        return compiled
    agrees = model.__dict__.setdefault("_kernels_agree", {})
    if name not in agrees:
        from .engines.kernels import CHECKED_EXAMPLES, TOLERANCE

        sample = numpy.ascontiguousarray(x[:CHECKED_EXAMPLES])
        try:
            ours, reference = kernel(sample), compiled(sample)
        except Exception:  # shapes the kernels cannot read: the compiled function says what is wrong
            agrees[name] = False
        else:
            agrees[name] = ours.shape == reference.shape and bool(
                numpy.max(numpy.abs(ours - reference), initial=0.0) <= TOLERANCE[floatX])
    return kernel if agrees[name] else compiled


def predict_proba(model, x):
    """Class probabilities ``p(y | x)``, one row per row of the array ``x``."""
    from .engines import kernel_steps
    from .engines.kernels import typed_params
    from .engines.threads import by_rows

    def kernel(rows):
        return by_rows(kernel_steps.class_probabilities, numpy.ascontiguousarray(rows),
                       *typed_params(model.sigmoid_layers), model.logLayer.W.get_value(borrow=True),
                       model.logLayer.b.get_value(borrow=True))

    return _in_batches(model, _kernel_or_compiled(model, "proba", model.logLayer.p_y_given_x, kernel, x), x)


def predict(model, x):
    """The most probable class of each row of ``x``."""
    return _in_batches(model, compiled_function(model, "predict", model.logLayer.y_pred), x)


def encode(model, x, layer=-1):
    """The hidden representation h(x) of ``layer`` (default: the top one) of each row of ``x``."""
    from .engines import kernel_steps
    from .engines.kernels import typed_params
    from .engines.threads import by_rows

    index = range(model.n_layers)[layer]

    def kernel(rows):
        return by_rows(kernel_steps.encode, numpy.ascontiguousarray(rows),
                       *typed_params(model.sigmoid_layers[:index + 1]))

    return _in_batches(model, _kernel_or_compiled(model, f"encode{index}", model.sigmoid_layers[index].output,
                                                  kernel, x), x)


def error_scorer(model, set_x, set_y, batch_size):
    """A function returning the 0/1 error of every example of the shared set
    ``(set_x, set_y)``, so that its mean is the exact error rate for any batch size.

    The tutorial's scorers return each minibatch's error rate and leave out a
    short last minibatch; this counts every example.  On the JAX back end
    (static shapes) a short last minibatch gets its own function, with a
    constant index.
    """
    from .backend import T, pytensor, static_shapes
    from .minibatches import minibatch

    index = T.iscalar("index")
    wrong = T.neq(model.logLayer.y_pred, model.y)

    def compile_for(i):
        inputs = [] if isinstance(i, int) else [i]
        return pytensor.function(inputs, wrong, givens={model.x: minibatch(set_x, i, batch_size),
                                                        model.y: minibatch(set_y, i, batch_size)})

    fn = compile_for(index)
    n_examples = set_x.get_value(borrow=True).shape[0]
    n_calls = -(-n_examples // batch_size)
    last = None
    if static_shapes() and n_examples % batch_size:
        n_calls -= 1
        last = compile_for(n_calls)

    def score():
        return numpy.concatenate([fn(i) for i in range(n_calls)] + ([last()] if last is not None else []))

    return score



class TrainedSdA(SdA):
    """The tutorial's SdA with the methods of a trained model (what
    :func:`sda.model_io.load_model` returns)."""

    def predict_proba(self, x):
        return predict_proba(self, x)

    def predict(self, x):
        return predict(self, x)

    def encode(self, x, layer=-1):
        return encode(self, x, layer)
