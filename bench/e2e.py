#!/usr/bin/env python
"""End to end: whole training runs of ``scripts/train_sda.py`` against plain eager PyTorch, alternating.

    python bench/e2e.py --batch-size 20 --n-train 20000 --pairs 3 --json e2e_b20.json
    python bench/e2e.py --batch-size 1 --n-train 20000 --pairs 3 --json e2e_b1.json
    python bench/e2e.py --ours-only --pairs 3                          # the full faithful run (every default)
    python bench/e2e.py --ours-only --ours-checkout /work/old --pairs 3  # the same, an older checkout's code
    python bench/e2e.py --baseline-checkout /work/old --pairs 3        # this checkout against an older one

Each run is a whole process, timed by the wall clock from start to exit: Python's start, imports, loading MNIST,
building the model, pretraining, finetuning with validation and test, writing results (``train_sda.py`` also
checks its kernels against the compiled graph and writes checkpoints, pictures and model.npz; that is part of
its time).  The two sides are

* ours: ``scripts/train_sda.py --no-progress`` of ``--ours-checkout`` (default: this one; ``PYTHONPATH`` set to
  it), its defaults unless a flag below is given, a fresh ``--output-dir`` per run, read back from its
  ``results.json``;
* the other: ``bench/torch_sda.py`` (the same work as a PyTorch user writes it: see its docstring) with the same
  settings, or with ``--baseline-checkout DIR`` that checkout's ``scripts/train_sda.py``.

They run in turn, ours first, ``--pairs`` times (ours, other, ours, other, ...), so that load from other
processes falls on both; each pair gives the ratio other / ours of the wall times (above 1: ours is faster) and
the table ends with the median ratio.  Peak memory is each process's own maximum resident set, from ``wait4``.
Before the timed runs each side runs once on a tiny problem (``--no-warm-up`` to skip), so that a Numba or
PyTensor cache left cold by a new checkout is not charged to the first pair: that is a one-time cost of an
install, not of a run.

Without torch (``--torch-python`` cannot import it) the PyTorch side is left out with a note, as
``bench/benchmark.py`` does, and only ours is timed.  This script imports neither ``sda`` nor ``torch``: each
child starts from the environment it was given.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# settings passed to both sides (flag name = train_sda.py's = torch_sda.py's); unset: each side's default,
# the tutorial's (tests/test_benchmark.py checks that the two agree)
SETTINGS = ("batch_size", "n_train", "pretraining_epochs", "training_epochs", "hidden_layers", "corruption_levels")


class BadInput(Exception):
    """A mistake of the user's: one line on stderr, exit code 2."""


class RunFailed(Exception):
    """A timed run exited with an error: the benchmark stops (its figures would mean nothing)."""


def log(message):
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- one run

def timed_run(command, env, cwd, name):
    """Runs ``command`` to its end; returns its wall time (s), peak resident memory (MB) and stdout.

    ``wait4`` gives the child's own resource use (its ``ru_maxrss``, KiB on Linux, is the largest resident set
    of that process and of the children it waited for), not the sum over every child this process ever had as
    ``getrusage(RUSAGE_CHILDREN)`` would.  Output goes to files, not pipes: a long run's output cannot fill a
    pipe and stall it."""
    out_path, err_path = os.path.join(cwd, "stdout.txt"), os.path.join(cwd, "stderr.txt")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait again
    with open(out_path) as f:
        stdout = f.read()
    if process.returncode != 0:
        with open(err_path) as f:
            tail = [line for line in f.read().splitlines() if line.strip()][-1:] or ["(no output)"]
        raise RunFailed(f"{name} exited with code {process.returncode}: {tail[0]}")
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0, "exit_code": process.returncode}, stdout


def setting_flags(settings):
    """The command-line flags of the settings that were given."""
    flags = []
    for name, value in settings.items():
        if value is not None:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            flags += [f"--{name.replace('_', '-')}", text]
    return flags


