import sys, time, numpy
sys.path.insert(0, '.')
from sda import SdA
from sda.backend import pytensor, floatX
from sda_perf_prototypes.scan_epoch import pretraining_epoch_functions, finetune_epoch_function, index_range
bs = int(sys.argv[1])
rng = numpy.random.RandomState(1); N = 4000
X = pytensor.shared(rng.rand(N, 784).astype(floatX), borrow=True)
Y = pytensor.shared(rng.randint(0, 10, N).astype('int32'), borrow=True)
sda = SdA(numpy.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[1000]*3, n_outs=10, corruption_levels=[.1,.2,.3])
t = time.time(); fns = pretraining_epoch_functions(sda, X, bs); ft = finetune_epoch_function(sda, X, Y, bs, 0.1); print('build', time.time()-t)
for k, f in enumerate(fns + [ft]):
    args = (0.1, 0.001) if k < 3 else ()
    t = time.time(); f(index_range(0, 2), *args); print('compile', k, time.time() - t)
    n = 100
    ts = []
    for r in range(3):
        t = time.perf_counter(); c = f(index_range(0, n), *args); ts.append((time.perf_counter() - t) / n * 1e3)
    print(k, numpy.median(ts), c[:3])
