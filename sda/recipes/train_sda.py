"""``train_sda.py``'s procedure: the tutorial's ``test_SdA`` as a resumable run."""

import os
from dataclasses import asdict

import numpy

from ..checkpoint import PRETRAINED_NAME, data_fingerprint, pretrained_snapshot
from ..configs import (FINETUNING_KEYS, SdAConfig, check_data_fits, check_sda_fits_in_memory, dataset_values,
                       result_keys)
from ..files import write_json
from ..progress import EpochBars
from ..run import ResumableRun, log_time
from .metadata import numbers_settings, run_metadata


def run_sda(config, script="train_sda.py", resume_command=None, stop_after_minibatches=None, dA_class=None,
            on_validation=None):
    """Pretrain layer by layer, finetune with early stopping, report (the tutorial's ``test_SdA``).

    Writes ``results.json``, ``model.npz`` (best-validation parameters) and
    pictures in ``config.output_dir``, checkpointing as it goes, and returns
    the results dict.  SIGINT/SIGTERM (or ``stop_after_minibatches``) stop it
    after the current minibatch with a checkpoint
    (:class:`~sda.errors.RunInterrupted`); ``config.resume`` continues from the
    checkpoint, bit for bit as if never stopped.

    :param dA_class: the class of the layers' dAs (default: the tutorial's
        :class:`~sda.tutorial.dA.dA`); a subclass with another cost is trained
        by the compiled engine whenever the kernels do not compute it
    :param on_validation: called as ``on_validation(state)`` after each
        finetuning validation, once its checkpoint is written, with the
        :class:`~sda.training.EarlyStoppingState` (``state.history[-1]`` is this
        validation); a sweep reports the validation error to Ray Tune here
    """
    config.validate()
    from ..backend import device
    from ..engines import resolve

    engine = resolve(config.engine, device)
    pretrained = pretrained_snapshot(config.pretrained_from) if config.pretrained_from and not config.resume else None
    numbers = {**result_keys(config), **numbers_settings(engine, config.batch_size)}
    with ResumableRun(config.output_dir, "sda", numbers, defaults=result_keys(SdAConfig()),
                      resume=config.resume, checkpoint_every=config.checkpoint_every, resume_command=resume_command,
                      stop_after_minibatches=stop_after_minibatches, results=("results.json", "model.npz"),
                      outputs=("learning_curves.png", "filters_layer_*.png", PRETRAINED_NAME),
                      overwrite=config.overwrite) as run:
        return _train_sda(run, config, engine, script, dA_class, on_validation, pretrained)


