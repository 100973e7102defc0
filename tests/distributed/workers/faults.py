"""Fault scenarios, chosen by argv[1]; each prints one marker line the test looks for."""

import os
import sys
import time

import numpy as np

import ember
import ember.distributed as dist


def say(*parts):
    """One whole line per write, so the ranks' lines do not interleave mid-line."""
    os.write(1, (" ".join(map(str, parts)) + "\n").encode())


case = sys.argv[1]

if case == "dead_rank":
    # rank 1 exits before the collective; rank 0 must raise within the timeout, naming it
    dist.init_process_group("mpi", timeout=1.5)
    if dist.get_rank() == 1:
        os._exit(0)
    t = ember.ones(8, dtype=ember.float64)
    t0 = time.monotonic()
    try:
        dist.all_reduce(t)
    except dist.DistributedTimeoutError as e:
        say(f"RAISED after {time.monotonic() - t0:.2f}s: {e}")
    try:
        dist.barrier()
    except dist.DistributedError as e:
        say(f"THEN: {e}")
    sys.exit(0)  # the atexit guard leaves without MPI_Finalize (exit status 1)

if case == "dead_rank_ddp":
    # the same inside DDP's backward: the bucket's all-reduce is named
    dist.init_process_group("mpi", timeout=1.5)
    model = dist.DistributedDataParallel(ember.nn.Linear(4, 2).double())
    if dist.get_rank() == 1:
        os._exit(0)
    try:
        model(ember.ones(3, 4, dtype=ember.float64)).sum().backward()
    except dist.DistributedTimeoutError as e:
        say(f"RAISED: {e}")
    sys.exit(0)

if case == "shapes":
    # models that differ in one parameter's shape are named at DDP start, on every rank
    dist.init_process_group("mpi", timeout=20)
    width = 5 if dist.get_rank() == 1 else 4
    model = ember.nn.Sequential(ember.nn.Linear(3, width), ember.nn.ReLU(),
                                ember.nn.Linear(width, 2))
    try:
        dist.DistributedDataParallel(model)
    except dist.DistributedError as e:
        say(f"RAISED rank {dist.get_rank()}: {e}")
    extra = ember.nn.Sequential(ember.nn.Linear(3, 4), *(
        [ember.nn.Linear(4, 4)] if dist.get_rank() == 1 else []))
    try:
        dist.DistributedDataParallel(extra)
    except dist.DistributedError as e:
        say(f"COUNT rank {dist.get_rank()}: {e}")
    dist.destroy_process_group()

if case == "checkpoint":
    # rank 0 writes checkpoints in a loop; rank 1 crashes meanwhile (the launcher then kills
    # rank 0 wherever it is). Whatever is on disk afterwards must load whole.
    path = sys.argv[2]
    dist.init_process_group("mpi", timeout=20)
    big = {"w": ember.from_numpy(np.random.default_rng(0).standard_normal(2_000_000))}
    dist.barrier()
    if dist.get_rank() == 1:
        time.sleep(0.4)
        os.kill(os.getpid(), 9)
    i = 0
    while True:
        big["step"] = ember.tensor(i)
        ember.save(big, path)
        i += 1
