"""Threads for the machine as it is (core/threads.py): affinity and cgroup quotas read from faked files."""
import os

import pytest

from pretext_lessons.core import threads
from pretext_lessons.notebook.execute import kernel_env


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def four_cpus(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 8)


def test_affinity_not_cpu_count(tmp_path, four_cpus):
    write(tmp_path / "proc", "0::/\n")
    assert threads.usable_cpus(tmp_path / "cg", tmp_path / "proc") == 4


def test_cgroup_v2_quota_rounds_up_and_the_smallest_on_the_way_up_holds(tmp_path, four_cpus):
    write(tmp_path / "proc", "0::/user.slice/job\n")
    write(tmp_path / "cg" / "cpu.max", "max 100000\n")
    write(tmp_path / "cg" / "user.slice" / "cpu.max", "150000 100000\n")
    write(tmp_path / "cg" / "user.slice" / "job" / "cpu.max", "max 100000\n")
    assert threads.quota_cpus(tmp_path / "cg", tmp_path / "proc") == pytest.approx(1.5)
    assert threads.usable_cpus(tmp_path / "cg", tmp_path / "proc") == 2


def test_cgroup_v2_without_quota_leaves_the_affinity(tmp_path, four_cpus):
    write(tmp_path / "proc", "0::/\n")
    write(tmp_path / "cg" / "cpu.max", "max 100000\n")
    assert threads.quota_cpus(tmp_path / "cg", tmp_path / "proc") is None
    assert threads.usable_cpus(tmp_path / "cg", tmp_path / "proc") == 4


def test_cgroup_v1_quota(tmp_path, four_cpus):
    write(tmp_path / "proc", "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n")
    folder = tmp_path / "cg" / "cpu,cpuacct" / "docker" / "abc"
    write(folder / "cpu.cfs_quota_us", "50000\n")
    write(folder / "cpu.cfs_period_us", "100000\n")
    assert threads.quota_cpus(tmp_path / "cg", tmp_path / "proc") == pytest.approx(0.5)
    assert threads.usable_cpus(tmp_path / "cg", tmp_path / "proc") == 1


