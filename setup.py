import re

from setuptools import find_packages, setup

# one version, sda.__version__ (recorded in every results.json), read without importing sda
VERSION = re.search(r'^__version__ = "([^"]+)"', open("sda/__init__.py", encoding="utf-8").read(), re.M).group(1)

# Each dependency is bounded to the versions the tests passed with (README, "Installing exactly what CI
# tested"): the lower bound is the version tested, the upper bound the next release that may change what we
# use.  PyTensor, Numba, JAX, NumPy, SciPy and Ray change APIs across minor releases: next minor.  Pillow, tqdm,
# Matplotlib and pytest keep theirs within a major release: next major.  The exact versions CI installs, with their hashes, are in
# requirements.lock (the main job) and requirements-test.lock (the tests); README, "Moving to newer versions",
# says how to move these bounds.
setup(
    name="sda",
    version=VERSION,
    description="The Deep Learning Tutorials' denoising and stacked denoising autoencoders on PyTensor",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["sda", "sda.*"]),
    # PyTensor 3.0.7 and NumPy 2.4 need 3.11; tested on 3.11
    python_requires=">=3.11",
    install_requires=[
        "pytensor>=3.0.7,<3.1",
        "numba>=0.65.1,<0.66",
        "numpy>=2.4.6,<2.5",
        "scipy>=1.17.1,<1.18",
        "pillow>=13.0.0,<14",
        "tqdm>=4.70.1,<5",
        "matplotlib>=3.11.2,<4",
    ],
    extras_require={
        # the tests also run the device=cuda code path on JAX's CPU back end, and execute the notebooks
        # (nbclient runs each cell in an IPython kernel, as "Run all" does)
        "test": ["pytest>=9.2.0,<10", "jax>=0.10.2,<0.11", "nbclient>=0.11.0,<1", "nbformat>=5.11.1,<6",
                 "ipykernel>=7.4.0,<8"],
        # device=cuda: PyTensor's JAX back end on an NVIDIA GPU (docs/gpu.md)
        "gpu": ["jax[cuda12]>=0.10.2,<0.11"],
        # notebooks/: JupyterLab to open them and run them cell by cell; nbclient to run them all from a script
        "notebooks": ["jupyterlab>=4.6.6,<5", "ipykernel>=7.4.0,<8", "nbclient>=0.11.0,<1", "nbformat>=5.11.1,<6"],
        # bench/benchmark.py's eager PyTorch column (the version the speed targets were set against)
        "bench": ["torch==2.13.0"],
        # scripts/sweep.py: seeds and searches on Ray Tune (whose APIs move between minor releases: next minor)
        "sweep": ["ray[tune]>=2.60.0,<2.61"],
    },
)
