"""How a compiled function picks its minibatch out of a shared dataset."""


def minibatch(data, index, batch_size):
    """Rows ``index * batch_size`` to ``(index + 1) * batch_size`` of ``data``.

    ``data`` is a shared variable holding the whole dataset and ``index`` a
    symbolic integer, so that the dataset is copied to the compiled function's
    memory once and each call only says which slice to use (the tutorial's
    ``givens`` idiom).  The last minibatch may be shorter when ``batch_size``
    does not divide the number of rows.

    On the JAX back end (device=cuda, see :func:`sda.backend.static_shapes`) a
    slice with a symbolic start cannot be traced: its length must be known when
    compiling.  There the rows are ``index * batch_size + arange(batch_size)``:
    the same rows for every full minibatch, always ``batch_size`` of them.  A
    *short last* minibatch therefore needs a constant ``index`` there (a Python
    int: the plain slice, whose bounds are then constants); a symbolic index
    past the last full minibatch would be clamped by JAX, not refused.  The CPU
    (Numba) keeps the plain slice, its fastest form.
    """
    from .backend import T, static_shapes

    if static_shapes() and not isinstance(index, int):
        return data[index * batch_size + T.arange(batch_size, dtype="int32")]
    return data[index * batch_size:(index + 1) * batch_size]


def n_batches(data, batch_size):
    """How many minibatches of ``batch_size`` rows the shared ``data`` holds (the
    tutorial's ``get_value(borrow=True).shape[0] // batch_size``: a short last
    minibatch is dropped during training)."""
    return data.get_value(borrow=True).shape[0] // batch_size
