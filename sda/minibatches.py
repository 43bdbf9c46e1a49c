"""How a compiled function picks its minibatch out of a shared dataset."""


def minibatch(data, index, batch_size):
    """Rows ``index * batch_size`` to ``(index + 1) * batch_size`` of ``data``.

    ``data`` is a shared variable holding the whole dataset and ``index`` a
    symbolic integer, so that the dataset is copied to the compiled function's
    memory once and each call only says which slice to use (the tutorial's
    ``givens`` idiom).  The last minibatch may be shorter when ``batch_size``
    does not divide the number of rows.
    """
    return data[index * batch_size:(index + 1) * batch_size]


def n_batches(data, batch_size):
    """How many minibatches of ``batch_size`` rows the shared ``data`` holds (the
    tutorial's ``get_value(borrow=True).shape[0] // batch_size``: a short last
    minibatch is dropped during training)."""
    return data.get_value(borrow=True).shape[0] // batch_size