class Ours:
    """``scripts/train_sda.py`` of a checkout: its results.json gives phases, errors and the float type."""

    def __init__(self, checkout, python, name="ours"):
        self.checkout, self.python, self.name = os.path.abspath(checkout), python, name
        self.script = os.path.join(self.checkout, "scripts", "train_sda.py")
        if not os.path.isfile(self.script):
            raise BadInput(f"{checkout} has no scripts/train_sda.py: give the root of a checkout of this project")

    def run(self, settings, dataset, floatx, workdir):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.checkout, env.get("PYTHONPATH")]))
        # PYTENSOR_FLAGS has the last word over THEANO_FLAGS and .theanorc (sda.flags), and the last value wins
        env["PYTENSOR_FLAGS"] = ",".join(filter(None, [env.get("PYTENSOR_FLAGS"), f"floatX={floatx}"]))
        output = os.path.join(workdir, "run")
        command = [self.python, self.script, "--no-progress", "--dataset", dataset, "--output-dir", output,
                   *setting_flags(settings)]
        record, _ = timed_run(command, env, workdir, self.name)
        try:
            with open(os.path.join(output, "results.json")) as f:
                results = json.load(f)
        except (OSError, ValueError) as e:
            raise RunFailed(f"{self.name} finished without a readable results.json ({e})") from None
        if results.get("floatX", floatx) != floatx:
            raise RunFailed(f"{self.name} ran in {results['floatX']}, not {floatx}: check PYTENSOR_FLAGS")
        return {**record, **{k: results.get(k) for k in (
            "pretraining_minutes", "finetuning_minutes", "best_validation_error_percent", "test_error_percent",
            "finetune_epochs", "floatX", "engine")},
            # phases the kernels left to the compiled functions (an edited model): slower, and to be said
            "compiled_fallbacks": results.get("compiled_fallbacks", [])}


