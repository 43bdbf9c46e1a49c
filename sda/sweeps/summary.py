"""What a sweep found, for a person: one row per configuration over its seeds, the configuration
selected on validation error alone, as Markdown, CSV and a picture.

Only finished trials enter the statistics.  A trial stopped early by ASHA, or
failed, or not finished yet is counted beside them (its numbers are those of a
shorter run, not comparable), and a configuration with no finished trial is
listed without numbers and cannot be selected.
"""

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field

from ..errors import UsageError
from ..files import atomic_write
from .space import format_value


@dataclass
class Outcome:
    """How one trial (one seed of a configuration) ended."""

    seed: int
    status: str  # "finished", "stopped early", "failed" or "unfinished"
    validation: float = None  # best validation error, %
    test: float = None  # test error at the best validation, %
    minutes: float = None  # training (pretraining + finetuning)
    curve: list = field(default_factory=list)  # (finetuning epoch, validation error %) of every validation
    message: str = None  # why it failed


def spread(values):
    """``(mean, sample standard deviation or None for one value, min, max)`` of a list of numbers."""
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return mean, std, min(values), max(values)


@dataclass
class Row:
    """A configuration of the sweep (its varied flags) and the outcomes of its seeds."""

    varied: tuple  # (flag name, value) pairs
    outcomes: list
    folder: str = ""
    selected: bool = False

    @property
    def finished(self):
        return [o for o in self.outcomes if o.status == "finished"]

    def count(self, status):
        return sum(o.status == status for o in self.outcomes)

    def stats(self, what):
        """:func:`spread` of the finished seeds' ``what`` ("validation", "test", "minutes"), or None."""
        values = [getattr(o, what) for o in self.finished if getattr(o, what) is not None]
        return spread(values) if values else None

    @property
    def label(self):
        return " ".join(f"{name}={format_value(value)}" for name, value in self.varied) or "base configuration"


#: what a results.json's configuration holds beside the training itself: where and how a run was started
RUN_PLACEMENT = frozenset({"seed", "output_dir", "dataset", "resume", "progress", "overwrite", "checkpoint_every"})


def _flag(key):
    return key.replace("_", "-")


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def outcome_of_results(results):
    """The :class:`Outcome` of a finished run, from its ``results.json``."""
    return Outcome(results["config"]["seed"], "finished", results["best_validation_error_percent"],
                   results["test_error_percent"], results["pretraining_minutes"] + results["finetuning_minutes"],
                   [(h["epoch"], 100.0 * h["validation_error"]) for h in results["validation_history"]])


def rows_of_runs(folders):
    """One :class:`Row` per configuration among the finished runs in ``folders`` (each holding the
    ``results.json`` of a train_sda.py run, made by hand or by a sweep): runs that differ only in their seed
    (and in where they were written) share a row; the varied flags are those whose values differ between
    rows, ``floatX`` (from THEANO_FLAGS) and the number of training examples among them."""
    runs = []
    for folder in folders:
        path = os.path.join(folder, "results.json")
        try:
            with open(path) as f:
                results = json.load(f)
            config = results["config"]
            settings = {_flag(k): _hashable(v) for k, v in config.items() if k not in RUN_PLACEMENT}
            settings.update({"floatX": results["floatX"], "n-train": results["n_train_examples"]})
            runs.append((settings, outcome_of_results(results), folder))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise UsageError(f"{folder} holds no results.json: give the output directories of finished "
                             f"train_sda.py runs") from None
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"{path} is not the results.json of a train_sda.py run ({error!r}): give the "
                             f"output directories of finished runs") from None
    _refuse_runs_counted_twice(runs)
    names = sorted({name for settings, _, _ in runs for name in settings})
    varied = [name for name in names if len({settings.get(name) for settings, _, _ in runs}) > 1]
    rows = {}
    for settings, outcome, folder in runs:
        key = tuple((name, settings.get(name)) for name in varied)
        row = rows.setdefault(key, Row(key, [], folder))
        row.outcomes.append(outcome)
    return list(rows.values())


