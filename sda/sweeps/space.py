"""What a sweep runs: a base configuration, a search space over ``train_sda.py``'s
own flags, and seeds -- expanded into configurations and checked before any work.

A search space is written on the command line as dimensions, each a flag of
``train_sda.py`` (without its dashes) followed by the values to try, each value
written exactly as it would follow that flag::

    --grid finetune-lr 0.1 0.05                      # every value, with every value of the other --grid flags
    --grid corruption-levels 0.1,0.2,0.3 0.2,0.3,0.4
    --choice pretrain-lr 0.001 0.003 0.01            # one value drawn at random for each of --samples draws
    --seeds 5                                        # each configuration with seeds --seed, --seed + 1, ... (5)

The values are parsed by ``train_sda.py``'s own parser, so a sweep accepts
exactly what a run accepts, and each configuration is checked by
:meth:`~sda.configs.SdAConfig.validate` before Ray starts: a mistake is one
line, not a failed trial an hour later.

A *configuration* is everything but the seed.  It is identified by the values
of its varied flags (for people) and a digest of all its settings (so that a
sweep run again with other base flags never reuses the trials of another).
"""

import hashlib
import itertools
import json
import os
import random
import re
from dataclasses import dataclass, field

from ..configs import FINETUNING_KEYS, SdAConfig, check_seed, result_keys
from ..errors import UsageError

#: the flags of train_sda.py that a sweep sets itself or that change no number, and why they cannot vary
FIXED_FLAGS = {
    "seed": "give the seeds with --seeds",
    "output_dir": "the sweep puts every trial in a folder of its own under its --output-dir",
    "resume": "a sweep run again with the same command continues by itself",
    "overwrite": "a sweep never replaces a finished trial: give another --output-dir to start over",
    "progress": "trials draw no progress bars; the sweep prints a line per finished trial",
    "checkpoint_every": "it changes no number",
    "eval_batch_size": "it changes no number",
    "help": "",
}

#: the fields of SdAConfig that each trial sets for itself
PER_TRIAL = ("seed", "output_dir", "resume", "overwrite", "progress")


def option_actions(parser):
    """``{"--flag": argparse action}`` of every option of ``parser``."""
    return {option: action for action in parser._actions for option in action.option_strings
            if option.startswith("--")}


def format_value(value):
    """A flag's value as it is written on a command line (and in folder names): ``0.05``, ``1000,1000``."""
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Dimension:
    """One flag of a search space and the values it takes."""

    name: str  # the flag without its dashes, as the user wrote it: "finetune-lr"
    dest: str  # SdAConfig's field: "finetune_lr"
    values: tuple


def parse_dimension(parser, kind, words):
    """A :class:`Dimension` from ``--grid``/``--choice``'s words ``[name, value, ...]``,
    each value parsed by ``parser`` (``train_sda.py``'s) as it parses that flag."""
    name, texts = words[0], words[1:]
    where = f"{kind} {name}"
    flag = f"--{name}"
    action = option_actions(parser).get(flag)
    if action is None:
        known = sorted(option[2:] for option, a in option_actions(parser).items()
                       if a.dest not in FIXED_FLAGS and a.nargs != 0)
        raise UsageError(f"{where}: train_sda.py has no flag {flag}; a sweep varies one of: {', '.join(known)}")
    if action.dest in FIXED_FLAGS:
        raise UsageError(f"{where}: {flag} cannot be varied: {FIXED_FLAGS[action.dest] or 'it is not a setting'}")
    if action.nargs == 0:
        raise UsageError(f"{where}: {flag} takes no value, so it cannot be varied: put it among the base flags "
                         f"(it then holds for every trial) or leave it out")
    if not texts:
        default = parser.get_default(action.dest)
        example = "" if default is None else f", e.g. {kind} {name} {format_value(default)}"
        raise UsageError(f"{where}: no value to try: list one or more after the flag's name{example}")
    values = []
    for text in texts:
        value = getattr(parser.parse_args([flag, text]), action.dest)  # a bad value: the parser's own one line
        if value in values:
            raise UsageError(f"{where}: {text} is given twice")
        values.append(value)
    return Dimension(name, action.dest, tuple(values))


