"""``train_da.py``'s procedure: the tutorial's ``test_dA`` as a resumable run."""

import os
from dataclasses import asdict

import numpy

from ..checkpoint import data_fingerprint
from ..configs import DAConfig, check_fits_in_memory, result_keys
from ..errors import UsageError
from ..files import write_json
from ..progress import EpochBars
from ..run import ResumableRun, Stopwatch, log_time
from .metadata import numbers_settings, run_metadata


def run_da(config, script="train_da.py", resume_command=None, stop_after_minibatches=None):
    """One dA per corruption level, with a picture of its filters (the tutorial's
    ``test_dA``) and one of its reconstructions of masked test digits;
    checkpoints, interrupts and resumes like :func:`~sda.recipes.run_sda`."""
    config.validate()
    from ..backend import device
    from ..engines import resolve

    engine = resolve(config.engine, device)
    with ResumableRun(config.output_folder, "da",
                      {**result_keys(config), **numbers_settings(engine, config.batch_size)},
                      defaults=result_keys(DAConfig()),
                      flag="--output-folder", resume=config.resume, checkpoint_every=config.checkpoint_every,
                      resume_command=resume_command, stop_after_minibatches=stop_after_minibatches,
                      outputs=("filters_corruption_*.png", "reconstructions_corruption_*.png"),
                      overwrite=config.overwrite) as run:
        return _train_da(run, config, engine, script)


def _train_da(run, config, engine, script):
    from ..backend import T, floatX
    from ..engines import LoneDA
    from ..data import image_shape_for, load_data
    from ..minibatches import n_batches
    from ..model_io import SharedValues
    from ..pictures import first_of_each_class, reconstructions_image, save_filters
    from ..random_streams import RandomStreams
    from ..training import EpochProgress, train_epochs
    from ..tutorial.dA import dA

    datasets = load_data(config.dataset, n_train=config.n_train, rescale=config.rescale)
    train_set_x = datasets[0][0]
    n_examples, n_visible = train_set_x.get_value(borrow=True).shape
    if config.batch_size > n_examples:
        raise UsageError(f"--batch-size {config.batch_size} is larger than the training set ({n_examples} "
                         f"examples): use a smaller batch")
    check_fits_in_memory(f"a dA of {config.n_hidden} hidden units on {n_visible} inputs",
                         4 * n_visible * config.n_hidden * numpy.dtype(floatX).itemsize, "use a smaller --n-hidden")
    img_shape = image_shape_for(n_visible, datasets.image_shape)  # the data's (rows, cols), else square, else a row
    # digits the dAs never trained on, one of each class
    test_x, test_y = (shared.get_value(borrow=True) for shared in datasets[2])
    digits = test_x[first_of_each_class(test_y)]
    # compute number of minibatches for training
    n_train_batches = n_batches(train_set_x, config.batch_size)
    x = T.matrix("x", dtype=floatX)  # the data is presented as rasterized images
    log, bars = run.log, EpochBars(config.progress)

    dAs = []
    for i, corruption in enumerate(config.corruption_levels):
        # every dA starts from the same seed, as in the tutorial
        rng = numpy.random.RandomState(config.seed)
        theano_rng = RandomStreams(rng.randint(2 ** 30))
        da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=n_visible, n_hidden=config.n_hidden)
        progress = EpochProgress()
        run.track(**{f"params_{i}": SharedValues({"W": da.W, "b": da.b, "b_prime": da.b_prime}),
                     f"noise_{i}": theano_rng, f"progress_{i}": progress})
        dAs.append((corruption, da, progress, run.clock(str(i))))
    def check_resumed_position():
        for corruption, _, progress, _ in dAs:
            progress.check_fits(config.training_epochs, n_train_batches, f"the dA with {corruption:.0%} corruption")

    if run.restore(data_fingerprint([train_set_x.get_value(borrow=True)]), check=check_resumed_position):
        log(f"... resuming from {run.checkpointer.path}")

    finished = []
    for corruption, da, progress, clock in dAs:
        where = f"the dA with {corruption:.0%} corruption"
        if progress.epoch < config.training_epochs:
            # the tutorial's compiled train_da(index) (da.get_cost_updates), or the kernels checked against it
            train_da = engine.pretraining_runner(LoneDA(da), 0, train_set_x, config.batch_size, corruption,
                                                 config.learning_rate, run.stop, log)
            clock.start()
            train_epochs(train_da, n_train_batches, config.training_epochs,
                         lambda epoch, c: log("Training epoch %d, cost %f" % (epoch, c)),
                         config.learning_rate, progress=progress, after_epoch=lambda p: run.checkpoint(),
                         stop=run.stop, where=where, bars=bars)
            clock.stop()
            what = "no corruption" if corruption == 0 else f"{corruption * 100:.0f}% corruption"
            log_time(what, script, clock.seconds())
        percent = f"{corruption * 100:.0f}"
        png = os.path.join(run.output_dir, f"filters_corruption_{percent}.png")
        tiles = min(10, int(numpy.ceil(numpy.sqrt(config.n_hidden))))
        save_filters(da.W.get_value(borrow=True), png, img_shape=img_shape, tile_shape=(tiles, tiles))
        reconstructions_png = os.path.join(run.output_dir, f"reconstructions_corruption_{percent}.png")
        reconstructions_image(da, digits, corruption, config.seed, img_shape=img_shape, path=reconstructions_png)
        finished.append({"corruption_level": corruption, "costs": progress.mean_costs,
                         "minutes": clock.seconds() / 60.0, "filters": os.path.basename(png),
                         "reconstructions": os.path.basename(reconstructions_png)})

    results = {"config": asdict(config), **engine.describe(), **run_metadata(), "runs": finished}
    write_json(os.path.join(run.output_dir, "results.json"), results)
    run.finish()
    return results
