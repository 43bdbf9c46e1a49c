"""Using a trained SdA: class probabilities, predictions and hidden representations.

Each is one compiled function of the model's own graph (``logLayer.p_y_given_x``,
``logLayer.y_pred``, a sigmoid layer's ``output``), compiled on first use and
kept with the model, applied to an array in batches of rows.
"""

import numpy

from .tutorial.SdA import SdA


def _compiled(model, name, output):
    from .backend import pytensor

    cache = model.__dict__.setdefault("_inference_functions", {})
    if name not in cache:
        cache[name] = pytensor.function([model.x], output, name=name)
    return cache[name]


def _in_batches(model, fn, x, batch_size=1000):
    from .backend import floatX

    x = numpy.asarray(x, dtype=floatX)
    if x.ndim != 2 or x.shape[1] != model.n_ins:
        raise ValueError(f"expected inputs of shape (n, {model.n_ins}), got {x.shape}")
    if not len(x):
        return fn(x)
    return numpy.concatenate([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def predict_proba(model, x):
    """Class probabilities ``p(y | x)``, one row per row of the array ``x``."""
    return _in_batches(model, _compiled(model, "proba", model.logLayer.p_y_given_x), x)


def predict(model, x):
    """The most probable class of each row of ``x``."""
    return _in_batches(model, _compiled(model, "predict", model.logLayer.y_pred), x)


def encode(model, x, layer=-1):
    """The hidden representation h(x) of ``layer`` (default: the top one) of each row of ``x``."""
    index = range(model.n_layers)[layer]
    return _in_batches(model, _compiled(model, f"encode{index}", model.sigmoid_layers[index].output), x)


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