class Torch:
    """``bench/torch_sda.py``: its last line on stdout is a JSON of phases, errors and its own peak memory."""

    name = "torch"

    def __init__(self, python, cache_layer_inputs, threads=None):
        self.python, self.cache_layer_inputs, self.threads = python, cache_layer_inputs, threads
        self.version = None

    def available(self):
        """torch's version, or None when the interpreter cannot import it."""
        try:
            found = subprocess.run([self.python, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            return None
        self.version = found.stdout.strip() if found.returncode == 0 else None
        return self.version

    def run(self, settings, dataset, floatx, workdir):
        command = [self.python, os.path.join(HERE, "torch_sda.py"), "--dataset", dataset, "--floatx", floatx,
                   *setting_flags(settings), *(["--cache-layer-inputs"] if self.cache_layer_inputs else []),
                   *(["--threads", str(self.threads)] if self.threads else [])]
        record, stdout = timed_run(command, dict(os.environ), workdir, self.name)
        try:
            results = json.loads(stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RunFailed(f"{self.name} finished without its JSON line on stdout") from None
        return {**record, **{k: results.get(k) for k in (
            "pretraining_minutes", "finetuning_minutes", "best_validation_error_percent", "test_error_percent",
            "finetune_epochs", "floatX", "threads", "cache_layer_inputs")},
            "own_peak_rss_mb": results.get("peak_rss_mb")}


# ----------------------------------------------------------------------------------------------- the benchmark

def warm_up_settings(settings):
    """A tiny run with the same batch size, float type and number of layers (what the kernels are compiled for)."""
    layers = len(settings["hidden_layers"]) if settings["hidden_layers"] else 3
    batch = settings["batch_size"] or 1
    n_train = max(100, batch) if settings["n_train"] is None else min(settings["n_train"], max(100, batch))
    return {**settings, "n_train": n_train, "pretraining_epochs": 1, "training_epochs": 1,
            "hidden_layers": [10] * layers}


def one_run(side, settings, a, what):
    workdir = tempfile.mkdtemp(prefix=f"e2e-{side.name}-", dir=a.work_dir)
    try:
        load = os.getloadavg()[0]
        log(f"{what}: {side.name} ...")
        record = side.run(settings, a.dataset, a.floatx, workdir)
        record["load_1min_at_start"] = load
        log(f"{what}: {side.name} {record['wall_s']:.1f} s, peak {record['peak_rss_mb']:.0f} MB")
        return record
    finally:
        if not a.keep_runs:
            shutil.rmtree(workdir, ignore_errors=True)


def benchmark(sides, settings, a):
    """{"warm_up": {side: record}, "runs": [[record per side] per pair]}, the sides alternating."""
    report = {"warm_up": {}, "runs": []}
    if a.warm_up:
        for side in sides:
            report["warm_up"][side.name] = one_run(side, warm_up_settings(settings), a, "warm-up")
    for pair in range(a.pairs):
        report["runs"].append([one_run(side, settings, a, f"pair {pair + 1}/{a.pairs}") for side in sides])
    return report


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def errors(r):
    v, t = r.get("best_validation_error_percent"), r.get("test_error_percent")
    return "-" if v is None else f"{v:.2f}/{t:.2f}"


def print_table(report, names):
    """Per run: wall time, phase minutes, errors, peak memory; per pair the ratio; the median ratio."""
    c = report["config"]
    shown = {k: c[k] if c[k] is not None else "default" for k in SETTINGS}
    print(f"end to end: whole processes, wall clock; {' and '.join(names)} alternating, {len(report['runs'])} "
          f"pair(s); {c['cpu']}, {c['cpus']} cpus, load average {c['load_average_at_start'][0]:.2f} at the start")
    print("settings: " + ", ".join(f"{k.replace('_', ' ')} {v if not isinstance(v, list) else ','.join(map(str, v))}"
                                   for k, v in shown.items()) + f", {c['floatx']}, data {c['dataset']}")
    if "torch" in names:
        print(f"torch {c['torch']}, {report['runs'][0][1].get('threads')} threads, lower layers "
              f"{'cached once per layer' if c['cache_layer_inputs'] else 'recomputed at every minibatch'} "
              f"when pretraining layer k > 0 (ours caches them)")
    for i, name in enumerate(names):
        engines = {r["engine"] for runs in report["runs"] for r in runs[i:i + 1] if "engine" in r}
        fallbacks = {f for runs in report["runs"] for r in runs[i:i + 1] for f in r.get("compiled_fallbacks") or []}
        if engines:
            print(f"{name}: engine {', '.join(sorted(map(str, engines)))}"
                  + (f"; phases on the compiled functions: {', '.join(sorted(map(str, fallbacks)))}" if fallbacks
                     else ""))
    head = f"{'pair':>4} " + " ".join(f"{n + ' wall s':>13} {'pre+fine min':>13} {'val/test %':>11} {'peak MB':>8}"
                                      for n in names)
    if len(names) == 2:
        head += f" {names[1] + '/' + names[0]:>12}"
    print(head + f" {'load':>5}")
    for i, runs in enumerate(report["runs"]):
        cells = [f"{r['wall_s']:13.1f} {r['pretraining_minutes'] or 0:6.2f}+{r['finetuning_minutes'] or 0:<6.2f} "
                 f"{errors(r):>11} {r['peak_rss_mb']:8.0f}" for r in runs]
        ratio = f" {report['ratios'][i]:12.2f}" if len(names) == 2 else ""
        print(f"{i + 1:4d} " + " ".join(cells) + ratio + f" {runs[0]['load_1min_at_start']:5.2f}")
    if len(names) == 2:
        print(f"median {names[1]}/{names[0]}: {report['median_ratio']:.2f} (above 1: {names[0]} is faster)")
    else:
        print(f"median {names[0]} wall: {report['median_wall_s'][names[0]]:.1f} s")


def parser():
    class Parser(argparse.ArgumentParser):
        def error(self, message):  # one line, not argparse's usage
            self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def layers(text):
        try:
            return [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None

    def levels(text):
        try:
            return [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None

    p = Parser(prog="e2e.py", description=__doc__.split("\n")[0])
    g = p.add_argument_group("settings, passed to both sides (unset: the tutorial's defaults)")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--n-train", type=int, help="the first N training examples (default: all 50 000)")
    g.add_argument("--pretraining-epochs", type=int)
    g.add_argument("--training-epochs", type=int, help="most finetuning epochs (early stopping ends sooner)")
    g.add_argument("--hidden-layers", type=layers)
    g.add_argument("--corruption-levels", type=levels, help="one per hidden layer")
    p.add_argument("--floatx", choices=["float32", "float64"], default="float32",
                   help="float type of both sides (ours through PYTENSOR_FLAGS)")
    p.add_argument("--dataset", default=os.environ.get("SDA_DATA", os.path.join(os.path.dirname(ROOT), "shared",
                                                                                  "data", "mnist")),
                   help="a folder of the four MNIST IDX files (default: $SDA_DATA, else ../shared/data/mnist)")
    p.add_argument("--pairs", type=int, default=3, help="runs of each side, alternating")
    p.add_argument("--ours-only", action="store_true", help="time ours alone (--pairs runs)")
    p.add_argument("--ours-checkout", default=ROOT, help="the checkout whose train_sda.py is ours")
    p.add_argument("--baseline-checkout", help="time this checkout's train_sda.py as the other side, not torch")
    p.add_argument("--cache-layer-inputs", action="store_true",
                   help="torch_sda.py computes the lower layers once per layer, as ours does")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch.set_num_threads of torch_sda.py (default: the CPUs it may use, as bench/torch_steps.py "
                        "is run; 1 shows how much of a ratio measured under load is PyTorch's threads waiting "
                        "for each other)")
    p.add_argument("--python", default=sys.executable, help="the interpreter of ours (default: this one)")
    p.add_argument("--baseline-python", default=None,
                   help="the interpreter of --baseline-checkout (default: --python); an older checkout may need "
                        "its own environment (b364ad0's kernels need scipy-openblas32)")
    p.add_argument("--torch-python", default=sys.executable, help="the interpreter of torch_sda.py")
    p.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="no untimed tiny run first")
    p.add_argument("--work-dir", default=None, help="where the runs' output folders go (default: a temp dir)")
    p.add_argument("--keep-runs", action="store_true", help="keep each run's output folder")
    p.add_argument("--json", help="write every figure to this file")
    return p


def check(a):
    for flag in ("batch_size", "n_train", "pairs", "torch_threads"):
        if getattr(a, flag) is not None and getattr(a, flag) < 1:
            raise BadInput(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(a, flag)}")
    for flag in ("pretraining_epochs", "training_epochs"):
        if getattr(a, flag) is not None and getattr(a, flag) < 0:
            raise BadInput(f"--{flag.replace('_', '-')} must be 0 or more, got {getattr(a, flag)}")
    if a.hidden_layers is not None and (not a.hidden_layers or min(a.hidden_layers) < 1):
        raise BadInput(f"--hidden-layers needs positive sizes, got {a.hidden_layers}")
    n_layers = len(a.hidden_layers) if a.hidden_layers is not None else 3
    n_levels = len(a.corruption_levels) if a.corruption_levels is not None else 3
    if n_layers != n_levels:
        raise BadInput(f"{n_layers} hidden layers but {n_levels} corruption levels: give --corruption-levels, "
                       f"one per layer (the tutorial's are 0.1,0.2,0.3 for three)")
    if a.ours_only and a.baseline_checkout:
        raise BadInput("--ours-only and --baseline-checkout exclude each other")
    if a.baseline_python and not a.baseline_checkout:
        raise BadInput("--baseline-python is the interpreter of --baseline-checkout: give --baseline-checkout too")
    if not os.path.isdir(a.dataset):
        raise BadInput(f"--dataset {a.dataset} is not a folder: give the folder of the four MNIST IDX files")
    if a.work_dir and not os.path.isdir(a.work_dir):
        raise BadInput(f"--work-dir {a.work_dir} is not a folder")


def sides_for(a):
    ours = Ours(a.ours_checkout, a.python)
    if a.ours_only:
        return [ours], None
    if a.baseline_checkout:
        return [ours, Ours(a.baseline_checkout, a.baseline_python or a.python, name="baseline")], None
    torch = Torch(a.torch_python, a.cache_layer_inputs, a.torch_threads)
    if torch.available() is None:
        log(f"torch: {a.torch_python} cannot import torch; timing ours only")
        return [ours], None
    return [ours, torch], torch.version


def main(argv=None):
    a = parser().parse_args(argv)
    try:
        check(a)
        sides, torch_version = sides_for(a)
    except BadInput as e:
        print(f"e2e.py: error: {e}", file=sys.stderr)
        return 2
    settings = {k: getattr(a, k) for k in SETTINGS}
    a.dataset = os.path.abspath(a.dataset)
    names = [side.name for side in sides]
    config = {**vars(a), "sides": names, "torch": torch_version, "cpu": cpu_name(), "cpus": os.cpu_count(),
              "load_average_at_start": os.getloadavg(), "python": platform.python_version()}
    try:
        report = {"config": config, **benchmark(sides, settings, a)}
    except RunFailed as e:
        print(f"e2e.py: {e}", file=sys.stderr)
        return 1
    report["config"]["load_average_at_end"] = os.getloadavg()
    report["median_wall_s"] = {n: statistics.median(runs[i]["wall_s"] for runs in report["runs"])
                               for i, n in enumerate(names)}
    if len(sides) == 2:
        report["ratios"] = [runs[1]["wall_s"] / runs[0]["wall_s"] for runs in report["runs"]]
        report["median_ratio"] = statistics.median(report["ratios"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    print_table(report, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
