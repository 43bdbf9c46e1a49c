"""device=cuda: PyTensor's JAX back end, with the shared variables kept on the GPU.

:func:`find_gpu` finds the ``jax.Device`` that ``device=cuda``/``cudaN`` names
(or says in one line what to install); :func:`jax_mode` is PyTensor's ``JAX``
mode with a linker that keeps the shared variables (datasets, parameters) on
that device between calls; :class:`jax_on_cpu` lets tests run that path on
JAX's CPU device.  :mod:`sda.backend` makes :func:`jax_mode` PyTensor's default
mode on a GPU.

Nothing here imports PyTensor or JAX at import time: :mod:`sda.backend` imports
this module before it has handed the user's flags over to PyTensor.
"""

from sda.errors import ConfigError

__all__ = ["GPU_INSTALL_HINT", "find_gpu", "jax_mode", "jax_on_cpu"]

#: What to install for device=cuda (the ``gpu`` extra of setup.py: JAX with CUDA).
GPU_INSTALL_HINT = "pip install -e .[gpu]"

_jax_modes = {}


def _gpu_index(name):
    return 0 if name == "cuda" else int(name[len("cuda"):])


def find_gpu(name, source):
    """The ``jax.Device`` for ``device=name`` (``'cuda'``, ``'cuda1'``, ...), or a
    one-line :class:`ConfigError` naming what to install.

    JAX falls back to its CPU back end without a word when it finds no GPU, so
    this asks for the GPU platform explicitly.
    """
    try:
        import jax
    except ImportError:
        raise ConfigError(
            f"device={name} (from {source}) needs JAX with CUDA, which is not installed: "
            f"{GPU_INSTALL_HINT} (or use device=cpu)"
        ) from None
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if not gpus:
        try:
            found = ", ".join(sorted({d.platform for d in jax.devices()}))
        except RuntimeError:
            found = "none"
        raise ConfigError(
            f"device={name} (from {source}): JAX {jax.__version__} finds no GPU (its devices: {found}); "
            f"install JAX with CUDA and check the NVIDIA driver: {GPU_INSTALL_HINT} (or use device=cpu)"
        )
    number = _gpu_index(name)
    if number >= len(gpus):
        raise ConfigError(
            f"device={name} (from {source}): JAX finds {len(gpus)} GPU(s): use device=cuda0"
            + (f" to cuda{len(gpus) - 1}" if len(gpus) > 1 else "")
        )
    return gpus[number]


def _device_linker_class(target):
    """PyTensor's ``JAXLinker`` that keeps the shared variables on ``target``.

    PyTensor's JAX linker hands each shared variable's storage to the jitted
    function as it finds it.  A NumPy array there is copied to the device on
    *every* call (the whole dataset for each minibatch!).  This linker replaces
    it, on the first call, by a device array in the shared variable's own
    storage cell, so ``get_value(borrow=True)`` then returns a ``jax.Array`` and
    later calls copy nothing.  Updates write the jitted function's outputs (device
    arrays) back into those cells, so the parameters stay on the device as well.
    A later ``set_value`` (a NumPy array) is moved again on the next call.
    """
    import jax
    import numpy
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.link.jax.linker import JAXLinker

    device_put = jax.device_put

    def strong(leaf):
        # a strongly typed device array: JAX compiles again when an input's
        # weak_type changes, as the generator state's scalars did after one call
        return device_put(numpy.asarray(leaf), target)

    def create_thunk_inputs(self, storage_map):
        thunk_inputs = JAXLinker.create_thunk_inputs(self, storage_map)
        cells = []
        for position, (variable, cell) in enumerate(zip(self.fgraph.inputs, thunk_inputs)):
            if isinstance(variable, SharedVariable):
                cells.append((position, cell))
                if isinstance(cell[0], dict):  # a noise generator's state, made a JAX pytree above
                    cell[0] = jax.tree_util.tree_map(strong, cell[0])
        self._shared_cells = tuple(cells)
        return thunk_inputs

    def jit_compile(self, fn):
        compiled = JAXLinker.jit_compile(self, fn)
        shared_cells = self._shared_cells
        ndarray = numpy.ndarray

        def call(*args):
            for position, cell in shared_cells:
                if isinstance(args[position], ndarray):
                    cell[0] = device_put(args[position], target)
                    args = args[:position] + (cell[0],) + args[position + 1:]
            return compiled(*args)

        return call

    return type("DeviceJAXLinker", (JAXLinker,), {
        "create_thunk_inputs": create_thunk_inputs, "jit_compile": jit_compile, "target": target})


#: Warnings of PyTensor's JAX back end that say nothing wrong about this package:
#: it copies each shared noise generator into the compiled function (which then
#: advances the copy: the noise is fresh at every call); it drops the broadcast
#: asserts of the graph; it sums float32 in float32 (JAX without x64) where the
#: graph asks for a float64 accumulator (int32 for int64).
_JAX_NOISE = (
    r"The RandomType SharedVariables .* will not be used in the compiled JAX graph",
    r"Skipping Assert\{",
    r"Explicitly requested dtype (float|int)64 requested in astype is not available",
)


def jax_mode(target):
    """PyTensor's ``JAX`` mode (its rewrites) with the device-resident linker,
    one per device (PyTensor caches compiled functions by mode)."""
    key = (target.platform, target.id)
    if key not in _jax_modes:
        import warnings

        from pytensor.compile.mode import JAX, Mode

        for message in _JAX_NOISE:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)

        _jax_modes[key] = Mode(linker=_device_linker_class(target)(), optimizer=JAX.provided_optimizer)
    return _jax_modes[key]


class jax_on_cpu:
    """For tests only: compile with the JAX back end on JAX's CPU device.

    ``with jax_on_cpu(): ...`` makes :mod:`sda.backend` act as with
    device=cuda, on a machine without a GPU: :func:`~sda.backend.compile_mode`
    and PyTensor's default mode (``pytensor.config.mode``) are the JAX mode
    for JAX's CPU device, :func:`~sda.backend.static_shapes` is true, and
    ``backend.device`` reads ``'jax-cpu'``; all are restored on exit.  Users
    cannot select this: their device=cuda refuses a CPU-only JAX.
    """

    def __enter__(self):
        import jax

        from . import backend

        self._saved = backend.device, backend.jax_device, backend.config.mode
        target = jax.devices("cpu")[0]
        backend.device, backend.jax_device = "jax-cpu", target
        backend.config.mode = jax_mode(target)
        return self

    def __exit__(self, *exc_info):
        from . import backend

        backend.device, backend.jax_device, backend.config.mode = self._saved
        return False