def _refuse_runs_counted_twice(runs):
    """A run given twice, or two runs of the same configuration and seed (the same numbers, the kernels being
    deterministic), would count as two seeds and shrink the spread."""
    seen = {}
    for settings, outcome, folder in runs:
        key = (tuple(sorted(settings.items())), outcome.seed)
        if key in seen:
            other = seen[key]
            if os.path.realpath(other) == os.path.realpath(folder):
                raise UsageError(f"{folder} is given twice: give each run once")
            raise UsageError(f"{other} and {folder} are the same configuration with the same seed "
                             f"({outcome.seed}): a seed counts once, give one of them")
        seen[key] = folder


def select(rows):
    """Marks the row of lowest mean validation error (finished seeds only; the first on a tie) as selected
    and returns it, or None when no configuration finished.  The test error plays no part."""
    candidates = [row for row in rows if row.stats("validation")]
    for row in rows:
        row.selected = False
    if not candidates:
        return None
    best = min(candidates, key=lambda row: row.stats("validation")[0])
    best.selected = True
    return best


def _mean_std(stats):
    if stats is None:
        return "—"
    mean, std, _, _ = stats
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def _min_max(stats):
    return "—" if stats is None else f"{stats[2]:.2f}–{stats[3]:.2f}"


def _seeds_cell(row):
    text = str(len(row.finished))
    others = [f"{row.count(status)} {status}" for status in ("stopped early", "failed", "unfinished")
              if row.count(status)]
    return f"{text} ({', '.join(others)})" if others else text


def markdown_table(rows):
    """The summary as a Markdown table (it also reads well in a terminal)."""
    names = [name for name, _ in rows[0].varied] if rows else []
    header = ["", *names, "seeds", "validation error (%)", "min–max", "test error (%)", "min–max", "minutes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        minutes = row.stats("minutes")
        cells = ["**selected**" if row.selected else "", *(format_value(v) for _, v in row.varied),
                 _seeds_cell(row), _mean_std(row.stats("validation")), _min_max(row.stats("validation")),
                 _mean_std(row.stats("test")), _min_max(row.stats("test")),
                 "—" if minutes is None else f"{minutes[0]:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def selection_sentence(rows):
    best = next((row for row in rows if row.selected), None)
    if best is None:
        if any(row.finished for row in rows):
            return ("No finished trial has a validation error (no finetuning epoch ran: --training-epochs 0?): "
                    "nothing to select.")
        return "No configuration finished a trial: nothing to select."
    validation, test = best.stats("validation"), best.stats("test")
    n = len(best.finished)
    return (f"Selected on validation error alone: {best.label} (validation {_mean_std(validation)} %, "
            f"test {_mean_std(test)} %, over {n} seed{'s' * (n != 1)}).")


CSV_COLUMNS = ["selected", "seeds", "stopped_early", "failed", "unfinished",
               "validation_mean", "validation_std", "validation_min", "validation_max",
               "test_mean", "test_std", "test_min", "test_max", "minutes_mean", "folder"]


def csv_text(rows):
    """One line per configuration: its varied flags, then :data:`CSV_COLUMNS` (errors in %, empty where
    there is no number)."""
    names = [name for name, _ in rows[0].varied] if rows else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*names, *CSV_COLUMNS])
    for row in rows:
        numbers = []
        for what in ("validation", "test"):
            stats = row.stats(what)
            numbers += ["" if v is None else repr(v) for v in (stats or (None,) * 4)]
        minutes = row.stats("minutes")
        writer.writerow([*(format_value(v) for _, v in row.varied), int(row.selected), len(row.finished),
                         row.count("stopped early"), row.count("failed"), row.count("unfinished"), *numbers,
                         "" if minutes is None else repr(minutes[0]), row.folder])
    return out.getvalue()


def write_summary(rows, output_dir, title):
    """``summary.md``, ``summary.csv`` and ``sweep.png`` in ``output_dir``; returns the Markdown text."""
    from ..plots import plot_sweep

    text = f"# {title}\n\n{markdown_table(rows)}\n\n{selection_sentence(rows)}\n"
    with atomic_write(os.path.join(output_dir, "summary.md"), "w") as f:
        f.write(text)
    with atomic_write(os.path.join(output_dir, "summary.csv"), "w") as f:
        f.write(csv_text(rows))
    plot_sweep(rows, os.path.join(output_dir, "sweep.png"))
    return text
