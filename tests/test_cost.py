"""models/cost.py (params, MACs/FLOPs, grids, minimum input size, model cards) and the inception-lab-models CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from inception_lab.models import create_model
from inception_lab.models.cost import (
    build_meta,
    count_flops,
    count_parameters,
    feature_grid_sizes,
    meta_copy,
    minimum_input_size,
    model_card,
)
from inception_lab.models.registry import UnknownModelError, model_variants, register_model, unregister_model

BIN = Path(sys.executable).parent


class Toy(nn.Module):
    """conv 3x3 V (3 -> 8) -> maxpool 2/2 -> [aux: linear] -> global pool -> linear 8 -> 4."""

    def __init__(self, num_classes: int = 4, aux_logits: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pool = nn.MaxPool2d(2)
        self.aux_head = nn.Linear(8, num_classes) if aux_logits else None
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.pool(self.conv(x))
        pooled = x.mean((2, 3))
        if self.training and self.aux_head is not None:
            if x.shape[-1] < 4:  # the aux head "needs" a 4x4 grid: input >= 10
                raise RuntimeError("aux grid too small")
            return self.fc(pooled), self.aux_head(pooled)
        return self.fc(pooled)


@pytest.fixture
def toy_registered():
    register_model("toy_cost_test")(Toy)
    yield "toy_cost_test"
    unregister_model("toy_cost_test")


def test_count_parameters_with_and_without_aux():
    toy = Toy()
    assert count_parameters(toy) == (3 * 9 * 8 + 8) + (8 * 4 + 4) * 2
    assert count_parameters(toy, aux=False) == (3 * 9 * 8 + 8) + (8 * 4 + 4)
    v3 = build_meta("v3")
    assert count_parameters(v3, aux=False) == 23_834_568 == count_parameters(build_meta("v3", aux_logits=False))


def test_count_flops_is_conv_plus_linear_macs_times_two():
    toy = Toy()
    cost = count_flops(toy, 10)
    conv_macs = 8 * 8 * 8 * (3 * 9)  # 8x8 output, 8 channels, 27 MACs each
    assert cost == {"macs": conv_macs + 8 * 4, "flops": 2 * (conv_macs + 8 * 4)}
    assert count_flops(toy, 10, train=True)["macs"] == conv_macs + 2 * 8 * 4  # aux head counted in training
    assert count_flops(toy, (10, 12))["macs"] == 8 * 10 * 8 * 27 + 32


def test_count_flops_full_width_v3_is_fast_and_leaves_the_model_alone():
    model = create_model("v3", width_mult=0.25).train()
    before = model.stem.Conv2d_1a_3x3[0].weight.clone()
    count_flops(model, 299)
    assert model.training and all(m.training for m in model.modules())
    assert model.stem.Conv2d_1a_3x3[0].weight.device.type == "cpu"
    assert torch.equal(model.stem.Conv2d_1a_3x3[0].weight, before)
    assert count_flops(build_meta("v3"), 299) == {"macs": 5_713_216_096, "flops": 11_426_432_192}  # docs/reference.md#counts 5.713 G
    assert count_flops(build_meta("v3"), 299, train=True)["macs"] / 1e9 == pytest.approx(5.719, abs=1e-3)
    assert count_flops(build_meta("v3", in_chans=1), 299, in_chans=1)["macs"] < 5_713_216_096


def test_meta_copy_copies_no_data():
    model = Toy()
    copy = meta_copy(model)
    assert all(p.device.type == "meta" for p in copy.parameters())
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert count_parameters(copy) == count_parameters(model)


def test_feature_grid_sizes_expands_stems_and_shows_aux_only_in_training():
    grids = feature_grid_sizes(build_meta("v2"), 299)
    assert list(grids)[:2] == ["stem.Conv2d_1a_7x7", "stem.MaxPool_3a_3x3"]
    assert grids["Mixed_7c"] == (2048, 8, 8) and "AuxLogits" not in grids
    assert "AuxLogits" in feature_grid_sizes(build_meta("v2"), 299, train=True)
    assert feature_grid_sizes(Toy(), 10) == {"conv": (8, 8, 8), "pool": (8, 4, 4), "fc": (4,)}


def test_minimum_input_size_generic_and_by_name(toy_registered):
    assert minimum_input_size(Toy(), aux=False) == 4  # conv 3 -> 2 -> pool 1
    assert minimum_input_size(Toy(), aux=True) == 10
    assert minimum_input_size(Toy(aux_logits=False), aux=True) == 4
    assert minimum_input_size(toy_registered, aux=True, aux_logits=False) == 4
    assert minimum_input_size("v3", aux=False, first_stride=1) == 39  # docs/reference.md#minimum-input r151
    with pytest.raises(TypeError):
        minimum_input_size(Toy(), aux=False, first_stride=1)


def test_model_card_v3():
    card = model_card("inception_v3")
    assert card["name"] == "v3" and card["input_size"] == 299
    assert (card["params_no_aux"], card["params_aux"], card["params"]) == (23_834_568, 27_161_264, 27_161_264)
    assert card["macs"] == 5_713_216_096 and card["flops"] == 2 * card["macs"]
    assert (card["min_input"], card["min_input_aux"]) == (75, 299)
    assert card["grids"]["Mixed_6e"] == [768, 17, 17]
    json.dumps(card)  # JSON-ready
    r79 = model_card("v2", input_size=79, first_stride=1, first_pool="none")
    assert r79["grids"]["Mixed_5d"] == [288, 35, 35] and (r79["min_input"], r79["min_input_aux"]) == (23, 79)
    assert r79["overrides"] == {"first_stride": 1, "first_pool": "none"}


def test_model_card_of_a_model_without_aux_switch():
    @register_model("toy_no_switch")
    def toy_no_switch(num_classes: int = 1000):
        return Toy(num_classes, aux_logits=False)

    try:
        card = model_card("toy_no_switch", input_size=10)
    finally:
        unregister_model("toy_no_switch")
    assert card["params_aux"] is None and card["min_input_aux"] is None
    assert card["params_no_aux"] == card["params"] == 3 * 9 * 8 + 8 + 8 * 1000 + 1000
    assert card["min_input"] == 4


# ----------------------------------------------------------------------------------------------------- CLI


def test_cli_json(capsys):
    from inception_lab.cli.models import main

    assert main(["--json", "--model", "v2", "--model", "inception_v3", "--no-variants"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["variant"]) for r in rows] == [("v2", "defaults"), ("v3", "defaults")]
    assert [(r["params_no_aux"], r["params_aux"], r["min_input"], r["min_input_aux"]) for r in rows] == [
        (23_815_336, 27_141_264, 75, 299),
        (23_834_568, 27_161_264, 75, 299),
    ]


def test_cli_table_shows_table2_variants(capsys):
    from inception_lab.cli.models import main, variants_for

    assert {"resolution=r151", "resolution=r79"} <= set(variants_for("v2"))
    assert variants_for("v2")["resolution=r79"] == {"first_stride": 1, "first_pool": "none", "input_size": 79}
    assert main(["--model", "v2"]) == 0
    out = capsys.readouterr().out
    for text in ("23,815,336", "27,141,264", "5.300", "5.294", "5.147", "resolution=r151", "73→71→35→17→8", "23 / 79"):
        assert text in out, text


def test_cli_unknown_model_is_one_error_line(capsys):
    from inception_lab.cli.models import main

    assert main(["--model", "inceptoin_v3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'inceptoin_v3'") and "inception_v3" in err


def test_cli_variants_declared_by_a_model_file(capsys):
    from inception_lab.cli.models import main

    register_model("toy_variants", "toy_variants_alias", variants={"no aux": {"aux_logits": False, "input_size": 12}})(Toy)
    try:
        assert model_variants("toy_variants_alias") == {"no aux": {"aux_logits": False, "input_size": 12}}
        assert main(["--json", "--model", "toy_variants"]) == 0
    finally:
        unregister_model("toy_variants")
    with pytest.raises(UnknownModelError):
        model_variants("toy_variants_alias")  # the alias went with it
    with pytest.raises(TypeError, match="no switch aux_logit"):
        register_model("toy_typo", variants={"typo": {"aux_logit": False}})(Toy)
    rows = json.loads(capsys.readouterr().out)
    assert [r["variant"] for r in rows] == ["defaults", "no aux"]
    assert rows[1]["input_size"] == 12 and rows[1]["params"] == rows[1]["params_no_aux"]


def test_console_script_runs():
    proc = subprocess.run(
        [str(BIN / "inception-lab-models"), "--json", "--model", "v3", "--no-variants"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["macs"] == 5_713_216_096


def test_models_cli_shows_the_network_a_run_trains(capsys):
    """``inception-lab-models <the run's overrides>``: the default run's network (quarter width, 10 digit classes,
    1 channel, 75 px), not the 1000-class full-width default card."""
    from inception_lab.cli.models import main

    assert main(["--json", "model=v3", "model.width_mult=0.25"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["input_size"], row["params"]) == ("v3", 75, 1_382_658)
    assert row["variant"] == "this run (10 classes, 1-channel input)"
    assert main(["model=v9"]) == 2
    assert capsys.readouterr().err.startswith("error: In 'config': Could not find 'model/v9'")
