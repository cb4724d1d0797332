"""Pretrained weights: lab checkpoints and state_dicts of all seven networks, the timm / torchvision / mmpretrain key
maps against the libraries' tensor names (tests/fixtures/pretrained_keys), class-count changes, conventions, and the
timm: / hf-hub: / torchvision: sources resolved from local caches only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from conftest import compose_cfg, run_cli
from inception_lab.models import create_model, list_models
from inception_lab.models import pretrained as P

FIXTURES = Path(__file__).parent / "fixtures" / "pretrained_keys"
SMALL = {"v1": 64, "bn_inception": 64, "v2": 75, "v3": 75, "v4": 75, "inception_resnet_v1": 75,
         "inception_resnet_v2": 75}  # smallest inputs with aux heads off (eval mode runs no aux head)


pytestmark = pytest.mark.usefixtures("one_thread")


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
    train(compose_cfg("config", overrides))
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
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "ddp.pt")  # a DDP-wrapped network's
    expected = logits(model, SMALL[name])
    quarter = {"width_mult": 0.25}  # a plain state_dict does not say how it was built
    for source, switches in ((tmp_path / "run.ckpt", {}), (tmp_path / "plain.safetensors", quarter),
                             (tmp_path / "nested.pth", quarter), (tmp_path / "ddp.pt", quarter)):
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
    def features(m):
        return m.eval().forward_features(torch.ones(1, 3, SMALL[name], SMALL[name]))

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


# ------------------------------------------------------------------------- foreign layouts: key maps vs fixtures
#: fixture -> (lab model, aux heads in the file, how the source saves it)
FOREIGN = {
    "timm_inception_v3": ("v3", False, "safetensors"),
    "torchvision_inception_v3": ("v3", True, "pth"),
    "mmpretrain_inception_v3": ("v3", False, "mmpretrain"),
    "torchvision_googlenet": ("v1", True, "pth"),
    "timm_inception_v4": ("v4", False, "safetensors"),
    "timm_inception_resnet_v2": ("inception_resnet_v2", False, "safetensors"),
}
#: A few tensors per source traced by hand through both codes (the key maps are written module by module).
ANCHORS = {
    "timm_inception_v3": {"Mixed_7c.branch3x3dbl_3b.bn.running_var": "Mixed_7c.branch3x3dbl_2b.1.running_var",
                          "Mixed_6e.branch7x7dbl_5.conv.weight": "Mixed_6e.branch7x7dbl.4.0.weight",
                          "Conv2d_4a_3x3.conv.weight": "stem.Conv2d_4a_3x3.0.weight"},
    "torchvision_inception_v3": {"AuxLogits.conv1.conv.weight": "AuxLogits.conv1.0.weight",
                                 "Mixed_7a.branch7x7x3_4.bn.bias": "Mixed_7a.branch7x7x3.3.1.bias"},
    "mmpretrain_inception_v3": {"backbone.fc.weight": "fc.weight",
                                "backbone.Mixed_5b.branch_pool.conv.weight": "Mixed_5b.branch_pool.1.0.weight"},
    "torchvision_googlenet": {"inception4e.branch4.1.conv.weight": "inception4e.branch4.1.0.weight",
                              "aux2.fc2.bias": "aux2.fc2.bias", "conv3.bn.weight": "stem.conv3.1.weight"},
    "timm_inception_v4": {"features.3.conv.conv.weight": "stem.Mixed_3a.branches.1.0.weight",
                          "features.21.branch2_3b.conv.weight": "Mixed_7d.branch2_3x1.0.weight",
                          "features.17.branch3.1.bn.running_mean": "Mixed_6h.branches.3.1.1.running_mean",
                          "last_linear.bias": "fc.bias"},
    "timm_inception_resnet_v2": {"repeat_1.19.conv2d.weight": "Repeat_1.19.conv.weight",
                                 "block8.branch1.2.conv.weight": "Block8.branches.1.2.0.weight",
                                 "conv2d_7b.bn.running_var": "Conv2d_7b_1x1.1.running_var",
                                 "classif.weight": "fc.weight"},
}


def fixture(name: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v) for k, v in json.loads((FIXTURES / f"{name}.json").read_text()).items()}


@pytest.mark.parametrize("name", FOREIGN)
def test_key_map_covers_the_source_state_dict_exactly(name):
    """Every tensor of the library's state_dict maps to a lab tensor of the same shape, and the lab network the
    layout asks for has no tensor left over."""
    from inception_lab.models.cost import build_meta

    table = fixture(name)
    model, aux, _ = FOREIGN[name]
    net = P.detect_layout(table)
    assert (net.layout, net.model) == (name.split("_", 1)[0], model)
    mapping = P.expand(net.pairs())
    own = {k: tuple(v.shape) for k, v in build_meta(model, aux_logits=aux, **net.switches).state_dict().items()}
    assert set(table) <= set(mapping)
    assert {mapping[k][0] for k in table} == set(own)  # one to one onto the lab network
    assert len({mapping[k][0] for k in table}) == len(table)
    assert {k: table[k] for k in table} == {k: own[mapping[k][0]] for k in table}
    assert all(mapping[k][0] == lab for k, lab in ANCHORS[name].items())
    if not aux:  # the map's aux entries are exactly what the file would add with aux heads (torchvision-named)
        assert not [k for k in mapping if k not in table and mapping[k][1] not in {"aux", "aux_head"}]


def synthetic_file(name: str, path: Path, classes: int | None = None) -> dict[str, torch.Tensor]:
    """Random tensors of the fixture's names and shapes, saved as the source saves them."""
    generator = torch.Generator().manual_seed(1)
    state = {}
    for key, shape in fixture(name).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.05
        if classes and key.split(".")[-2] in {"fc", "fc2", "last_linear", "classif"}:
            state[key] = torch.randn((classes, *shape[1:]), generator=generator) * 0.05
    fmt = FOREIGN[name][2]
    if fmt == "safetensors":
        save_file(state, path)
    elif fmt == "mmpretrain":
        torch.save({"meta": {"epoch": 100}, "state_dict": state}, path)
    else:
        torch.save(state, path)
    return state


