"""ember.distributed: collectives, DDP, faults under ``mpirun -n 2``; errors in one process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ember
import ember.distributed as dist

from ._launch import WORKERS, run


def _ok_lines(proc, marker="OK"):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line.strip() for line in proc.stdout.splitlines() if line.startswith(marker)]


def test_every_collective_matches_numpy():
    lines = _ok_lines(run("collectives.py"))
    for name in ["all_reduce sum", "all_reduce mean", "all_reduce max", "all_reduce min",
                 "all_reduce product", "all_reduce async float32", "all_reduce int mean refused",
                 "all_reduce strided view", "async handles",
                 "inline and queued all-reduces match", "broadcast", "all_gather",
                 "reduce_scatter", "send/recv", "barrier and objects", "shape mismatch",
                 "collective mismatch"]:
        assert lines.count(f"OK {name}") == 2, (name, lines)
    assert lines.count("OK recv size mismatch") == 1


def test_ddp_two_ranks_equal_one_process_with_twice_the_batch():
    lines = _ok_lines(run("ddp.py"))
    for name in ["ddp small buckets overlap", "ddp one bucket no overlap",
                 "ddp no_sync accumulation", "ddp syncbn small buckets",
                 "unused parameter named", "find_unused_parameters",
                 "gradient twice refused", "buckets launched during backward"]:
        assert lines.count(f"OK {name}") == 2, (name, lines)


@pytest.mark.parametrize("case", ["dead_rank", "dead_rank_ddp"])
def test_dead_rank_makes_survivors_raise_naming_the_collective(case):
    proc = run("faults.py", case, keep_going=True, timeout=30)
    out = proc.stdout
    assert "RAISED" in out, out + proc.stderr
    what = "all_reduce" if case == "dead_rank" else \
        "all_reduce of DistributedDataParallel gradient bucket 0"
    assert f"{what} timed out after 1.5 s on rank 0 of 2" in out
    assert proc.returncode != 0  # left without MPI_Finalize, as a failed rank should
    if case == "dead_rank":
        secs = float(out.split("RAISED after ")[1].split("s:")[0])
        assert 1.4 <= secs < 5.0
        assert "THEN: barrier: the process group is broken" in out


def test_models_differing_in_a_parameter_shape_are_named():
    proc = run("faults.py", "shapes")
    assert proc.returncode == 0, proc.stderr
    for r in (0, 1):
        assert (f"RAISED rank {r}: DistributedDataParallel: the ranks' models differ: parameter "
                "'0.weight' is shape (4, 3) float32 on rank 0 but shape (5, 3) float32 on "
                "rank 1") in proc.stdout
        assert f"COUNT rank {r}: " in proc.stdout and "'1.weight' that rank 0 lacks" in proc.stdout


def test_checkpoint_written_by_rank0_while_another_rank_crashes_is_whole(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    proc = run("faults.py", "checkpoint", str(path), timeout=40)
    assert proc.returncode != 0  # rank 1 was killed, the launcher took rank 0 down with it
    loaded = ember.load(str(path))
    assert loaded["step"].item() >= 1
    np.testing.assert_array_equal(loaded["w"].numpy(),
                                  np.random.default_rng(0).standard_normal(2_000_000))


def test_init_outside_an_mpi_launch_says_how_to_launch():
    code = ("import ember.distributed as d\n"
            "try:\n    d.init_process_group()\n"
            "except d.DistributedError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PMI_", "OMPI_", "PMIX_", "SLURM_", "MPI_LOCAL", "HYDRA_"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60).stdout
    assert "not started by an MPI launcher" in out and "mpirun -n 2 python train.py" in out


def test_errors_without_a_group():
    assert not dist.is_initialized()
    assert dist.get_rank() == 0 and dist.get_world_size() == 1
    with pytest.raises(dist.DistributedError,
                       match="all_reduce: no process group.*init_process_group"):
        dist.all_reduce(ember.ones(2))
    with pytest.raises(dist.DistributedError, match="DistributedDataParallel: no process group"):
        dist.DistributedDataParallel(ember.nn.Linear(2, 2))
    with pytest.raises(dist.DistributedError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(dist.DistributedError, match="timeout must be a positive"):
        dist.init_process_group("mpi", timeout=-1)


def test_nccl_without_cupy_or_gpu_is_a_clear_error(monkeypatch):
    from ember.distributed import nccl

    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(dist.DistributedError,
                       match="CuPy with NCCL is not installed.*backend='mpi'"):
        nccl._import_cupy()


def test_distributed_sampler_partitions_each_epoch():
    n, world = 23, 3
    for epoch in range(3):
        parts = []
        for r in range(world):
            s = dist.DistributedSampler(range(n), num_replicas=world, rank=r, seed=5)
            s.set_epoch(epoch)
            parts.append(list(s))
            assert len(s) == 8 == len(parts[-1])
        flat = sum(parts, [])
        assert sorted(set(flat)) == list(range(n))  # every index, padded by one repeat
        assert len(flat) == 24
    a = dist.DistributedSampler(range(n), num_replicas=world, rank=0, seed=5)
    b = dist.DistributedSampler(range(n), num_replicas=world, rank=0, seed=5)
    b.set_epoch(1)
    assert list(a) != list(b)
    d = dist.DistributedSampler(range(n), num_replicas=world, rank=2, drop_last=True,
                                shuffle=False)
    assert list(d) == [2, 5, 8, 11, 14, 17, 20]
    with pytest.raises(dist.DistributedError, match="rank must be in 0..2"):
        dist.DistributedSampler(range(n), num_replicas=3, rank=3)
    loader = ember.data.DataLoader(ember.data.TensorDataset(ember.arange(10)), batch_size=2,
                                   sampler=dist.DistributedSampler(range(10), 2, 1, shuffle=False))
    assert [b[0].tolist() for b in loader] == [[1, 3], [5, 7], [9]]


def test_sync_batchnorm_without_a_group_is_batchnorm():
    ember.manual_seed(0)
    x = ember.randn(6, 3, 4, 4, dtype=ember.float64)
    bn, sbn = ember.nn.BatchNorm2d(3).double(), dist.SyncBatchNorm(3).double()
    np.testing.assert_array_equal(bn(x).detach().numpy(), sbn(x).detach().numpy())
    np.testing.assert_array_equal(bn.running_var.numpy(), sbn.running_var.numpy())
    model = ember.nn.Sequential(ember.nn.Conv2d(3, 3, 1), ember.nn.BatchNorm2d(3))
    conv = dist.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(conv[1], dist.SyncBatchNorm) and conv[1].weight is model[1].weight


def test_workers_exist():
    assert {"collectives.py", "ddp.py", "faults.py"} <= {p.name for p in WORKERS.iterdir()}


def test_keras_fit_under_mpi_matches_one_process_and_resumes(tmp_path):
    ref, two = tmp_path / "ref.npz", tmp_path / "two.npz"
    env = dict(os.environ, PYTHONPATH=str(WORKERS.parents[2]))
    one = subprocess.run([sys.executable, str(WORKERS / "keras_fit.py"), str(ref)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert one.returncode == 0, one.stderr
    proc = run("keras_fit.py", str(two))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Epoch 1/3") == 1  # progress from rank 0 only
    assert proc.stdout.count("FIT DONE") == 2
    a, b = np.load(ref), np.load(two)
    for k in a:  # float32: only the order of the gradient sums differs
        np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6)
    ha = json.loads((tmp_path / "ref.npz.json").read_text())
    hb = json.loads((tmp_path / "two.npz.json").read_text())
    for key in ha:
        np.testing.assert_allclose(hb[key], ha[key], rtol=1e-5)
    # interrupted after 8 steps (mid epoch 2), then resumed on every rank: same end state
    backup = tmp_path / "backup"
    cut = run("keras_fit.py", str(tmp_path / "cut.npz"), str(backup), "8")
    assert cut.stdout.count("interrupted True") == 2, cut.stdout + cut.stderr
    assert sorted(p.name for p in backup.iterdir()) == ["checkpoint.safetensors"]
    res = run("keras_fit.py", str(tmp_path / "res.npz"), str(backup))
    assert res.returncode == 0, res.stderr
    c = np.load(tmp_path / "res.npz")
    for k in b:
        np.testing.assert_array_equal(c[k], b[k])
    assert json.loads((tmp_path / "res.npz.json").read_text()) == hb


def test_ember_train_distributed_writes_from_rank0_and_resumes(tmp_path):
    from ember.cli import main

    cfg = str(WORKERS / "tiny.toml")
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", cfg, "--out", str(one), "--quiet"]) == 0  # the reference
    cut = run("cli_train.py", cfg, "--distributed", "--out", str(two), "--stop-after-steps", "10")
    assert cut.returncode == 130, cut.stdout + cut.stderr  # both ranks stopped after step 10
    assert cut.stdout.count("run folder: ") == 1 and cut.stdout.count("stopped;") == 1
    assert sorted(p.name for p in two.iterdir()) == ["checkpoint.safetensors", "config.toml"]
    res = run("cli_train.py", "--resume", str(two), "--distributed")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("resuming ") == 1 and res.stdout.count("test: loss") == 1
    assert json.loads((two / "results.json").read_text())["resumed"] is True
    a = ember.load(str(one / "checkpoint.safetensors"))
    b = ember.load(str(two / "checkpoint.safetensors"))
    for k, v in a["model"].items():
        np.testing.assert_allclose(b["model"][k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6)
    bad = subprocess.run([sys.executable, str(WORKERS / "cli_train.py"), cfg, "--distributed"],
                         capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if not k.startswith("PMI_")})
    assert bad.returncode == 2 and "not started by an MPI launcher" in bad.stderr


def test_nccl_backend_code_with_stand_ins_for_cupy_and_nccl():
    proc = run("nccl_fake.py")
    lines = _ok_lines(proc)
    for name in ["nccl collectives", "nccl shape mismatch", "nccl timeout"]:
        assert lines.count(f"OK {name}") == 2, (name, proc.stdout, proc.stderr)
    assert proc.stdout.count("ABORTED") == 2  # the communicator is aborted on a timeout


def test_keras_fit_with_a_distributed_sampler_loader(tmp_path):
    proc = run("keras_fit.py", str(tmp_path / "loader.npz"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("FIT DONE") == 2 and proc.stdout.count("Epoch 2/2") == 1
    assert proc.stdout.count("OK sampler made before init refused") == 2
    assert "5/5 [" in proc.stdout  # 100 samples, 50 per rank, batches of 10
    hist = json.loads((tmp_path / "loader.npz.json").read_text())
    assert len(hist["loss"]) == 2 and hist["loss"][1] < hist["loss"][0]


def test_ddp_with_device_arrays_staged_through_the_host():
    proc = run("ddp_device.py")
    lines = _ok_lines(proc)
    assert lines.count("OK ddp on device arrays") == 2, proc.stdout + proc.stderr
    assert lines.count("OK syncbn on device arrays") == 2
