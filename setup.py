from setuptools import find_packages, setup

setup(
    name="sda",
    version="1.0.0",
    description="The Deep Learning Tutorials' denoising and stacked denoising autoencoders on PyTensor",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["sda", "sda.*"]),
    python_requires=">=3.10",
    install_requires=["pytensor", "numba", "scipy", "scipy-openblas32>=0.3.34", "numpy", "pillow", "tqdm", "matplotlib"],
    extras_require={
        # the tests also run the device=cuda code path on JAX's CPU back end
        "test": ["pytest", "jax"],
        # device=cuda: PyTensor's JAX back end on an NVIDIA GPU (docs/gpu.md)
        "gpu": ["jax[cuda12]"],
        # bench/benchmark.py's eager PyTorch column (the version the speed targets were set against)
        "bench": ["torch==2.13.0"],
    },
)