def test_cgroup_v1_unlimited_and_unreadable(tmp_path, four_cpus):
    write(tmp_path / "proc", "1:cpu:/\n")
    write(tmp_path / "cg" / "cpu" / "cpu.cfs_quota_us", "-1\n")
    write(tmp_path / "cg" / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert threads.quota_cpus(tmp_path / "cg", tmp_path / "proc") is None
    assert threads.quota_cpus(tmp_path / "cg", tmp_path / "missing") is None
    assert threads.usable_cpus(tmp_path / "cg", tmp_path / "missing") == 4


def test_thread_env_sets_counts_only_where_limited_and_keeps_choices_made(monkeypatch, four_cpus):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 4)
    env = threads.thread_env(environ={})
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and "OMP_NUM_THREADS" in env  # 4 usable of 8
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    env = threads.thread_env(environ={})
    assert "OMP_NUM_THREADS" not in env and env["KMP_BLOCKTIME"] == "0"  # unlimited: torch's own choice
    env = threads.thread_env(environ={"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "3"})
    assert "OMP_WAIT_POLICY" not in env and "OMP_NUM_THREADS" not in env
    assert threads.thread_env(2, environ={})["MKL_NUM_THREADS"] == "2"
    with pytest.raises(ValueError, match="threads"):
        threads.thread_env(0, environ={})


def test_kernel_env_keeps_the_graders_share(monkeypatch):
    for k in (*threads.THREAD_VARIABLES, *threads.WAIT_POLICY):
        monkeypatch.delenv(k, raising=False)
    env = kernel_env(OMP_NUM_THREADS=1, MKL_NUM_THREADS=1)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "1"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"


def test_apply_caps_torch_at_the_usable_cpus(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cpus", lambda: 1)
    try:
        assert threads.apply() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "7")  # chosen outside: left alone
        assert threads.apply() == 1
    finally:
        torch.set_num_threads(before)


def test_this_machine(monkeypatch):
    n = threads.usable_cpus()
    assert 1 <= n <= (os.cpu_count() or n)


def _bench_busy():
    import sys

    sys.path.insert(0, "benchmarks")
    try:
        import bench_busy
    finally:
        sys.path.remove("benchmarks")
    return bench_busy


def test_bench_busy_starts_its_busy_process_and_ends_it_even_on_an_error():
    bench_busy = _bench_busy()
    with pytest.raises(RuntimeError, match="a lesson failed"):
        with bench_busy.busy_process(True) as proc:
            assert proc.poll() is None  # spinning beside the measured run
            raise RuntimeError("a lesson failed")
    assert proc.poll() is not None
    with bench_busy.busy_process(False) as none:
        assert none is None


def test_bench_busy_drops_passive_only_where_it_slows_an_idle_run_by_more_than_five_percent():
    decide = _bench_busy().wait_policy_decision
    assert decide(10.4, 10.0)[0] and decide(9.0, 10.0)[0]
    keep, sentence = decide(10.6, 10.0)
    assert not keep and "drop PASSIVE" in sentence and "1.06" in sentence
    with pytest.raises(ValueError, match="default_idle must be a positive number"):
        decide(1.0, 0.0)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads the process table in /proc (Linux)")
def test_bench_busy_s_busy_process_ends_when_the_benchmark_dies_without_cleaning_up(tmp_path):
    import subprocess
    import sys
    import time

    script = ("import os, sys; sys.path.insert(0, 'benchmarks'); import bench_busy\n"
              "proc = bench_busy.busy_process(True).__enter__(); print(proc.pid, flush=True); os._exit(0)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    pid = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state == "Z":  # ended, waiting for init to reap it
            return
        time.sleep(0.2)
    os.kill(pid, 9)
    raise AssertionError("the busy process outlived the benchmark")


def test_cpu_times_reads_the_affinity_cpus_lines_of_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 10 80 0 0 0 0 0 0\n"
                    "cpu0 5 0 5 40 0 0 0 0 0 0\n"
                    "cpu1 5 0 5 30 10 0 0 0 0 0\n"
                    "intr 12345\n")
    assert threads.cpu_times({0, 1}, stat) == (100, 80)  # idle and iowait count as idle
    assert threads.cpu_times({1}, stat) == (50, 40)
    assert threads.cpu_times({0}, tmp_path / "missing") is None


def test_busy_cpus_is_the_share_of_ticks_others_kept_busy_over_the_window(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    readings = iter([(1000, 800), (1200, 900)])  # 200 ticks over two CPUs, 100 of them idle
    assert threads.busy_cpus(0.0, times=lambda: next(readings)) == pytest.approx(1.0)
    assert threads.busy_cpus(0.0, times=lambda: None) is None


@pytest.mark.parametrize("busy, free", [(0.0, 2), (0.3, 2), (0.6, 1), (1.0, 1), (1.9, 1), (None, 2)])
def test_free_cpus_leaves_a_cpu_to_a_process_keeping_half_of_it_busy(monkeypatch, busy, free):
    monkeypatch.setattr(threads, "usable_cpus", lambda *a, **k: 2)
    monkeypatch.setattr(threads, "busy_cpus", lambda *a, **k: busy)
    assert threads.free_cpus() == free


def test_training_threads_take_the_free_cpus_and_give_torch_its_threads_back(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "free_cpus", lambda *a, **k: 1)
    torch.set_num_threads(2)
    try:
        with threads.training_threads("cpu") as n:
            assert n == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with threads.training_threads("cuda") as n:  # a GPU trains: the CPU threads are left alone
            assert n == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # a choice made outside (the grader's share) wins
        with threads.training_threads("cpu") as n:
            assert n == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
