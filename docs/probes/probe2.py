import time, sys, numpy
sys.path.insert(0, '.')
from sda import SdA
from sda.backend import pytensor, T, floatX
bs = int(sys.argv[1]); k=int(sys.argv[2])
rng = numpy.random.RandomState(1)
N = 2000
X = pytensor.shared(rng.rand(N, 784).astype(floatX), borrow=True)
Y = pytensor.shared(rng.randint(0, 10, N).astype('int32'), borrow=True)
sda = SdA(numpy.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[1000]*3, n_outs=10, corruption_levels=[.1,.2,.3])
if k < 3:
    f = sda.pretraining_functions(X, bs)[k].compiled
    call = lambda i: f(i, 0.1, 0.001)
else:
    f = sda.build_finetune_functions([(X,Y)]*3, bs, 0.1)[0]
    call = f
pytensor.dprint(f, print_destroy_map=True, print_view_map=True)
call(0)
