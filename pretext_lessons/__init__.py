"""pretext-lessons: self-supervised learning through pretext tasks, the helpers the lessons import.

The package has four layers, each importing only from those before it:
`core` (data, backbones, training, probes) -> `notebook` (plots, explorers, checks, running
notebooks) -> `tasks` (the pretext tasks and their registry) -> `experiments` (the lessons'
studies); `grading` grades the exercises. The short names below are what the notebooks use.
"""
from .core.data import (FASHION_MNIST_CLASSES, Dataset, check_images, current_dataset, fewshot_split, load_dataset,
                        load_fashion_mnist, load_image_folder, load_photo, load_photos, make_photo_folder,
                        pretrain_split, resolve_dataset, to_float, use_dataset)
from .core.models import activations, evaluating, make_backbone, trunk_of
from .core.probe import fit_linear, layer_features, linear_probe, pool_features
from .core.stats import compare, paired_interval, verdict
from .core.task import PretextNet, PretextTask, SupervisedTask, check_task_batch
from .core.training import (PRESETS, build_net, fit, grading, pretext_accuracy, pretext_predictions, resolve_preset,
                            set_seed, train_or_load, try_device)
from .notebook.plotting import plot_confusion, plot_history, plot_probe, show_images
from .tasks import course_tasks, register_task, registered_tasks
from .core import threads as _threads

_threads.apply()  # torch's threads capped at the CPUs this process may use (affinity mask, container quota)

__version__ = "0.1.0"