@pytest.mark.parametrize("name", FOREIGN)
def test_a_file_in_each_foreign_layout_lands_on_the_right_lab_tensors(name, tmp_path):
    model_name, aux, fmt = FOREIGN[name]
    path = tmp_path / f"{name}.{'safetensors' if fmt == 'safetensors' else 'pth'}"
    state = synthetic_file(name, path)
    model = create_model(model_name, pretrained=str(path))  # no switch given: the layout sets them
    own = model.state_dict()
    mapping = P.expand(P.detect_layout(state).pairs())
    assert all(torch.equal(own[mapping[k][0]], v) for k, v in state.items())
    cfg = model.pretrained_cfg
    assert cfg.layout == name.split("_", 1)[0] and cfg.num_classes == 1000 and cfg.class_names[0] == "n01440764"
    assert cfg.class_names == sorted(cfg.class_names) and len(set(cfg.class_names)) == 1000
    assert model.has_aux_heads == aux and model.defaults.mean == cfg.mean
    if model_name == "v3":
        pools = [m for m in model.modules() if isinstance(m, torch.nn.AvgPool2d) and m.stride == 1]
        assert pools and all(p.count_include_pad for p in pools)  # how torchvision / timm / mmpretrain pool
    if model_name == "v1":
        assert model.variant == "torchvision"


