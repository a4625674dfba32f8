"""The pretext tasks, one module each, and the registry that lists them.

Every task module has the same four parts (docs/CONVENTIONS.md): 1. labels, a function
`f(X, generator=None, **options)`; 2. the batch transform, a `PretextTask` dataclass whose
`make_batch` calls it, registered with `@register_task`; 3. its network (`build_net`: the default
linear head, or a `MultiPartNet` where the task cuts its input into parts); 4. its visualisation:
`*_probabilities(net, inputs)`, pure `plot_*` functions and an `*_explorer(net, images, ...)`.

`tasks` imports only from `core`, `notebook` and `tasks`. Importing it registers the lessons'
tasks in lesson order.
"""
from ..core.task import MultiPartNet, PretextNet, PretextTask, SupervisedTask, check_task_batch
from .registry import classic_tasks, course_tasks, register_task, registered_tasks, unregister_task
from . import rotation, jigsaw, relative_position  # noqa: E402  (registration order is lesson order)
from . import contrastive, masked  # noqa: E402  (lesson 7's, opt-in: not in lessons 4-5's grids)
from .jigsaw import JigsawTask
from .relative_position import RelativePositionTask
from .rotation import RotationTask
from .contrastive import ContrastiveTask
from .masked import MaskedTask

__all__ = ["MultiPartNet", "PretextNet", "PretextTask", "SupervisedTask", "check_task_batch", "classic_tasks", "course_tasks", "register_task",
           "registered_tasks", "unregister_task", "RotationTask", "JigsawTask", "RelativePositionTask",
           "rotation", "jigsaw", "relative_position",
           "ContrastiveTask", "MaskedTask", "contrastive", "masked"]
