#!/bin/sh
# A tiny end-to-end run of scripts/train_sda.py on fake MNIST with device=cuda (for docs/gpu.md).
set -e
d=$(mktemp -d)
python3 -c "import sys; sys.path.insert(0, 'tests'); import fakedata; import pathlib; fakedata.write_mnist(pathlib.Path('$d/mnist'), fakedata.make_learnable_arrays(n_train=2000, n_test=500))"
THEANO_FLAGS=device=cuda,floatX=float32 python3 scripts/train_sda.py --dataset $d/mnist --output-dir $d/out \
  --hidden-layers 200,200 --corruption-levels 0.1,0.2 --pretraining-epochs 1 --training-epochs 2 --batch-size 1 --eval-batch-size 300
python3 -c "import json; r = json.load(open('$d/out/results.json')); print('results device:', r.get('device') or r.get('environment', {}).get('device'))"