def test_published_conventions_per_source(tmp_path):
    expected = {  # mean, crop fraction, interpolation, input size
        "timm_inception_v3": ((0.5,) * 3, 0.875, "bicubic", 299),
        "torchvision_inception_v3": ((0.5,) * 3, round(299 / 342, 6), "bilinear", 299),  # transform_input=True
        "mmpretrain_inception_v3": ((0.485, 0.456, 0.406), round(299 / 342, 6), "bilinear", 299),
        "torchvision_googlenet": ((0.5,) * 3, 0.875, "bilinear", 224),
        "timm_inception_v4": ((0.5,) * 3, 0.875, "bicubic", 299),
        "timm_inception_resnet_v2": ((0.5,) * 3, 0.8975, "bicubic", 299),
    }
    for name, (mean, crop, interpolation, size) in expected.items():
        path = tmp_path / f"{name}.{'safetensors' if FOREIGN[name][2] == 'safetensors' else 'pth'}"
        synthetic_file(name, path)
        with torch.device("meta"):
            cfg = create_model(FOREIGN[name][0], pretrained=str(path)).pretrained_cfg
        assert (cfg.mean, cfg.crop_pct, cfg.interpolation, cfg.input_size) == (mean, crop, interpolation, size), name


def test_tf_slim_background_class_is_dropped_or_kept(tmp_path):
    path = tmp_path / "v4_1001.safetensors"
    state = synthetic_file("timm_inception_v4", path, classes=1001)
    with torch.device("meta"):
        kept = create_model("v4", pretrained=str(path), num_classes=1001)
    assert kept.pretrained_cfg.label_offset == 1 and kept.fc.out_features == 1001
    model = create_model("v4", pretrained=str(path))
    assert model.fc.out_features == 1000 and model.pretrained_cfg.label_offset == 0
    assert torch.equal(model.fc.weight, state["last_linear.weight"][1:])
    assert torch.equal(model.fc.bias, state["last_linear.bias"][1:])
    assert model.pretrained_cfg.source_num_classes == 1001


def test_a_layout_for_another_network_is_refused(tmp_path):
    path = tmp_path / "googlenet.pth"
    synthetic_file("torchvision_googlenet", path)
    with pytest.raises(P.PretrainedError, match="torchvision weights of model=v1, not model=v3; use model=v1"):
        create_model("v3", pretrained=str(path))
    state = torch.load(path, weights_only=True)
    del state["inception5b.branch2.1.conv.weight"]
    torch.save(state, path)
    with pytest.raises(P.PretrainedError, match=r"torchvision layout for GoogLeNet: missing 1 tensors "
                                                r"\(inception5b.branch2.1.0.weight\)"):
        create_model("v1", pretrained=str(path))


# --------------------------------------------------------------- against the libraries themselves, where they import
def _randomise_bn(model: torch.nn.Module) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model.eval()


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tolerance: float = 1e-5) -> None:
    """Equal up to float rounding, relative to the largest logit (random networks can reach 1e12)."""
    scale = expected.abs().max().clamp_min(1.0)
    assert actual.shape == expected.shape and (actual - expected).abs().max() <= tolerance * scale


TIMM_CASES = [("inception_v3", "v3", False), ("inception_v3", "v3", True), ("inception_v4", "v4", False),
              ("inception_resnet_v2", "inception_resnet_v2", False)]


@pytest.mark.parametrize("timm_name,name,aux", TIMM_CASES)
def test_timm_networks_give_equal_logits(timm_name, name, aux, tmp_path):
    timm = pytest.importorskip("timm", reason="timm does not import here (it needs torchvision)")
    torch.manual_seed(0)
    source = _randomise_bn(timm.create_model(timm_name, pretrained=False, **({"aux_logits": True} if aux else {})))
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "model.safetensors")
    model = create_model(name, pretrained=str(tmp_path / "model.safetensors")).eval()
    x = torch.randn(2, 3, 299 if aux else 139, 299 if aux else 139)
    with torch.no_grad():  # timm's v3 runs its aux head in eval mode too: (logits, aux)
        assert_close(model(x), source(x)[0] if aux else source(x))
        if aux:
            features = torch.randn(2, 768, 17, 17)
            assert_close(model.AuxLogits(features), source.AuxLogits(features))