def parse_seeds(text, base_seed):
    """``--seeds``: ``N`` (N seeds from ``base_seed`` up) or ``S1,S2,...`` (those seeds)."""
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--seeds takes a number of seeds (5) or a list of seeds (89677,42,7), got {text!r}") \
            from None
    if len(numbers) == 1:
        if numbers[0] < 1:
            raise UsageError(f"--seeds {text}: give at least one seed")
        seeds = [base_seed + i for i in range(numbers[0])]
    else:
        seeds = numbers
        if len(set(seeds)) != len(seeds):
            raise UsageError(f"--seeds {text}: a seed is given twice")
    for seed in seeds:
        check_seed(seed)
    return seeds


@dataclass
class Configuration:
    """Everything a trial runs but its seed and folder.

    :param varied: ``(flag name, value)`` of each varied flag, in the order the search space gives them
    :param settings: the :class:`~sda.configs.SdAConfig` fields (no seed, no output folder)
    """

    varied: tuple
    settings: dict = field(repr=False)

    @property
    def label(self):
        """The varied flags as a person reads them: ``finetune-lr=0.05 pretrain-lr=0.01``."""
        return " ".join(f"{name}={format_value(value)}" for name, value in self.varied) or "base configuration"

    @property
    def digest(self):
        """8 hex digits of every setting that changes the numbers (the data's location too)."""
        keys = result_keys(SdAConfig(**self.settings))
        keys.pop("seed", None)
        keys["dataset"] = self.settings["dataset"]
        return hashlib.sha1(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:8]

    @property
    def folder_name(self):
        """``finetune-lr=0.05_pretrain-lr=0.01_1a2b3c4d``: readable, and unique through the digest."""
        readable = "_".join(f"{name}={format_value(value)}" for name, value in self.varied) or "config"
        readable = re.sub(r"[^A-Za-z0-9.,=+_-]", "-", readable)[:120]
        return f"{readable}_{self.digest}"

    def run_config(self, seed, output_dir):
        return SdAConfig(**self.settings, seed=seed, output_dir=output_dir, progress=False)


def absolute_dataset(path):
    """The dataset's absolute location: trials run in other folders, maybe on other machines."""
    from ..data.datasets import resolve_dataset

    return os.path.abspath(resolve_dataset(path))


def expand(base, grid=(), choice=(), samples=1, search_seed=0):
    """The configurations of a search space, in a fixed order (the same every time the command is run).

    Every combination of the ``grid`` dimensions' values, each with ``samples``
    draws of the ``choice`` dimensions (one value each, uniformly, from a
    generator seeded with ``search_seed``); a draw that repeats an earlier
    configuration is left out.

    :param base: the base configuration, as :class:`~sda.configs.SdAConfig` fields
    """
    if samples < 1:
        raise UsageError(f"--samples must be at least 1, got {samples}")
    if samples > 1 and not choice:
        raise UsageError(f"--samples {samples} draws values of the --choice flags, but there is none: "
                         f"add --choice FLAG VALUE ... or drop --samples")
    names = [d.name for d in (*grid, *choice)]
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"{name} is given twice in the search space: list all its values in one --grid "
                             f"or --choice")
    rng = random.Random(search_seed)
    configurations, seen = [], set()
    for point in itertools.product(*(d.values for d in grid)):
        for _ in range(samples):
            drawn = [rng.choice(d.values) for d in choice]
            varied = tuple((d.name, v) for d, v in zip((*grid, *choice), (*point, *drawn)))
            settings = {k: v for k, v in base.items() if k not in PER_TRIAL}
            settings.update({d.dest: v for d, v in zip((*grid, *choice), (*point, *drawn))})
            settings["dataset"] = absolute_dataset(settings.get("dataset"))
            if settings.get("pretrained_from"):
                settings["pretrained_from"] = os.path.abspath(settings["pretrained_from"])
            configuration = Configuration(varied, settings)
            if configuration.digest not in seen:
                seen.add(configuration.digest)
                configurations.append(configuration)
    return configurations


