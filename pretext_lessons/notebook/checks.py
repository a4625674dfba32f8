"""Checks for exercise test cells: each failure says what was expected and what came."""
from __future__ import annotations

import hashlib

import torch


class CheckFailed(AssertionError):
    """A failed exercise check; its message tells the student what to fix."""


def expect(condition, message: str) -> None:
    """Fail with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)


def expect_tensor(x, name: str, shape=None, dtype=None) -> torch.Tensor:
    """Check that `x` is a tensor with the given shape (None entries match anything) and dtype."""
    expect(isinstance(x, torch.Tensor), f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if dtype is not None:
        expect(x.dtype == dtype, f"{name}: expected dtype {dtype}, got {x.dtype}")
    if shape is not None:
        ok = x.dim() == len(shape) and all(s is None or s == t for s, t in zip(shape, x.shape))
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        expect(ok, f"{name}: expected shape {want}, got {tuple(x.shape)}")
    return x


def expect_labels(y, name: str, num_classes: int) -> torch.Tensor:
    """Check pseudo labels: a 1-D int64 tensor with values in 0..num_classes-1."""
    expect_tensor(y, name, shape=(None,), dtype=torch.int64)
    if len(y):
        lo, hi = int(y.min()), int(y.max())
        expect(lo >= 0 and hi < num_classes,
               f"{name}: expected labels in 0..{num_classes - 1}, got values from {lo} to {hi}")
    return y


def expect_close(actual, expected, name: str, atol: float = 1e-5) -> None:
    """Check two tensors agree element-wise; report the worst position."""
    expect_tensor(actual, name, shape=tuple(expected.shape))
    diff = (actual.double() - expected.double()).abs()
    worst = int(diff.argmax()) if diff.numel() else 0
    expect(diff.numel() == 0 or float(diff.max()) <= atol,
           f"{name}: differs from the expected values by up to {float(diff.max()) if diff.numel() else 0:.3g} "
           f"(first worst at flat index {worst}; tolerance {atol})")


STUDENT_ID_NAME = "STUDENT_ID"  # the variable an exercise's `student` answer cell sets


def variant_seed(student_id, question: str) -> int:
    """The seed of one question's data for one student: the same wherever the notebook runs.

    Drawn from the `STUDENT_ID` the student types into the notebook (not from the file's name: the
    graders run a copy under another name), so the self-check, the course's grader and nbgrader's
    autograde all draw the same numbers, and two students draw different ones. Case and surrounding
    spaces are ignored ("JDoe " and "jdoe" are one student).
    """
    if not isinstance(student_id, str) or not student_id.strip():
        raise ValueError(f"{STUDENT_ID_NAME} must be your student id, a non-empty string such as \"jdoe7\", "
                         f"got {student_id!r}: set it in the cell near the top of the notebook and run that cell")
    if not isinstance(question, str) or not question:
        raise ValueError(f"question must name the question (e.g. 'q5'), got {question!r}")
    digest = hashlib.sha256(f"{student_id.strip().lower()}\n{question}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def variant_generator(student_id, question: str) -> torch.Generator:
    """A torch.Generator seeded with `variant_seed(student_id, question)`, for a question's data."""
    return torch.Generator().manual_seed(variant_seed(student_id, question))