@pytest.mark.parametrize("name,aux", [("v1", True), ("v1", False), ("v3", True), ("v3", False)])
def test_torchvision_networks_give_equal_logits(name, aux, tmp_path):
    """torchvision's pretrained networks run with transform_input=True on ImageNet-normalised input; the lab
    network with the loader's [-1, 1] scaling sees the same tensor."""
    models = pytest.importorskip("torchvision.models", reason="torchvision does not import here")
    torch.manual_seed(0)
    build = models.GoogLeNet if name == "v1" else models.Inception3
    source = _randomise_bn(build(aux_logits=aux, transform_input=True, init_weights=True))
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    model = create_model(name, pretrained=str(tmp_path / "weights.pth")).eval()
    assert model.has_aux_heads == aux
    pixels = torch.rand(2, 3, 224 if name == "v1" else 299, 224 if name == "v1" else 299)
    imagenet = (pixels - torch.tensor(P.IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(P.IMAGENET_STD).view(3, 1, 1)
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in (model.pretrained_cfg.mean, model.pretrained_cfg.std))
    with torch.no_grad():
        assert_close(model((pixels - mean) / std), source(imagenet))
        if aux:
            heads = [("aux1", 512, 14), ("aux2", 528, 14)] if name == "v1" else [("AuxLogits", 768, 17)]
            for head, channels, grid in heads:
                features = torch.randn(2, channels, grid, grid)
                assert_close(getattr(model, head)(features), getattr(source, head)(features))


# ------------------------------------------------------------------------------ timm: / hf-hub: / torchvision:
@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache, offline: nothing may be downloaded."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hub"


def cache_hub_repo(cache: Path, repo: str, files: dict[str, bytes]) -> None:
    """Lay files out as huggingface_hub caches a downloaded repo (refs/main -> snapshots/<commit>/)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)


def test_timm_and_hf_hub_sources_come_from_the_local_cache(offline_hub, tmp_path):
    synthetic_file("timm_inception_resnet_v2", tmp_path / "model.safetensors")
    config = {"architecture": "inception_resnet_v2", "pretrained_cfg": {
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "input_size": [3, 299, 299], "crop_pct": 0.8975,
        "interpolation": "bicubic", "num_classes": 1000}}
    cache_hub_repo(offline_hub, "timm/inception_resnet_v2.tf_in1k",
                   {"model.safetensors": (tmp_path / "model.safetensors").read_bytes(),
                    "config.json": json.dumps(config).encode()})
    for source in ("timm:inception_resnet_v2.tf_in1k", "hf-hub:timm/inception_resnet_v2.tf_in1k"):
        with torch.device("meta"):
            cfg = create_model("inception_resnet_v2", pretrained=source).pretrained_cfg
        assert cfg.layout == "timm" and cfg.source == source and cfg.crop_pct == 0.8975
        assert Path(cfg.file).name == "model.safetensors" and str(offline_hub) in cfg.file
    with pytest.raises(P.PretrainedError, match="not in the Hugging Face cache and could not be downloaded"):
        create_model("v4", pretrained="timm:inception_v4.tf_in1k")


def test_hub_config_overrides_the_built_in_conventions(offline_hub, tmp_path):
    synthetic_file("timm_inception_v3", tmp_path / "model.safetensors")
    config = {"pretrained_cfg": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                 "input_size": [3, 299, 299], "crop_pct": 0.875, "interpolation": "bicubic"}}
    cache_hub_repo(offline_hub, "timm/inception_v3.gluon_in1k",
                   {"model.safetensors": (tmp_path / "model.safetensors").read_bytes(),
                    "config.json": json.dumps(config).encode()})
    with torch.device("meta"):
        model = create_model("v3", pretrained="timm:inception_v3.gluon_in1k")
    assert model.pretrained_cfg.mean == model.defaults.mean == (0.485, 0.456, 0.406)  # gluon: ImageNet mean/std


def test_torchvision_sources_come_from_the_torch_hub_cache_by_file_name(tmp_path):
    torchvision_loaded = "torchvision" in sys.modules
    hub_dir = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch_hub"))
    try:
        with pytest.raises(P.PretrainedError, match="inception_v3_google-0cc3c7bd.pth is not in the torch hub cache"):
            create_model("v3", pretrained="torchvision:Inception_V3_Weights.IMAGENET1K_V1")
        cache = tmp_path / "torch_hub" / "checkpoints"
        cache.mkdir(parents=True)
        synthetic_file("torchvision_inception_v3", cache / "inception_v3_google-0cc3c7bd.pth")
        synthetic_file("torchvision_googlenet", cache / "googlenet-1378be20.pth")
        with torch.device("meta"):
            v3 = create_model("v3", pretrained="torchvision:Inception_V3_Weights.DEFAULT")
            v1 = create_model("v1", pretrained="torchvision:GoogLeNet_Weights.IMAGENET1K_V1", num_classes=7)
        assert v3.pretrained_cfg.layout == "torchvision" and v3.has_aux_heads
        assert v1.variant == "torchvision" and v1.fc.out_features == 7 and v1.pretrained_cfg.head_reset
        with pytest.raises(P.PretrainedError, match="unknown torchvision weights; choose one of: GoogLeNet_Weights"):
            create_model("v3", pretrained="torchvision:Inception_V3_Weights.IMAGENET1K_V2")
    finally:
        torch.hub.set_dir(hub_dir)
    assert ("torchvision" in sys.modules) == torchvision_loaded  # resolved by file name, torchvision never imported


def test_training_builds_the_model_from_model_pretrained(tmp_path):
    """The training CLI's model construction: model.pretrained + the data's classes and channels."""
    from inception_lab.build import build_model, pretrained_record

    source = lab_model("v3", num_classes=10)
    torch.save(source.state_dict(), tmp_path / "w.pth")
    cfg = compose_cfg("config", ["model=v3", f"model.pretrained={tmp_path / 'w.pth'}"])
    assert cfg.model.width_mult == 0.25  # the embedded digits' recipe: quarter width, 1 channel
    model, model_args = build_model(cfg, num_classes=7, channels=1, image_size=75)
    assert model.fc.out_features == 7 and model.stem.Conv2d_1a_3x3[0].in_channels == 1 and not model.has_aux_heads
    assert "pretrained" not in model_args and model_args["num_classes"] == 7 and model_args["in_chans"] == 1
    rebuilt = create_model(**model_args)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert pretrained_record(model)["pretrained"]["layout"] == "lab"
    assert pretrained_record(rebuilt) == {}


def test_cli_bad_pretrained_source_is_one_error_line(tmp_path):

    result = run_cli(["model=v3", f"model.pretrained={tmp_path / 'missing.pth'}", "logger=none"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == [(f"error: pretrained={tmp_path / 'missing.pth'}: no such file (pass a weights file, timm:<tag>, "
                      "hf-hub:timm/<tag> or torchvision:<Weights enum>)")]


def test_a_fine_tuned_run_keeps_its_weights_conventions(tiny_checkpoint, tmp_path):
    """A run started from weights normalised with ImageNet's mean/std records them; evaluation and a later
    fine-tune of that run use them instead of the family's [-1, 1] scaling."""
    from inception_lab.checkpoints import load_checkpoint

    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    conventions = {"source": "mmpretrain.pth", "layout": "mmpretrain", "num_classes": 10, "mean": [0.485, 0.456, 0.406],
                   "std": [0.229, 0.224, 0.225], "input_size": 299, "crop_pct": 0.874269, "interpolation": "bilinear"}
    checkpoint["hyper_parameters"]["config"]["pretrained"] = conventions
    path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    torch.save(checkpoint, path)
    evaluated = load_checkpoint(path).model
    assert evaluated.defaults.mean == (0.485, 0.456, 0.406) and evaluated.pretrained_cfg.layout == "mmpretrain"
    with torch.device("meta"):
        again = create_model("v3", pretrained=str(path))
    assert again.pretrained_cfg.mean == again.defaults.mean == (0.485, 0.456, 0.406)
    assert again.pretrained_cfg.interpolation == "bilinear" and again.pretrained_cfg.layout == "lab"
