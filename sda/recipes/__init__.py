"""The training procedures of the scripts, each a short recipe over a :class:`~sda.run.ResumableRun`:
:func:`run_sda` (``train_sda.py``, the tutorial's ``test_SdA``) and :func:`run_da`
(``train_da.py``, the tutorial's ``test_dA``)."""

from .train_da import run_da
from .train_sda import run_sda

__all__ = ["run_da", "run_sda"]
