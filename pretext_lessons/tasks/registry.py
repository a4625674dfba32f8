"""The registry of the course's pretext tasks: the one list that lessons 4 to 6 loop over.

A task registers itself where it is defined, with the decorator:

    @register_task
    @dataclasses.dataclass
    class ColorizationTask(PretextTask):
        name = "colorization"
        ...

From then on `course_tasks()` returns it beside the lessons' tasks, so the layer-alignment study
(lesson 4), the downstream suite (lesson 5) and the capstone's layer report (lesson 6) include it
with no other change. A task that those lessons should not include by default (a later lesson's
task, say) registers with `@register_task(in_course=False)`: `registered_tasks()` lists it,
`course_tasks()` leaves it out unless asked by name (`course_tasks(extra=("contrastive",))`).
Adding a task changes no other network: lesson 4's matched budget is fixed per preset
(`experiments.budgets.MATCHED_BUDGETS`), not derived from the registered tasks. Every task module
in `tasks/` is imported by `tasks/__init__.py` (a test fails when one defines a PretextTask that is
not registered there).
"""
from __future__ import annotations

from ..core.task import PretextTask

_REGISTRY: dict[str, type[PretextTask]] = {}
_OPT_IN: set[str] = set()  # registered with in_course=False: lessons 4 to 6 include them only when asked


def register_task(cls: type[PretextTask] | None = None, *, in_course: bool = True):
    """Add a PretextTask class to the course's tasks under its `name` (a class decorator).

    `@register_task` adds it to `course_tasks()`, which lessons 4 to 6 loop over;
    `@register_task(in_course=False)` registers it for `registered_tasks()` only (an opt-in task:
    `course_tasks(extra=(name,))` adds it). Registering a class again under the same name replaces
    the earlier one (a notebook cell run twice); another class under a taken name is an error, so
    two tasks never share checkpoints.
    """
    if not isinstance(in_course, bool):
        raise TypeError(f"in_course must be True or False, got {in_course!r}")
    if cls is None:
        return lambda c: register_task(c, in_course=in_course)
    if not (isinstance(cls, type) and issubclass(cls, PretextTask)):
        raise TypeError(f"register_task takes a PretextTask subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or name == PretextTask.name:
        raise ValueError(f"{cls.__name__} must set a class attribute `name` of its own (e.g. name = \"colorization\"), "
                         f"got {name!r}")
    old = _REGISTRY.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"task name {name!r} is taken by {old.__module__}.{old.__qualname__}; "
                         f"give {cls.__name__} another name")
    _REGISTRY[name] = cls
    if in_course:
        _OPT_IN.discard(name)
    else:
        _OPT_IN.add(name)
    return cls


def unregister_task(name: str) -> None:
    """Remove a task from the course's tasks (e.g. a capstone draft you no longer want in the reports)."""
    if name not in _REGISTRY:
        raise KeyError(f"name must be a registered task, one of {list(_REGISTRY)}; got {name!r}")
    del _REGISTRY[name]
    _OPT_IN.discard(name)


def registered_tasks() -> dict[str, type[PretextTask]]:
    """Every registered task class by name, opt-in ones included, in the order they registered (the lessons' order first)."""
    return dict(_REGISTRY)


def course_tasks(extra=()) -> dict[str, PretextTask]:
    """One instance of every task lessons 4 to 6 include, in its default configuration, by name.

    Those are the tasks registered with `in_course=True` (the default), in registration order, then
    the opt-in tasks named in `extra`.
    """
    if isinstance(extra, str):
        extra = (extra,)
    unknown = [name for name in extra if name not in _REGISTRY]
    if unknown:
        raise ValueError(f"extra must name registered tasks among {list(_REGISTRY)}; got {unknown}")
    return {name: cls() for name, cls in _REGISTRY.items() if name not in _OPT_IN or name in extra}


def classic_tasks() -> dict[str, PretextTask]:
    """The course's own tasks in lessons 4 to 6 (registered by the modules of `pretext_lessons.tasks`), by name.

    `course_tasks()` without the tasks registered elsewhere (yours), in lesson order: what a new task is compared with.
    """
    return {name: task for name, task in course_tasks().items() if type(task).__module__.startswith(__package__ + ".")}
