"""The registry of the course's pretext tasks: the one list that lessons 4 and 5 loop over.

A task registers itself where it is defined, with the decorator:

    @register_task
    @dataclasses.dataclass
    class ColorizationTask(PretextTask):
        name = "colorization"
        ...

From then on `course_tasks()` returns it beside the lessons' tasks, so the layer-alignment study
(lesson 4) and the capstone's layer report (lesson 6) include it with no other change.

`@register_task(opt_in=True)` registers a task that those grids leave out unless asked for
(`course_tasks(opt_in=True)`): lesson 7's contrastive and masked tasks, so that registering them
changes neither lessons 4 and 5's networks nor their matched budget (the minimum over `course_tasks()`).
"""
from __future__ import annotations

from ..core.task import PretextTask

_REGISTRY: dict[str, type[PretextTask]] = {}
_OPT_IN: set[str] = set()  # names registered with opt_in=True: left out of course_tasks() by default


def register_task(cls: type[PretextTask] | None = None, *, opt_in: bool = False):
    """Lesson 6: add a PretextTask class to the course's tasks under its `name` (a class decorator).

    Registering a class again under the same name replaces the earlier one (a notebook cell run
    twice); another class under a taken name is an error, so two tasks never share checkpoints.
    `@register_task(opt_in=True)`: `course_tasks()` leaves the task out unless called with opt_in=True.
    """
    if not isinstance(opt_in, bool):
        raise TypeError(f"opt_in must be True or False, got {opt_in!r}")
    if cls is None:
        return lambda klass: register_task(klass, opt_in=opt_in)
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
    (_OPT_IN.add if opt_in else _OPT_IN.discard)(name)
    return cls


def unregister_task(name: str) -> None:
    """Lesson 6: remove a task from the course's tasks (e.g. a capstone draft you no longer want in the reports)."""
    if name not in _REGISTRY:
        raise KeyError(f"name must be a registered task, one of {list(_REGISTRY)}; got {name!r}")
    del _REGISTRY[name]
    _OPT_IN.discard(name)


def registered_tasks() -> dict[str, type[PretextTask]]:
    """Lesson 4: the registered task classes by name, in the order they registered (the lessons' order first)."""
    return dict(_REGISTRY)


def course_tasks(opt_in: bool = False) -> dict[str, PretextTask]:
    """Lesson 4: one instance of every registered task in its default configuration, by name.

    Tasks registered with `opt_in=True` (lesson 7's) are included only with opt_in=True.
    """
    if not isinstance(opt_in, bool):
        raise TypeError(f"opt_in must be True or False, got {opt_in!r}")
    return {name: cls() for name, cls in _REGISTRY.items() if opt_in or name not in _OPT_IN}