def _train_sda(run, config, engine, script, dA_class, on_validation, pretrained):
    from ..backend import floatX, pytensor
    from ..data import load_data
    from ..minibatches import n_batches
    from ..model_io import BestParameters, Parameters, param_arrays, save_model
    from ..pictures import write_run_pictures
    from ..training import EarlyStoppingState, PretrainingState, finetune_sda, pretrain_sda
    from ..tutorial.dA import dA
    from ..tutorial.SdA import SdA

    datasets = load_data(config.dataset, n_train=config.n_train, rescale=config.rescale)
    n_ins, n_outs = check_data_fits(datasets, config.n_ins, config.n_outs, config.batch_size)
    train_set = datasets[0]
    check_sda_fits_in_memory(n_ins, config.hidden_layers, n_outs, train_set[0].get_value(borrow=True).shape[0],
                             floatX)
    # compute number of minibatches for training
    n_train_batches = n_batches(train_set[0], config.batch_size)
    log, stop, bars = run.log, run.stop, EpochBars(config.progress)

    log("... building the model")
    sda = SdA(numpy_rng=numpy.random.RandomState(config.seed), n_ins=n_ins,
              hidden_layers_sizes=config.hidden_layers, n_outs=n_outs,
              corruption_levels=config.corruption_levels, dA_class=dA_class or dA)
    # a shared variable rather than a constant, so that the rate can decay between epochs
    finetune_lr = pytensor.shared(numpy.asarray(config.finetune_lr, dtype=floatX), name="finetune_lr")
    pretraining = run.track(pretraining=PretrainingState())
    finetuning = run.track(finetuning=EarlyStoppingState.start(n_train_batches))
    run.track(params=Parameters(sda), noise=sda.theano_rng)
    best = run.track(best_params=BestParameters(sda))
    pretraining_clock, finetuning_clock = run.clock("pretraining"), run.clock("finetuning")
    def check_resumed_position():
        pretraining.check_fits(sda.n_layers, config.pretraining_epochs, n_train_batches)
        finetuning.check_fits(config.training_epochs)
        if pretrained and (pretraining.layer < sda.n_layers or finetuning.epoch or finetuning.in_epoch):
            raise ValueError("it holds no run as its pretraining ended")

    if run.restore(data_fingerprint(dataset_values(datasets)[0]), check=check_resumed_position, source=pretrained,
                   ignore=FINETUNING_KEYS):
        if pretrained:
            # its state as its pretraining ended: the layers, and its log of the tutorial's lines so far
            print("\n".join(line for line in run.log.lines if line.startswith("Pre-training layer")), flush=True)
            run.snapshot(PRETRAINED_NAME)  # this run's pretraining too (the same state)
            log(f"... pretrained layers from {pretrained} (its pretraining lines above)")
        else:
            where = (f"pretraining layer {pretraining.layer}, epoch {pretraining.progress.epoch}"
                     if pretraining.layer < sda.n_layers else
                     f"finetuning epoch {finetuning.epoch + (not finetuning.in_epoch)}")
            log(f"... resuming from {run.checkpointer.path} at {where}")

    #########################
    # PRETRAINING THE MODEL #
    #########################
    if pretraining.layer < sda.n_layers:
        log("... getting the pretraining functions")
        log("... pre-training the model")
        pretraining_clock.start()
        pretrain_sda(lambda layer: engine.pretraining_runner(sda, layer, train_set[0], config.batch_size,
                                                             config.corruption_levels[layer], config.pretrain_lr,
                                                             stop, log),
                     sda.n_layers, n_train_batches, config.pretraining_epochs, config.pretrain_lr, log,
                     state=pretraining, after_epoch=lambda state: run.checkpoint(), stop=stop, bars=bars)
        pretraining_clock.stop()
        run.snapshot(PRETRAINED_NAME)  # for --pretrained-from: another finetuning of these layers
    log_time("pretraining", script, pretraining_clock.seconds())

    ########################
    # FINETUNING THE MODEL #
    ########################
    # get the training, validation and testing function for the model
    log("... getting the finetuning functions")
    train = engine.finetuning_runner(sda, train_set, config.batch_size, finetune_lr, stop, log)
    validate_model = engine.error_scorer(sda, *datasets[1], config.eval_batch_size, log)
    test_model = engine.error_scorer(sda, *datasets[2], config.eval_batch_size, log)

    def after_validation(state):
        run.checkpoint()  # first, so that whoever hears of this validation can count on its checkpoint
        # the last epoch that early stopping cuts short ends without a validation
        if on_validation is not None and state.history and state.history[-1]["epoch"] == state.epoch:
            on_validation(state)

    log("... finetuning the model")
    finetuning_clock.start()
    finetune_sda(train, validate_model, test_model, n_train_batches, config.training_epochs,
                 config.finetune_lr, log, state=finetuning, learning_rate_decay=config.finetune_lr_decay,
                 set_learning_rate=lambda rate: finetune_lr.set_value(numpy.asarray(rate, dtype=floatX)),
                 after_validation=after_validation, on_new_best=lambda state: best.keep(),
                 stop=stop, bars=bars)
    finetuning_clock.stop()

    validated = bool(finetuning.history)
    if validated:
        log("Optimization complete with best validation score of %f %%, on iteration %i, "
            "with test performance %f %%"
            % (finetuning.best_validation_loss * 100.0, finetuning.best_iter + 1, finetuning.test_score * 100.0))
    else:
        log("Optimization complete without a validation (no finetuning epoch ran): no error is reported; "
            "model.npz holds the model as it stands")
    log_time("training", script, finetuning_clock.seconds())

    # no validation ever happened (0 finetuning epochs): the model as it stands is the best
    best_arrays = best.arrays or param_arrays(sda)
    save_model(os.path.join(run.output_dir, "model.npz"), best_arrays)
    results = {
        # what was measured, and nothing else: null when no validation ran
        "best_validation_error_percent": finetuning.best_validation_loss * 100.0 if validated else None,
        "test_error_percent": finetuning.test_score * 100.0 if validated else None,
        "best_iter": finetuning.best_iter + 1 if validated else None,
        "finetune_epochs": finetuning.epoch,
        "pretraining_minutes": pretraining_clock.seconds() / 60.0,
        "finetuning_minutes": finetuning_clock.seconds() / 60.0,
        "pretraining_costs": pretraining.costs,
        "validation_history": finetuning.history,
        "config": asdict(config),
        "n_train_examples": int(train_set[0].get_value(borrow=True).shape[0]),
        "n_ins": n_ins,
        "n_outs": n_outs,
        **engine.describe(),
        "label_names": datasets.label_names and list(datasets.label_names),  # class i is label_names[i]
        "rescaled_from": datasets.rescaled_from,  # (min, max) of the training x mapped onto [0, 1]
        **run_metadata(),
    }
    write_json(os.path.join(run.output_dir, "results.json"), results)
    write_run_pictures(results, best_arrays, run.output_dir, n_ins, datasets.image_shape)
    run.finish()
    return results
