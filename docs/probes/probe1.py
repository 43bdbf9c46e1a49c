import time, sys, numpy, warnings
sys.path.insert(0, '.')
from sda import SdA
from sda.backend import pytensor, T, floatX
bs = int(sys.argv[1])
rng = numpy.random.RandomState(1)
N = 2000
X = pytensor.shared(rng.rand(N, 784).astype(floatX), borrow=True)
Y = pytensor.shared(rng.randint(0, 10, N).astype('int32'), borrow=True)
sda = SdA(numpy.random.RandomState(89677), n_ins=784, hidden_layers_sizes=[1000]*3, n_outs=10, corruption_levels=[.1,.2,.3])
t=time.time()
fns = sda.pretraining_functions(X, bs)
tr, v, te = sda.build_finetune_functions([(X,Y)]*3, bs, 0.1)
print('build', time.time()-t)
nb = N//bs
def timeit(f, n=300):
    for i in range(20): f(i % nb)
    ts=[]
    for r in range(5):
        t=time.perf_counter()
        for i in range(n): f(i % nb)
        ts.append((time.perf_counter()-t)/n*1e3)
    return numpy.median(ts)
for k in range(3):
    t=time.time(); fns[k](0, corruption=0.1, lr=0.001); print('compile', k, time.time()-t)
    print('layer', k, timeit(lambda i: fns[k](i, corruption=0.1, lr=0.001)))
t=time.time(); tr(0); print('compile ft', time.time()-t)
print('ft', timeit(tr))
i = T.iscalar('i')
nop = pytensor.function([i], i+1)
nop(0)
print('nop', timeit(nop, 3000))
nop2 = pytensor.function([i], i+1, mode='FAST_RUN')
