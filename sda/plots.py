"""Pictures of a run: learning curves, confusion matrices (matplotlib)."""

import os

from .errors import UsageError


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plots need matplotlib: pip install -e '.[plots]'") from None
    # files only, no screen needed; but in a notebook keep its inline back end, so that a learner's own plots show
    if "inline" not in os.environ.get("MPLBACKEND", ""):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Writes ``fig`` as a PNG atomically (a full disk or a vanished folder: one line, the old file intact)."""
    from .files import atomic_write

    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)


def whole_epochs(*axes):
    """Ticks at whole epochs only (a short run would otherwise get epoch 1.25)."""
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_confusion(matrix, path, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.4))
    image = ax.imshow(matrix, cmap="Blues")
    n = len(matrix)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=7,
                    color="white" if matrix[i][j] > 0.5 * max(map(max, matrix)) else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_learning_curves(results, path):
    """Pretraining cost per epoch of each layer; validation and test error per finetuning epoch."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for layer, costs in enumerate(results.get("pretraining_costs", [])):
        left.plot(range(1, len(costs) + 1), costs, marker="o", markersize=3, label=f"layer {layer}")
    left.set_xlabel("pretraining epoch")
    left.set_ylabel("reconstruction cross-entropy")
    left.set_title("Pretraining")
    if results.get("pretraining_costs"):
        left.legend()
    history = results.get("validation_history", [])
    epochs = [h["epoch"] for h in history]
    right.plot(epochs, [100 * h["validation_error"] for h in history], marker="o", markersize=3,
               label="validation error")
    tested = [h for h in history if h.get("test_error") is not None]
    right.plot([h["epoch"] for h in tested], [100 * h["test_error"] for h in tested], marker="s", markersize=3,
               linestyle="none", label="test error (at new best validation)")
    right.set_xlabel("finetuning epoch")
    right.set_ylabel("error (%)")
    right.set_title("Finetuning")
    right.legend()
    whole_epochs(left, right)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_finetuning_comparison(runs, path):
    """Finetuning of several runs side by side: the mean training cost (left)
    and the validation error (right) of each finetuning epoch, one line per
    run, labelled with its test error at the best validation.

    :param runs: ``{label: results}``, each as :func:`sda.recipes.run_sda` returns them
    :returns: ``path``
    """
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, results in runs.items():
        history = results.get("validation_history", [])
        epochs = [h["epoch"] for h in history]
        if results.get("test_error_percent") is not None:
            label = f"{label} (test error {results['test_error_percent']:.2f} %)"
        left.plot(epochs, [h["train_cost"] for h in history], marker="o", markersize=3, label=label)
        right.plot(epochs, [100 * h["validation_error"] for h in history], marker="o", markersize=3, label=label)
    left.set_xlabel("finetuning epoch")
    left.set_ylabel("training cost (negative log-likelihood)")
    left.set_title("Finetuning cost")
    left.legend()  # the costs fall towards 0, leaving the upper right free
    right.set_xlabel("finetuning epoch")
    right.set_ylabel("validation error (%)")
    right.set_title("Validation error")
    whole_epochs(left, right)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_sweep(rows, path):
    """A sweep at a glance (:mod:`sda.sweeps.summary`'s rows): left, the test error of every finished seed of
    each configuration with their mean and standard deviation, the selected configuration in colour; right, the
    validation error per finetuning epoch of the selected configuration's seeds."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [max(len(rows), 2), 3]})
    for x, row in enumerate(rows):
        colour = "tab:red" if row.selected else "tab:blue"
        tests = [o.test for o in row.finished if o.test is not None]
        left.plot([x] * len(tests), tests, "o", color=colour, alpha=0.5, markersize=4)
        stats = row.stats("test")
        if stats:
            left.errorbar([x], [stats[0]], yerr=[[stats[1] or 0.0]], fmt="_", color=colour, markersize=16,
                          capsize=5)
    left.set_xticks(range(len(rows)))
    left.set_xticklabels([row.label.replace(" ", "\n") for row in rows], fontsize=7,
                         rotation=0 if len(rows) <= 4 else 60, ha="center" if len(rows) <= 4 else "right")
    left.set_xlim(-0.5, len(rows) - 0.5)
    left.set_ylabel("test error (%)")
    left.set_title("Test error per configuration (dots: seeds; bar: mean ± std)")
    selected = next((row for row in rows if row.selected), None)
    if selected is not None:
        for outcome in selected.finished:
            epochs, errors = zip(*outcome.curve) if outcome.curve else ((), ())
            right.plot(epochs, errors, marker="o", markersize=3, label=f"seed {outcome.seed}")
        right.legend(fontsize=8)
        right.set_title(f"Selected on validation: {selected.label}", fontsize=9)
    right.xaxis.get_major_locator().set_params(integer=True)
    right.set_xlabel("finetuning epoch")
    right.set_ylabel("validation error (%)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
