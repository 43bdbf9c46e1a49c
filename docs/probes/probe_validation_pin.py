"""Seconds per validation pass (10 000 MNIST digits, the SdA 784-1000-1000-1000-10, PyTensor's compiled function,
eval batch 1000) in this process: run it with and without OPENBLAS_CORETYPE, alternately, and compare.
Also prints a digest of the per-batch errors and of the encoded validation set (layer 0)."""
import hashlib
import os
import sys
import time

sys.path.insert(0, os.getcwd())
import numpy  # noqa: E402

import sda  # noqa: E402,F401  (its environment defaults)
from sda import SdA, load_data  # noqa: E402

datasets = load_data(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/mnist", n_train=1000)
model = SdA(numpy.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[1000, 1000, 1000], n_outs=10)
model.logLayer.W.set_value(numpy.random.RandomState(1).uniform(-0.1, 0.1, (1000, 10)).astype(model.logLayer.W.dtype))
_, valid_score, _ = model.build_finetune_functions(datasets, 1, 0.1, eval_batch_size=1000)
valid_score()
times = []
for _ in range(5):
    t0 = time.perf_counter()
    errors = valid_score()
    times.append(time.perf_counter() - t0)
x = datasets[1][0].get_value(borrow=True)
encoded = model.encode(x, layer=0)
print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')} validation {min(times):.3f} s (min of 5), "
      f"errors {hashlib.sha256(numpy.asarray(errors).tobytes()).hexdigest()[:12]}, "
      f"encode {hashlib.sha256(encoded.tobytes()).hexdigest()[:12]}")
