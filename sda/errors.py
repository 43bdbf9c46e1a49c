"""Errors a user can fix.

Everything the user can put right (a wrong path, a bad flag value, a damaged data
file) raises a :class:`UserError`.  The scripts catch it and print its message as
one line on stderr, with no traceback, then exit with ``exit_code``:
2 for usage errors (flags, configuration), 1 for runtime failures (data, disk).
"""


class UserError(Exception):
    """A problem the user can fix; ``str(error)`` is the one line they see."""

    exit_code = 1
    prefix = "error"


class UsageError(UserError):
    """A command-line flag, THEANO_FLAGS key or configuration value is invalid."""

    exit_code = 2


class ConfigError(UsageError):
    """THEANO_FLAGS / .theanorc / PYTENSOR_FLAGS ask for something impossible."""


class DataError(UserError):
    """The dataset is missing, damaged or does not fit the model."""


class ValuesOutOfRange(DataError):
    """The inputs x are not in [0, 1]; ``where`` names the set, ``low`` and ``high`` its range (a script other
    than a training one gives its own advice: only training has --rescale to choose)."""

    def __init__(self, where, low, high):
        self.where, self.low, self.high = where, low, high
        super().__init__(f"{where} holds values from {low} to {high}, expected pixels in [0, 1] (the cross-entropy "
                         "cost needs them there): scale them yourself (e.g. divide by 255), or pass --rescale to "
                         "map the training set's range onto [0, 1]")


class TrainingError(UserError):
    """Training cannot go on (e.g. the cost became NaN)."""


class RunInterrupted(UserError):
    """SIGINT/SIGTERM stopped a run after writing a checkpoint."""

    prefix = "stopped"

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code
