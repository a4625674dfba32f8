"""pretext-lessons: self-supervised learning through pretext tasks, the helpers the lessons import."""
from .data import (FASHION_MNIST_CLASSES, check_images, fewshot_split, load_dataset, load_fashion_mnist,
                   load_image_folder, load_photo, load_photos, pretrain_split, to_float)
from .models import activations, count_parameters, make_backbone, trunk_of
from .plotting import plot_confusion, plot_history, plot_probe, show_images
from .probe import fit_linear, layer_features, linear_probe, pool_features
from .tasks import PretextNet, PretextTask, SupervisedTask, check_task_batch
from .training import (PRESETS, build_net, fit, grading, pretext_accuracy, pretext_predictions, resolve_preset,
                       set_seed, train_or_load, try_device)

__version__ = "0.1.0"
