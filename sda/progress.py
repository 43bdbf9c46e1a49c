"""A progress bar inside each epoch (tqdm on stderr): minibatches done, running cost, ETA.

The tutorial's log lines stay on stdout, unchanged; the bar only appears on
stderr when it is a terminal, or when asked for (``--progress``).
"""

import sys


class EpochBars:
    """Makes one bar per epoch; ``enabled=None`` means "if stderr is a terminal"."""

    def __init__(self, enabled=None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled

    def epoch(self, description, total, initial=0):
        if not self.enabled:
            return NO_BAR
        from tqdm import tqdm

        return Bar(tqdm(total=total, initial=initial, desc=description, file=self.stream, unit="mb",
                        leave=False, dynamic_ncols=True, mininterval=0.5))


class Bar:
    def __init__(self, bar):
        self.bar = bar
        self.total_cost = 0.0
        self.count = 0

    def update(self, costs):
        """``costs``: the minibatches' costs of one runner call (a list, or the kernels' array)."""
        if len(costs):
            self.total_cost += float(sum(costs))
            self.count += len(costs)
            self.bar.set_postfix_str(f"cost {self.total_cost / self.count:.4f}", refresh=False)
            self.bar.update(len(costs))

    def close(self):
        self.bar.close()


class _NoBar:
    def update(self, costs):
        pass

    def close(self):
        pass


NO_BAR = _NoBar()
