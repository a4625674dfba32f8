"""Fast tests of the grader's warm checkpoints (issue 29's speed): trained once, copied, never shared, never waited for."""
import threading

from pretext_lessons.grading.warmup import Warmup, copy_checkpoints, finished_checkpoints


def _train_files(folder, names=("rotation-cnn-a.pt",)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"weights")


def test_only_finished_checkpoints_are_kept_and_copied(tmp_path):
    source = tmp_path / "grader"
    _train_files(source, ("a.pt", "b.partial.pt", "c.pt.123.tmp", "notes.txt"))
    (source / "link.pt").symlink_to(tmp_path / "elsewhere.pt")
    assert [p.name for p in finished_checkpoints(source)] == ["a.pt"]
    dest = tmp_path / "submission" / ".checkpoints"
    assert copy_checkpoints(source, dest) == 1
    (dest / "a.pt").write_bytes(b"poisoned")  # a submission changes its own copy ...
    assert (source / "a.pt").read_bytes() == b"weights"  # ... never the grader's
    assert copy_checkpoints(None, tmp_path / "none") == 0 and not (tmp_path / "none").exists()


def test_an_exercise_is_trained_once_and_only_when_wanted(tmp_path):
    calls = []

    def train(name, folder):
        calls.append(name)
        _train_files(folder)

    warm = Warmup(tmp_path, train, wanted={"01_rotation"})
    assert warm.checkpoints("04_layer_alignment") is None
    first = warm.checkpoints("01_rotation")
    assert first == tmp_path / "01_rotation" and warm.checkpoints("01_rotation") == first
    assert calls == ["01_rotation"]


def test_a_failed_or_empty_warm_up_gives_no_folder(tmp_path):
    def fail(name, folder):
        raise RuntimeError("the release could not run")

    assert Warmup(tmp_path, fail, wanted={"x"}).checkpoints("x") is None
    assert Warmup(tmp_path, lambda name, folder: folder.mkdir(), wanted={"y"}).checkpoints("y") is None


def test_a_grading_thread_never_waits_for_another_ones_warm_up(tmp_path):
    started, release = threading.Event(), threading.Event()

    def slow(name, folder):
        started.set()
        release.wait(10)
        _train_files(folder)

    warm = Warmup(tmp_path, slow, wanted={"01_rotation"})
    results = []
    worker = threading.Thread(target=lambda: results.append(warm.checkpoints("01_rotation")))
    worker.start()
    assert started.wait(10)
    assert warm.checkpoints("01_rotation") is None  # busy elsewhere: this submission trains its own
    release.set()
    worker.join(10)
    assert results == [tmp_path / "01_rotation"] and warm.checkpoints("01_rotation") == results[0]
