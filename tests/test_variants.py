"""Per-student variants: question data drawn from the STUDENT_ID typed into the notebook (issue 16)."""
import ast
import subprocess
import sys

import pytest
import torch

from pretext_lessons.grading.cells import (declared_student_id, is_answer, read_notebook, uses_student_id,
                                           with_student_id)
from pretext_lessons.grading.release import SOLUTIONS, release_notebook
from pretext_lessons.notebook.checks import variant_generator, variant_seed

VARIANT_EXERCISES = [p for p in sorted(SOLUTIONS.glob("*.ipynb")) if uses_student_id(read_notebook(p))]


def variant_functions(nb) -> list[ast.FunctionDef]:
    """The functions of an exercise's fixed cells that draw from variant_generator: one per variant question."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or is_answer(cell):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(n, ast.Name) and n.id == "variant_generator" for n in ast.walk(node)):
                found.append(node)
    return found


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def test_the_seed_depends_on_the_id_and_the_question_only():
    assert variant_seed("alice", "q2") == variant_seed("  Alice ", "q2")  # case and spaces: one student
    assert variant_seed("alice", "q2") != variant_seed("bob", "q2")
    assert variant_seed("alice", "q2") != variant_seed("alice", "q3")
    a = torch.rand(3, generator=variant_generator("alice", "q2"))
    assert torch.equal(a, torch.rand(3, generator=variant_generator("alice", "q2")))


def test_the_seed_is_the_same_in_another_process():
    # the graders run the notebook in other processes: no per-process hash salt may enter the seed
    code = "from pretext_lessons.notebook.checks import variant_seed; print(variant_seed('alice', 'q2'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", **__import__("os").environ})
    assert int(out.stdout) == variant_seed("alice", "q2")


@pytest.mark.parametrize("bad", ["", "   ", None, 7])
def test_a_missing_student_id_says_where_to_set_it(bad):
    with pytest.raises(ValueError, match="STUDENT_ID must be your student id"):
        variant_seed(bad, "q2")


def test_the_declared_id_is_read_from_the_answer_cell_text():
    nb = read_notebook(VARIANT_EXERCISES[0]) if VARIANT_EXERCISES else pytest.skip("no variant exercise")
    assert declared_student_id(with_student_id(nb, "jdoe7")) == "jdoe7"
    assert declared_student_id(release_notebook(nb)) is None  # the stub sets nothing
    computed = with_student_id(nb, "x")
    next(c for c in computed.cells if c.source == "STUDENT_ID = 'x'").source = "STUDENT_ID = 'x'.upper()"
    assert declared_student_id(computed) is None  # only a plain string counts


def test_the_course_has_variant_exercises():
    assert VARIANT_EXERCISES, "no exercise in solutions/ sets a STUDENT_ID"


@pytest.mark.parametrize("path", VARIANT_EXERCISES, ids=lambda p: p.stem)
def test_two_students_get_different_data_for_every_variant_question(path):
    nb = read_notebook(path)
    functions = variant_functions(nb)
    assert functions, f"{path.name} sets a STUDENT_ID but no fixed cell draws from variant_generator"
    setup = next(c for c in nb.cells if c.cell_type == "code")  # the settings cell: imports the helpers
    namespace: dict = {}
    exec(compile(setup.source, f"{path.name}:settings", "exec"), namespace)
    exec(compile(ast.Module(body=functions, type_ignores=[]), f"{path.name}:variants", "exec"), namespace)
    for function in functions:
        draw = namespace[function.name]
        alice, bob = draw("alice"), draw("bob")
        assert same(alice, draw("alice")), f"{function.name}: the same id must draw the same data"
        assert not same(alice, bob), f"{function.name}: two students drew the same data"


def test_every_exercise_with_a_read_a_result_question_draws_it_per_student():
    # reading a result is a choice or a number: one shared answer is shared by a class in an hour
    from pretext_lessons.grading.catalog import catalog

    for name, ex in catalog().items():
        if any(i["kind"] == "read-a-result" for i in ex.items()):
            assert ex.path in VARIANT_EXERCISES, f"{name} has a read-a-result question but sets no STUDENT_ID"
