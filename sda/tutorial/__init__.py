"""The Deep Learning Tutorials' files, one module each, to read beside their chapters.

* :mod:`sda.tutorial.logistic_sgd` -- ``LogisticRegression``, the output layer
* :mod:`sda.tutorial.mlp` -- ``HiddenLayer``, a sigmoid layer of the MLP
* :mod:`sda.tutorial.dA` -- ``dA``, the denoising autoencoder, and ``test_dA``
* :mod:`sda.tutorial.SdA` -- ``SdA``, the stacked denoising autoencoder, and ``test_SdA``
* :mod:`sda.tutorial.utils` -- ``tile_raster_images``, pictures of filters

They hold the models and the tutorial's own training loops, nothing else: how
steps run fast (:mod:`sda.engines`), checkpoints and results (:mod:`sda.run`,
:mod:`sda.recipes`) live outside, and always train the graph defined here.
"""
