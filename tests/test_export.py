"""``inception-lab-export``: ONNX files that compute what the PyTorch network computes, for every family."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import TINY

onnx = pytest.importorskip("onnx", reason="needs the [export] extra")
ort = pytest.importorskip("onnxruntime", reason="needs the [export] extra")
pytest.importorskip("onnxscript", reason="needs the [export] extra")

from inception_lab.export import CheckFailed, check_file, export_file, real_batch  # noqa: E402
from inception_lab.models import create_model, list_models  # noqa: E402

pytestmark = pytest.mark.slow

DIGITS = {"_target_": "inception_lab.data.DigitsDataModule", "image_size": 75, "batch_size": 8, "num_workers": 0}


@pytest.mark.parametrize("name", list_models())
def test_every_network_exports_with_a_dynamic_batch_and_matches_pytorch(name, tmp_path):
    # 75 px is odd: the TF-SAME pads of GoogLeNet and BN-Inception, computed from the input's shape, are uneven
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_chans=1, width_mult=0.25).eval()
    batch, _ = real_batch(DIGITS, model.defaults, None, batch_size=8)
    path = tmp_path / "model.onnx"
    export_file(model, batch.images, path, "onnx")

    check = check_file(model, path, "onnx", batch.images, atol=1e-4)  # on the batch of 8 and on one image
    print(f"{name}: max abs diff {check['max_abs_diff']:.3g} (largest logit {check['max_abs_logit']:.3g})")
    assert check["top1_agrees"] and check["batch_sizes"] == [8, 1]

    graph_input = onnx.load(str(path)).graph.input[0]
    dims = graph_input.type.tensor_type.shape.dim
    assert graph_input.name == "input" and dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 75, 75]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": batch.images[:3].numpy()})[0].shape == (3, 10)
    with pytest.raises(Exception, match="dimension|Dimension"):  # the spatial size (and its padding) is fixed
        session.run(None, {"input": torch.zeros(1, 1, 79, 79).numpy()})


def test_a_check_above_the_tolerance_fails(tmp_path):
    model = create_model("v1", num_classes=10, in_chans=1, width_mult=0.25).eval()
    batch, _ = real_batch(DIGITS, model.defaults, None, batch_size=4)
    path = tmp_path / "model.pt2"
    export_file(model, batch.images, path, "pt2")
    assert check_file(model, path, "pt2", batch.images, atol=1e-5)["max_abs_diff"] <= 1e-5
    with torch.no_grad():
        model.fc.bias.add_(1e-3)  # the file now differs from the network by 1e-3 in every logit
    with pytest.raises(CheckFailed, match="differ from PyTorch's by up to"):
        check_file(model, path, "pt2", batch.images, atol=1e-4)


@pytest.fixture(scope="module")
def trained_v1(tmp_path_factory):
    """A real GoogLeNet run on the digits (its checkpoint, class index and results.json)."""
    from conftest import run_cli

    root = tmp_path_factory.mktemp("export")
    proc = run_cli(["model=v1", "logger=none", *TINY, f"hydra.run.dir={root}/run"], cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "run"


def test_export_cli_writes_onnx_and_its_input_conventions_beside_the_run(trained_v1, tmp_path):
    from conftest import run_cli

    proc = run_cli([f"ckpt={trained_v1}"], cwd=tmp_path, script="inception-lab-export")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    path = trained_v1 / "export" / "model.onnx"
    spec = json.loads((trained_v1 / "export" / "model.onnx.json").read_text())
    assert path.is_file() and "max abs diff" in proc.stdout
    assert spec["input"]["shape"] == ["batch", 1, 75, 75] and spec["input"]["layout"] == "NCHW"
    assert spec["input"]["mean"] == [0.5] and spec["input"]["std"] == [0.5]  # GoogLeNet's [-1, 1] scaling
    assert spec["class_names"] == [str(d) for d in range(10)] and spec["output"]["name"] == "logits"
    assert spec["check"]["max_abs_diff"] <= spec["check"]["atol"] and spec["check"]["top1_agrees"]
    assert spec["source"]["checkpoint"] == str(trained_v1 / "checkpoints" / "last.ckpt")

    # the file alone reproduces the run's own validation prediction, from the conventions beside it
    from inception_lab.checkpoints import load_checkpoint
    from inception_lab.data import DigitsDataModule

    data = DigitsDataModule(image_size=spec["input"]["size"], batch_size=16)
    data.set_normalization(spec["input"]["mean"], spec["input"]["std"])
    data.setup("validate")
    images = torch.stack([data.val_set[i][0] for i in range(16)])
    x = data.device_transform(images, training=False)
    logits = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        expected = load_checkpoint(trained_v1).model(x)
    assert torch.allclose(torch.from_numpy(logits), expected, atol=1e-4)

    before = path.read_bytes()
    again = run_cli([f"ckpt={trained_v1}"], cwd=tmp_path, script="inception-lab-export")
    assert again.returncode == 2 and "error:" in again.stderr and "export.overwrite=true" in again.stderr
    assert path.read_bytes() == before  # the earlier export is untouched


def test_export_cli_failed_check_writes_nothing(trained_v1, tmp_path):
    from conftest import run_cli

    out = tmp_path / "strict.onnx"
    proc = run_cli([f"ckpt={trained_v1}", f"export.output={out}", "export.atol=0"], cwd=tmp_path,
                   script="inception-lab-export")
    assert proc.returncode == 1 and "error:" in proc.stderr and "export.atol=0" in proc.stderr, proc.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one is left


def test_export_cli_bad_input_is_one_error_line(tmp_path):
    from conftest import run_cli

    missing = run_cli([], cwd=tmp_path, script="inception-lab-export")
    assert missing.returncode == 2 and "error: ckpt is required" in missing.stderr
    foreign = tmp_path / "x.ckpt"
    foreign.write_text("not a checkpoint")
    bad = run_cli([f"ckpt={foreign}"], cwd=tmp_path, script="inception-lab-export")
    assert bad.returncode == 2 and bad.stderr.count("error:") == 1 and "Traceback" not in bad.stderr
