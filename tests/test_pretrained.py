"""Pretrained weights: lab checkpoints and state_dicts of all seven networks, the timm / torchvision / mmpretrain key
maps against the libraries' tensor names (tests/fixtures/pretrained_keys), class-count changes, conventions, and the
timm: / hf-hub: / torchvision: sources resolved from local caches only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import save_file

from inception_lab.config_path import CONFIG_DIR
from inception_lab.models import create_model, list_models
from inception_lab.models import pretrained as P

FIXTURES = Path(__file__).parent / "fixtures" / "pretrained_keys"
SMALL = {"v1": 64, "bn_inception": 64, "v2": 75, "v3": 75, "v4": 75, "inception_resnet_v1": 75,
         "inception_resnet_v2": 75}  # smallest inputs with aux heads off (eval mode runs no aux head)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small tensors: extra intra-op threads only add synchronisation on a shared 2-core CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def logits(model: torch.nn.Module, size: int, in_chans: int = 3, seed: int = 0) -> torch.Tensor:
    x = torch.randn(2, in_chans, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model.eval()(x)


def lab_model(name: str, num_classes: int = 10, **switches) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, width_mult=0.25, **switches)
    with torch.no_grad():  # BN statistics away from (0, 1), so a wrong copy of running stats shows in the logits
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


# ------------------------------------------------------------------------------------------ lab checkpoints
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A real run: ``inception-lab``'s own ``train`` on the embedded digits, v3 at quarter width, two steps."""
    from inception_lab.cli.train import train

    run_dir = tmp_path_factory.mktemp("pretrain") / "run"
    run_dir.mkdir()
    overrides = ["model=v3", "model.width_mult=0.25", "optimizer=sgd", "trainer.max_epochs=1",
                 "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "data.batch_size=8", "logger=none",
                 "~callbacks.throughput", "~callbacks.learning_rate_monitor", f"paths.output_dir={run_dir}"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        train(compose(config_name="config", overrides=overrides))
    path = run_dir / "checkpoints" / "last.ckpt"
    assert path.is_file()
    return path


def test_a_runs_checkpoint_loads_as_pretrained_with_its_switches_and_class_names(tiny_checkpoint):
    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    args = checkpoint["hyper_parameters"]["config"]["model_args"]
    reference = create_model(**args)
    reference.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items()
                               if k.startswith("model.")})
    model = create_model("v3", pretrained=str(tiny_checkpoint))  # width, in_chans, classes from the checkpoint
    assert torch.equal(logits(model, 75, in_chans=args["in_chans"]), logits(reference, 75, in_chans=args["in_chans"]))
    cfg = model.pretrained_cfg
    assert cfg.layout == "lab" and cfg.num_classes == args["num_classes"] and not cfg.head_reset
    assert cfg.class_names == json.loads((tiny_checkpoint.parents[1] / "class_index.json").read_text())["class_names"]
    assert cfg.model_args == args and model.defaults.mean == reference.defaults.mean
    with pytest.raises(P.PretrainedError, match="checkpoint of model=v3, not model=v4"):
        create_model("v4", pretrained=str(tiny_checkpoint))


@pytest.mark.parametrize("name", list_models())
def test_checkpoints_and_state_dicts_of_every_network_load_with_equal_logits(name, tiny_checkpoint, tmp_path):
    """The run's checkpoint as the template (Lightning format, optimizer state and all), holding each network."""
    model = lab_model(name)
    template = torch.load(tiny_checkpoint, weights_only=True)
    args = {"name": name, "num_classes": 10, "in_chans": 3, "width_mult": 0.25}
    template["hyper_parameters"]["config"]["model_args"] = args
    template["state_dict"] = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save(template, tmp_path / "run.ckpt")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, tmp_path / "plain.safetensors")
    torch.save({"model": state}, tmp_path / "nested.pth")
    expected = logits(model, SMALL[name])
    for source, switches in ((tmp_path / "run.ckpt", {}), (tmp_path / "plain.safetensors", {"width_mult": 0.25}),
                             (tmp_path / "nested.pth", {"width_mult": 0.25})):
        loaded = create_model(name, pretrained=str(source), **switches)
        assert torch.equal(logits(loaded, SMALL[name]), expected), source.name
        assert loaded.pretrained_cfg.layout == "lab" and loaded.pretrained_cfg.num_classes == 10


@pytest.mark.parametrize("name", ["v1", "v3", "inception_resnet_v2"])
def test_a_new_class_count_reinitialises_only_the_heads(name, tmp_path):
    source = lab_model(name, aux_logits=True)
    torch.save(source.state_dict(), tmp_path / "w.pth")
    model = create_model(name, pretrained=str(tmp_path / "w.pth"), num_classes=7, width_mult=0.25, aux_logits=True)
    before, after = source.state_dict(), model.state_dict()
    heads = {k for k in after if k.startswith("fc.") or k.rsplit(".", 2)[-2] in {"fc", "fc2"} and
             k.split(".")[0] in {"AuxLogits", "aux1", "aux2"}}
    assert heads and all(after[k].shape[0] == 7 for k in heads)
    assert all(torch.equal(after[k], before[k]) for k in after if k not in heads)
    assert model.pretrained_cfg.head_reset and model.pretrained_cfg.num_classes == 7
    assert model.pretrained_cfg.class_names is None and model.pretrained_cfg.model_args["num_classes"] == 7
    features = lambda m: m.eval().forward_features(torch.ones(1, 3, SMALL[name], SMALL[name]))  # noqa: E731
    with torch.no_grad():
        assert torch.equal(features(model), features(source))


def test_grayscale_input_adapts_the_first_conv(tmp_path):
    source = lab_model("v3")
    torch.save(source.state_dict(), tmp_path / "w.pth")
    gray = create_model("v3", pretrained=str(tmp_path / "w.pth"), in_chans=1, width_mult=0.25)
    x = torch.randn(2, 1, 75, 75)
    with torch.no_grad():  # a grey image is the same picture in every channel
        assert torch.allclose(gray.eval()(x), source(x.expand(-1, 3, -1, -1)), atol=1e-4)


def test_missing_unexpected_and_unknown_tensors_are_one_clear_error(tmp_path):
    state = lab_model("v3").state_dict()
    del state["Mixed_6b.branch1x1.0.weight"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(P.PretrainedError, match=r"lab layout .*missing 1 tensors \(Mixed_6b.branch1x1.0.weight\); "
                                                r"unexpected 1 tensors \(extra.weight\)"):
        create_model("v3", pretrained=str(tmp_path / "broken.pth"), width_mult=0.25)
    torch.save({"encoder.weight": torch.zeros(2)}, tmp_path / "foreign.pth")
    with pytest.raises(P.PretrainedError, match="unrecognised weights layout .*encoder.weight"):
        create_model("v3", pretrained=str(tmp_path / "foreign.pth"))
    torch.save(lab_model("v3").state_dict(), tmp_path / "quarter.pth")
    with pytest.raises(P.PretrainedError, match=r"do not fit InceptionV3 .*stem.Conv2d_1a_3x3.0.weight \(16, 3, 3, 3\) "
                                                r"vs \(32, 3, 3, 3\)"):
        create_model("v3", pretrained=str(tmp_path / "quarter.pth"))  # full width vs the quarter-width file
    (tmp_path / "text.pth").write_text("not a checkpoint")
    for bad, message in ((tmp_path / "nope.pth", "no such file"), (tmp_path / "text.pth", "not a readable")):
        with pytest.raises(P.PretrainedError, match=message):
            create_model("v3", pretrained=str(bad))
    assert issubclass(P.PretrainedError, ValueError)