def check_configurations(configurations, seeds):
    """Each configuration as :class:`~sda.configs.SdAConfig` checks a run's, before any trial starts."""
    for configuration in configurations:
        config = configuration.run_config(seeds[0], "unused")
        try:
            config.validate()
        except UsageError as error:
            where = f"configuration {configuration.label}: " if configuration.varied else ""
            raise UsageError(f"{where}{error}") from None
        if config.training_epochs < 1:
            raise UsageError("--training-epochs 0: a sweep compares validation errors, so every trial needs at "
                             "least one finetuning epoch")
        if config.pretrained_from:
            check_pretrained(configuration, seeds)


def check_pretrained(configuration, seeds):
    """Every trial of a configuration with ``--pretrained-from`` must be one that run would have pretrained: the
    same flags but for the finetuning's, and its seed."""
    from ..checkpoint import differing_settings, pretrained_config, pretrained_snapshot

    path = pretrained_snapshot(configuration.run_config(seeds[0], "unused").pretrained_from)
    pretrained = pretrained_config(path)
    for seed in seeds:
        now = result_keys(configuration.run_config(seed, "unused"))
        # the keys only one side has (the engine's settings and versions, which only the run knows) are
        # compared by the run itself
        differing = differing_settings(pretrained, now, ignore={*FINETUNING_KEYS, *(set(pretrained) ^ set(now))})
        if differing:
            key = differing[0]
            where = f"configuration {configuration.label}: " if configuration.varied else ""
            raise UsageError(f"{where}--pretrained-from: {path} was pretrained with {key} {pretrained[key]!r}, "
                             f"not {now[key]!r}: a sweep from pretrained layers varies only --finetune-lr, "
                             f"--finetune-lr-decay and --training-epochs, with the pretrained run's seed")


def refuse_fixed_base_flags(base, defaults):
    """The base flags that a sweep sets itself (``--resume``, ``--overwrite``, ``--progress``) are refused."""
    for dest in ("resume", "overwrite", "progress"):
        if base.get(dest) != defaults.get(dest):
            flag = "--progress/--no-progress" if dest == "progress" else f"--{dest}"
            raise UsageError(f"{flag} is not a sweep flag: {FIXED_FLAGS[dest]}")


def refuse_flags_given_twice(base_argv, dimensions):
    """A flag is a base flag or a dimension of the search space, not both (which value would hold?)."""
    for dimension in dimensions:
        flag = f"--{dimension.name}"
        if any(word == flag or word.startswith(flag + "=") for word in base_argv):
            raise UsageError(f"{flag} is given as a base flag and varied in the search space: give it in one "
                             f"place")


def check_data(configurations):
    """Reads every dataset the configurations use, as a trial will (MNIST is downloaded here when missing,
    once, rather than by every trial at the same time), and checks each configuration against it as a run
    does (sizes, labels, batch size): bad data is one line before any trial starts."""
    from ..configs import check_arrays_fit
    from ..data import load_mnist_arrays

    by_data = {}
    for configuration in configurations:
        s = configuration.settings
        by_data.setdefault((s["dataset"], s["n_train"], s["rescale"]), []).append(s)
    for (dataset, n_train, rescale), settings in by_data.items():  # one dataset in memory at a time
        arrays = load_mnist_arrays(dataset, n_train=n_train, rescale=rescale)
        for s in settings:
            check_arrays_fit(arrays, s["n_ins"], s["n_outs"], s["batch_size"])
