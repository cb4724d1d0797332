"""Regenerate tests/fixtures/pretrained_keys/*.json: every tensor name -> shape of the state_dicts the published
weights use, taken from timm's and torchvision's own models. Run where both import:
``python tools/pretrained_keys.py``.

The files hold names and shapes only (no weights). tests/test_pretrained.py checks the lab key maps against them:
every fixture tensor mapped, shapes equal, nothing of the lab network left over. mmpretrain's Inception-v3 keeps
torchvision's module names under ``backbone.`` (its ``InceptionV3`` backbone, ``ClsHead`` without parameters); it is
built from mmpretrain when that imports, else written from torchvision's names with that prefix.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pretrained_keys"


def shapes(model) -> dict[str, list[int]]:
    return {name: list(tensor.shape) for name, tensor in model.state_dict().items()}


def networks() -> dict[str, dict[str, list[int]]]:
    import timm
    import torchvision

    out = {
        # timm's TF-ported tags (tf_in1k, tf_adv_in1k, gluon_in1k) have no aux head; tv_in1k is torchvision's file.
        "timm_inception_v3": shapes(timm.create_model("inception_v3", pretrained=False)),
        "timm_inception_v4": shapes(timm.create_model("inception_v4", pretrained=False)),
        "timm_inception_resnet_v2": shapes(timm.create_model("inception_resnet_v2", pretrained=False)),
        # torchvision's published files hold the aux heads (the loader builds with aux_logits=True to read them).
        "torchvision_inception_v3": shapes(torchvision.models.Inception3(aux_logits=True, init_weights=False)),
        "torchvision_googlenet": shapes(torchvision.models.GoogLeNet(aux_logits=True, init_weights=False)),
    }
    try:
        from mmpretrain.models.backbones import InceptionV3

        out["mmpretrain_inception_v3"] = {f"backbone.{k}": v for k, v in shapes(InceptionV3(aux_logits=False)).items()}
    except ImportError:
        out["mmpretrain_inception_v3"] = {f"backbone.{k}": v for k, v in out["torchvision_inception_v3"].items()
                                          if not k.startswith("AuxLogits.")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, table in networks().items():
        path = args.out / f"{name}.json"
        rows = ",\n".join(f"  {json.dumps(key)}: {json.dumps(shape)}" for key, shape in table.items())
        path.write_text("{\n" + rows + "\n}\n")  # one tensor a line: diffs stay readable
        print(f"{path}: {len(table)} tensors")


if __name__ == "__main__":
    main()
