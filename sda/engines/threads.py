"""Two threads inside one kernel call, and how many to use.

A batch-1 step makes two passes over each weight matrix (3-4 MB, more than a core's L2); two cores share them
best when each keeps to its own part of the matrix (the batch-1 dA kernel gives each thread a private copy of
its columns: two cores writing the columns of one row-major matrix slowed each other down more than they
shared the work, docs/performance.md §8).  The kernels that use two threads split every pass so that each sum
keeps its order (a product is split by the columns of its result, a row-wise pass by rows, a dot product across
both threads' columns is summed in two parts that continue the same partial sums): one thread or two give the
same bits (``tests/test_threads.py``).

Each thread *publishes* how far it has got in a counter of its own (on its own cache line, stored with release
and read with acquire ordering: LLVM atomics, so that the compiler keeps the spin loop's loads and the CPU
orders the work's writes before the counter); the other *waits for* a count, after a pass (a *barrier*: both
publish, both wait) or after each block of rows (a pipeline: one thread's partial sums, the other's rest).  A waiting thread spins with ``pause`` and yields
its core after a while, so that a descheduled partner is not waited for at full speed.

Whether the second thread pays depends on the machine's load at the time: :class:`ThreadChooser` times the
calls with one and with two threads and keeps the faster, trying the other count again from time to time.
``SDA_THREADS`` (1 or 2) fixes the count.
"""

import os
import threading
import time

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..errors import UsageError

#: int64 slots between the two threads' counters: 64 bytes, so that they never share a cache line
STRIDE = 8

_sched_yield = types.ExternalFunction("sched_yield", types.int32())


def _counter_pointer(context, builder, signature, args):
    array = context.make_array(signature.args[0])(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, signature.args[0], array, [args[1]])


@intrinsic
def _load_acquire(typingctx, counters, index):
    def codegen(context, builder, signature, args):
        return builder.load_atomic(_counter_pointer(context, builder, signature, args), "acquire", 8)

    return types.int64(counters, index), codegen


@intrinsic
def _store_release(typingctx, counters, index, value):
    def codegen(context, builder, signature, args):
        builder.store_atomic(args[2], _counter_pointer(context, builder, signature, args), "release", 8)
        return context.get_dummy_value()

    return types.void(counters, index, value), codegen


@intrinsic
def _pause(typingctx):
    def codegen(context, builder, signature, args):
        if "x86" in context.codegen()._tm.triple:  # the spin-wait hint: the sibling hyperthread runs meanwhile
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


@numba.njit(cache=True, nogil=True, inline="always")
def publish(counters, role, count):
    """Thread ``role`` has finished its work up to number ``count`` (its counter only grows).  With one thread
    (``counters`` of length 0) it does nothing."""
    if counters.shape[0] != 0:
        _store_release(counters, role * STRIDE, count)


@numba.njit(cache=True, nogil=True, inline="always")
def wait_for(counters, role, count):
    """Wait until thread ``role`` has published ``count``: everything it wrote before is then visible here."""
    if counters.shape[0] == 0:
        return
    spins = 0
    while _load_acquire(counters, role * STRIDE) < count:
        _pause()
        spins += 1
        if spins == 4096:  # about 100 microseconds: the partner is not running, let it have a core
            _sched_yield()
            spins = 0


@numba.njit(cache=True, nogil=True, inline="always")
def barrier(counters, role, count):
    """Thread ``role`` (0 or 1) has finished its part up to number ``count`` and waits until the other thread
    has too.  With one thread it returns at once."""
    publish(counters, role, count)
    wait_for(counters, 1 - role, count)


def new_counters(n_threads):
    """The counters of one kernel call: none for one thread."""
    import numpy

    return numpy.zeros(STRIDE * 2 if n_threads == 2 else 0, dtype=numpy.int64)


def _side_by_side(first, second):
    """``(first(), second())``, the second on a helper thread (the kernels release the GIL); an error on
    either is raised here, after both have finished."""
    results, failures = [None, None], []

    def helper_call():
        try:
            results[1] = second()
        except BaseException as error:  # re-raised below, on the caller's thread
            failures.append(error)

    helper = threading.Thread(target=helper_call, name="sda-kernel-helper", daemon=True)
    helper.start()
    try:
        results[0] = first()
    finally:
        helper.join()
    if failures:
        raise failures[0]
    return results


