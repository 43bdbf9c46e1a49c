"""Sweeps: many runs of ``train_sda.py`` -- seeds, grids, random searches -- on Ray Tune, from a laptop to a
cluster (``scripts/sweep.py``; the ``sweep`` extra: ``pip install -e ".[sweep]"``).

* :mod:`~sda.sweeps.space`: the search space over ``train_sda.py``'s own flags, expanded into
  configurations and checked before anything starts;
* :mod:`~sda.sweeps.trials`: one trial (a configuration and a seed) in a folder of its own, and the
  function Ray Tune runs: :func:`~sda.recipes.run_sda`, reporting every validation;
* :mod:`~sda.sweeps.ray_tune`: Ray and Ray Tune (the only module that imports them);
* :mod:`~sda.sweeps.summary`: the table per configuration, the selection on validation error, the picture;
* :mod:`~sda.sweeps.run`: :func:`run_sweep`, from the first trial to the summary.
"""
