"""amp='auto' on a CPU: bf16 only where the CPU has it natively and a measured step was faster, measured once per machine."""
import pytest
import torch

from pretext_lessons.core import precision, training

CPU = torch.device("cpu")


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A fresh cache folder and process memory; the machine's ratio given by the test, its measurements counted."""
    monkeypatch.setenv("PRETEXT_LESSONS_DATA", str(tmp_path))
    monkeypatch.delenv(precision.BF16_VARIABLE, raising=False)
    for variable in training.GRADING_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(precision, "_decided", {})
    monkeypatch.setattr(precision, "crowded", lambda: False)
    calls, state = [], dict(native=True, ratio=1.0)
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: state["native"])

    def measured():
        calls.append(1)
        return state["ratio"]
    monkeypatch.setattr(precision, "bf16_step_ratio", measured)
    return state, calls


def test_native_bf16_that_measures_slower_trains_in_fp32(machine):
    state, calls = machine
    state["ratio"] = 1.64  # the course's CNN on a CPU with AMX, as measured in the first round
    assert training.autocast_dtype(CPU, "auto") is None
    assert precision.measured_bf16()["ratio"] == 1.64
    assert training.autocast_dtype(CPU, True) == torch.bfloat16  # asked for by name: bf16 whatever it costs


def test_native_bf16_that_measures_faster_trains_in_bf16_and_a_tie_does_not(machine, monkeypatch):
    state, calls = machine
    state["ratio"] = 0.6
    assert training.autocast_dtype(CPU, "auto") == torch.bfloat16
    monkeypatch.setattr(precision, "_decided", {})
    monkeypatch.setattr(precision, "machine_key", lambda: dict(cpu="another"))
    state["ratio"] = 0.95
    assert training.autocast_dtype(CPU, "auto") is None and len(calls) == 2


def test_the_check_runs_once_per_machine_and_is_remembered_across_processes(machine, monkeypatch):
    state, calls = machine
    state["ratio"] = 0.5
    for _ in range(3):
        assert precision.bf16_faster_on_cpu()
    assert len(calls) == 1
    monkeypatch.setattr(precision, "_decided", {})  # a new process: read from the cache folder
    state["ratio"] = 2.0
    assert precision.bf16_faster_on_cpu() and len(calls) == 1
    file, = precision.machine_dir().glob("bf16-*.json")
    file.write_text("{ half written")
    monkeypatch.setattr(precision, "_decided", {})
    assert not precision.bf16_faster_on_cpu() and len(calls) == 2  # unreadable: measured again


def test_no_measurement_without_native_bf16_nor_under_grading_and_the_variable_decides(machine, monkeypatch):
    state, calls = machine
    state["native"], state["ratio"] = False, 0.5
    assert training.autocast_dtype(CPU, "auto") is None
    state["native"] = True
    monkeypatch.setenv(training.GRADING_VARIABLES[0], "1")
    assert training.autocast_dtype(CPU, "auto") is None and calls == []
    monkeypatch.delenv(training.GRADING_VARIABLES[0])
    monkeypatch.setenv(precision.BF16_VARIABLE, "0")
    assert training.autocast_dtype(CPU, "auto") is None and calls == []
    monkeypatch.setenv(precision.BF16_VARIABLE, "1")
    assert training.autocast_dtype(CPU, "auto") == torch.bfloat16 and calls == []
    monkeypatch.setenv(precision.BF16_VARIABLE, "yes")
    with pytest.raises(ValueError, match="PRETEXT_LESSONS_CPU_BF16 must be"):
        precision.bf16_faster_on_cpu()


def test_a_crowded_cpu_is_not_measured_and_trains_in_fp32_until_a_quiet_moment(machine, monkeypatch):
    state, calls = machine
    state["ratio"] = 0.5
    monkeypatch.setattr(precision, "crowded", lambda: True)
    assert training.autocast_dtype(CPU, "auto") is None and calls == [] and precision.measured_bf16() is None
    monkeypatch.setattr(precision, "crowded", lambda: False)
    assert training.autocast_dtype(CPU, "auto") == torch.bfloat16 and len(calls) == 1


def test_crowded_compares_the_load_with_the_usable_cpus(monkeypatch):
    monkeypatch.setattr(precision, "usable_cpus", lambda: 2)
    monkeypatch.setattr(precision.os, "getloadavg", lambda: (1.5, 0.0, 0.0))
    assert not precision.crowded()
    monkeypatch.setattr(precision.os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    assert precision.crowded()


def test_the_measurement_times_both_precisions():
    ratio = precision.bf16_step_ratio(steps=1, rounds=1, batch_size=16)
    assert 0 < ratio < 100
    key = precision.machine_key()
    assert key["threads"] == torch.get_num_threads() and key["torch"] == torch.__version__