def run_roles(kernel, n_threads, *args):
    """``kernel(*args, role, n_threads, counters)`` on ``n_threads`` threads (1 or 2); returns role 0's result."""
    counters = new_counters(n_threads)
    if n_threads == 1:
        return kernel(*args, 0, 1, counters)
    return _side_by_side(lambda: kernel(*args, 0, 2, counters), lambda: kernel(*args, 1, 2, counters))[0]


def by_rows(kernel, X, *args):
    """``kernel(X, *args)`` for a kernel that computes each row of its result from the same row of X alone
    (the forward passes): the two halves of X on two threads where two CPUs may be used, else on this one.
    The rows are the same, so the bits are too."""
    import numpy

    if (requested_threads() or min(2, available_cpus())) == 1 or len(X) < 2:
        return kernel(X, *args)
    half = len(X) // 2
    return numpy.concatenate(_side_by_side(lambda: kernel(X[:half], *args), lambda: kernel(X[half:], *args)))


def available_cpus():
    """CPUs this process may use: its CPU affinity, and a container's CPU quota (cgroup v2 ``cpu.max``) where
    one is set, since the affinity ignores it."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def requested_threads():
    """``SDA_THREADS`` (1 or 2) if set, else None (let :class:`ThreadChooser` decide)."""
    value = os.environ.get("SDA_THREADS", "").strip()
    if not value:
        return None
    if value not in ("1", "2"):
        raise UsageError(f"SDA_THREADS must be 1 or 2, not {value!r}: set it to 1 (one core) or 2, or unset it "
                         f"to let each call choose")
    return int(value)


# calls with fewer minibatches (the kernels' check against the graph) say little about the speed
MEASURED_MINIBATCHES = 100


class ThreadChooser:
    """How many threads the next kernel call gets: the faster of 1 and 2 per minibatch, measured.

    It starts with two (where two CPUs are available), times one call with each, and keeps the faster; since the
    load of a shared machine changes, it times the other count again ``recheck`` calls later, and after each
    trial that confirms the choice waits twice as long for the next (at most ``longest_recheck`` calls), back
    to ``recheck`` when the choice changes.  A trial runs the slower count: every 20 calls, that was about 0.8 %
    of a batch-1 run where two threads win (100 minibatches at 1.8x the time per 10 000); the growing waits cut
    it below 0.1 %.  The chosen count is timed at every call, so that a load that slows it down switches to the
    other at once.  The choice changes only the speed: the kernels give the same bits with one thread or two."""

    def __init__(self, recheck=20, clock=time.perf_counter, longest_recheck=320):
        fixed = requested_threads()
        self.fixed = fixed if fixed is not None else (1 if available_cpus() < 2 else None)
        self.recheck, self.longest_recheck, self.clock = recheck, longest_recheck, clock
        self.seconds_per_minibatch = {}
        self.calls = 0
        self.wait = recheck  # calls between the last trial (or change of choice) and the next trial
        self.next_trial = recheck  # the number of the call that times the other count again

    def _best(self):
        timed = self.seconds_per_minibatch
        return min(timed, key=timed.get) if len(timed) == 2 else None

    def choose(self):
        if self.fixed is not None:
            return self.fixed
        for n_threads in (2, 1):
            if n_threads not in self.seconds_per_minibatch:
                return n_threads
        best = self._best()
        return 3 - best if self.calls >= self.next_trial else best

    def call_length(self, chunk):
        """How many minibatches (at most ``chunk``) the next call should train: a trial of a thread count (one
        not timed yet, or the slower one timed again) trains only MEASURED_MINIBATCHES, so that trying the
        slower count costs little (a whole 500-minibatch call on the slower count was ~8 % of a short batch-20
        run, where each phase has a few calls)."""
        if self.fixed is not None:
            return chunk
        trial = self.choose() != self._best()
        return min(chunk, MEASURED_MINIBATCHES) if trial else chunk

    def run(self, kernel, *args, minibatches):
        """``run_roles(kernel, n, *args)`` with the chosen n, timed per minibatch."""
        n_threads, best = self.choose(), self._best()
        start = self.clock()
        result = run_roles(kernel, n_threads, *args)
        if minibatches >= MEASURED_MINIBATCHES:
            self.seconds_per_minibatch[n_threads] = (self.clock() - start) / minibatches
            changed = best is not None and self._best() != best
            if changed or (best is not None and n_threads != best):
                # a changed choice is checked again soon; one a trial confirmed, twice as late as the last time
                self.wait = self.recheck if changed else min(2 * self.wait, self.longest_recheck)
                self.next_trial = self.calls + self.wait
        self.calls += 1
        return result
