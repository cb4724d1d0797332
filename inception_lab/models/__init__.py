"""Pure-PyTorch Inception networks (no Lightning / Hydra / W&B imports in this package)."""

from inception_lab.models.layers import InceptionNet, InputTooSmallError, ModelDefaults
from inception_lab.models.pretrained import PretrainedCfg, PretrainedError
from inception_lab.models.registry import (
    UnknownModelError,
    accepts_switch,
    canonical_name,
    create_model,
    get_model_constructor,
    list_models,
    model_switches,
    model_variants,
    register_model,
    unknown_switches,
    unregister_model,
)

# Importing the network modules registers them, in this order (list_models()'s order).
# isort: off
from inception_lab.models import googlenet  # noqa: F401  (v1)
from inception_lab.models import bn_inception  # noqa: F401  (bn_inception)
from inception_lab.models import inception_v3  # noqa: F401  (v2, v3)
from inception_lab.models import inception_v4  # noqa: F401  (v4)
from inception_lab.models import inception_resnet  # noqa: F401  (inception_resnet_v1, inception_resnet_v2)
# isort: on

__all__ = [
    "InceptionNet",
    "InputTooSmallError",
    "ModelDefaults",
    "PretrainedCfg",
    "PretrainedError",
    "UnknownModelError",
    "accepts_switch",
    "canonical_name",
    "create_model",
    "get_model_constructor",
    "list_models",
    "model_switches",
    "model_variants",
    "register_model",
    "unknown_switches",
    "unregister_model",
]
