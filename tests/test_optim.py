"""inception_lab.optim: the TF1 RMSProp rule, the schedules, the optimizer / scheduler configs (docs/reference.md#lr-schedule, #rmsprop-tf)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import hydra.utils
import pytest
import torch
from omegaconf import OmegaConf

from inception_lab.optim import (
    RMSpropTF,
    constant,
    cosine,
    exponential_step_decay,
    scaled_lr,
    weight_decay_groups,
)

CONF = Path(__file__).resolve().parents[1] / "conf"

W0 = [1.0, -2.0, 0.5]
GRADS = [[0.5, -1.0, 2.0], [0.3, 0.2, -0.4], [-0.6, 1.5, 0.1]]  # one gradient per step, fixed


def tf1_rmsprop(w, grads, lrs, rho=0.9, mu=0.9, eps=1.0, wd=0.0, centered=False):
    """The TF1 formula of docs/reference.md#rmsprop-tf, written out on plain floats (independent of inception_lab.optim)."""
    w = list(w)
    ms = [1.0] * len(w)
    mg = [0.0] * len(w)
    mom = [0.0] * len(w)
    trajectory = []
    for g, lr in zip(grads, lrs):
        for i in range(len(w)):
            gi = g[i] + wd * w[i]
            ms[i] = rho * ms[i] + (1 - rho) * gi * gi
            mg[i] = rho * mg[i] + (1 - rho) * gi
            denom = math.sqrt(ms[i] - mg[i] ** 2 + eps) if centered else math.sqrt(ms[i] + eps)
            mom[i] = mu * mom[i] + lr * gi / denom
            w[i] = w[i] - mom[i]
        trajectory.append(list(w))
    return trajectory


def run_torch(opt_cls, grads, lrs=None, w0=W0, **kwargs):
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = opt_cls([p], **kwargs)
    trajectory = []
    for step, g in enumerate(grads):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[step]
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        trajectory.append(p.detach().clone().tolist())
    return trajectory, opt, p


def assert_close(a, b, tol=1e-12):
    for row_a, row_b in zip(a, b, strict=True):
        assert row_a == pytest.approx(row_b, abs=tol, rel=tol)


# ---------------------------------------------------------------------------------------------------------------
# RMSpropTF
# ---------------------------------------------------------------------------------------------------------------
def test_rmsprop_tf_defaults_are_the_papers():
    p = torch.nn.Parameter(torch.zeros(1))
    group = RMSpropTF([p]).param_groups[0]
    assert (group["lr"], group["alpha"], group["momentum"], group["eps"], group["weight_decay"]) == (
        0.045, 0.9, 0.9, 1.0, 0.0)


def test_rmsprop_tf_first_step_by_hand():
    # ms1 = 0.9*1 + 0.1*0.5^2 = 0.925 ; mom1 = 0.045*0.5/sqrt(1.925) ; w1 = 1 - mom1
    (w1, *_), _, _ = run_torch(RMSpropTF, [[0.5]], w0=[1.0], lr=0.045, alpha=0.9, momentum=0.9, eps=1.0)
    assert w1[0] == pytest.approx(1.0 - 0.045 * 0.5 / math.sqrt(1.925), abs=1e-15)
    assert w1[0] == pytest.approx(0.9837831257, abs=1e-10)


def test_rmsprop_tf_matches_tf1_formula_three_steps():
    lrs = [0.045] * 3
    got, opt, p = run_torch(RMSpropTF, GRADS, lrs=lrs, lr=0.045, alpha=0.9, momentum=0.9, eps=1.0)
    assert_close(got, tf1_rmsprop(W0, GRADS, lrs))
    state = opt.state[p]
    assert state["step"] == 3
    # ms after three steps, written out for element 0: ((1*.9 + .1*.25)*.9 + .1*.09)*.9 + .1*.36
    assert state["square_avg"][0].item() == pytest.approx(((0.9 + 0.025) * 0.9 + 0.009) * 0.9 + 0.036, abs=1e-15)


def test_rmsprop_tf_lr_change_takes_effect_gradually():
    lrs = [0.045, 0.045, 0.0045]  # a 10x drop before the third step
    got, _, _ = run_torch(RMSpropTF, GRADS, lrs=lrs, lr=0.045, alpha=0.9, momentum=0.9, eps=1.0)
    assert_close(got, tf1_rmsprop(W0, GRADS, lrs))
    # With a steady gradient the picture is clean: after a 10x drop the TF step keeps most of its size (the momentum
    # built at the old lr carries on), while a torch-style rule (lr multiplies the whole buffer) drops it 10x at once.
    steady = [[0.5, -1.0, 2.0]] * 3
    dropped = tf1_rmsprop(W0, steady, lrs)
    kept = tf1_rmsprop(W0, steady, [0.045] * 3)
    got_steady, _, _ = run_torch(RMSpropTF, steady, lrs=lrs, lr=0.045, alpha=0.9, momentum=0.9, eps=1.0)
    assert_close(got_steady, dropped)
    for i in range(len(W0)):
        move_dropped = got_steady[1][i] - got_steady[2][i]
        move_kept = kept[1][i] - kept[2][i]
        assert 0.5 < move_dropped / move_kept < 0.7  # mu*mom2 dominates: far from the 0.1 of an instant rescale
    # element 1 by hand: the momentum carried into step 3 is (w1 - w2), the new term uses the new lr.
    mom2 = got[0][1] - got[1][1]
    ms3 = (0.9 * (0.9 * 1.0 + 0.1 * 1.0) + 0.1 * 0.04) * 0.9 + 0.1 * 2.25
    assert got[1][1] - got[2][1] == pytest.approx(0.9 * mom2 + 0.0045 * 1.5 / math.sqrt(ms3 + 1.0), abs=1e-14)


def test_rmsprop_tf_weight_decay_is_coupled():
    wd = 0.1
    got, _, _ = run_torch(RMSpropTF, GRADS, lr=0.045, alpha=0.9, momentum=0.9, eps=1.0, weight_decay=wd)
    assert_close(got, tf1_rmsprop(W0, GRADS, [0.045] * 3, wd=wd))
    # the decay term enters the gradient (and so the square average), not the weights directly
    assert got != tf1_rmsprop(W0, GRADS, [0.045] * 3)


def test_rmsprop_tf_no_momentum_and_centered():
    got, opt, p = run_torch(RMSpropTF, GRADS, lr=0.01, alpha=0.9, momentum=0.0, eps=1.0)
    assert_close(got, tf1_rmsprop(W0, GRADS, [0.01] * 3, mu=0.0))
    assert "momentum_buffer" not in opt.state[p]
    got, _, _ = run_torch(RMSpropTF, GRADS, lr=0.045, alpha=0.9, momentum=0.9, eps=1.0, centered=True)
    assert_close(got, tf1_rmsprop(W0, GRADS, [0.045] * 3, centered=True))


def test_rmsprop_tf_leaves_grad_untouched_and_skips_gradless():
    a = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    b = torch.nn.Parameter(torch.tensor([3.0]))
    opt = RMSpropTF([a, b], weight_decay=0.5)
    a.grad = torch.tensor([0.1, -0.1])
    opt.step()
    assert a.grad.tolist() == pytest.approx([0.1, -0.1])
    assert b.item() == 3.0 and b not in opt.state


def test_rmsprop_tf_state_dict_round_trip_continues_identically():
    kwargs = dict(lr=0.045, alpha=0.9, momentum=0.9, eps=1.0, weight_decay=4e-5)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    x, y = torch.randn(8, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1] * 4)

    def train(m, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            opt.step()

    opt = RMSpropTF(model.parameters(), **kwargs)
    train(model, opt, 2)
    saved_model, saved_opt = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())
    assert {"square_avg", "momentum_buffer", "step"} <= set(saved_opt["state"][0])
    train(model, opt, 3)

    resumed = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    resumed.load_state_dict(saved_model)
    opt2 = RMSpropTF(resumed.parameters(), **kwargs)
    opt2.load_state_dict(saved_opt)
    train(resumed, opt2, 3)
    for p, q in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_rmsprop_tf_rejects_sparse_and_bad_args():
    emb = torch.nn.Embedding(5, 2, sparse=True)
    opt = RMSpropTF(emb.parameters())
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()
    with pytest.raises(ValueError):
        RMSpropTF([torch.nn.Parameter(torch.zeros(1))], alpha=1.5)


def test_torch_rmsprop_differs_from_tf_rule():
    """Why rmsprop_tf exists: same hyper-parameters, different first step (docs/reference.md#rmsprop-tf)."""
    kwargs = dict(lr=0.045, alpha=0.9, momentum=0.9, eps=1.0)
    tf, _, _ = run_torch(RMSpropTF, GRADS[:1], **kwargs)
    pt, _, _ = run_torch(torch.optim.RMSprop, GRADS[:1], **kwargs)
    # torch: v1 = 0.1*g^2, step = lr*g/(sqrt(v1) + 1); TF: ms1 = 0.9 + 0.1*g^2, step = lr*g/sqrt(ms1 + 1)
    for i, g in enumerate(GRADS[0]):
        assert W0[i] - pt[0][i] == pytest.approx(0.045 * g / (math.sqrt(0.1 * g * g) + 1.0), abs=1e-12)
        assert W0[i] - tf[0][i] == pytest.approx(0.045 * g / math.sqrt(0.9 + 0.1 * g * g + 1.0), abs=1e-12)
        assert abs(pt[0][i] - tf[0][i]) > 0.05 * abs(W0[i] - tf[0][i])
    # small gradient: torch divides by ~sqrt(0.1) g + 1 ~ 1, TF by ~sqrt(1.9) ~ 1.38, so torch moves ~1.2-1.4x more
    assert (W0[0] - pt[0][0]) / (W0[0] - tf[0][0]) == pytest.approx(math.sqrt(1.925) / (math.sqrt(0.025) + 1.0))
    assert (W0[0] - pt[0][0]) / (W0[0] - tf[0][0]) > 1.15


def test_weight_decay_groups_skip_biases_and_bn():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    decay, no_decay = weight_decay_groups(model)
    assert [p.ndim for p in decay["params"]] == [4, 2]
    assert len(no_decay["params"]) == 4 and no_decay["weight_decay"] == 0.0
    opt = RMSpropTF(weight_decay_groups(model), weight_decay=4e-5)
    assert [g["weight_decay"] for g in opt.param_groups] == [4e-5, 0.0]


# ---------------------------------------------------------------------------------------------------------------
# Schedules and lr scaling
# ---------------------------------------------------------------------------------------------------------------
def lrs_at(scheduler_fn, steps, base=0.045, **kwargs):
    """lr in force for each optimizer step index in `steps` (LambdaLR stepped once per optimizer step)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = scheduler_fn(opt, **kwargs)
    out, current = {}, 0
    for s in sorted(steps):
        while current < s:
            opt.step()
            sched.step()
            current += 1
        out[s] = opt.param_groups[0]["lr"]
    return [out[s] for s in steps]


def test_step_decay_is_the_papers_staircase():
    spe = 10
    steps = [0, spe - 1, spe, 2 * spe - 1, 2 * spe, 3 * spe, 4 * spe, 5 * spe + 3]  # epochs 0,0,1,1,2,3,4,5
    got = lrs_at(exponential_step_decay, steps, steps_per_epoch=spe, max_epochs=10)
    want = [1, 1, 1, 1, 0.94, 0.94, 0.8836, 0.8836]
    assert got == pytest.approx([0.045 * w for w in want], rel=1e-12)


def test_step_decay_smooth_and_warmup():
    spe = 4
    got = lrs_at(exponential_step_decay, [4], steps_per_epoch=spe, max_epochs=4, staircase=False)
    assert got[0] == pytest.approx(0.045 * 0.94**0.5)
    # warmup over 1 epoch = 4 steps, linear from 0; the decay clock starts at step 0
    got = lrs_at(exponential_step_decay, [0, 1, 2, 3, 4, 8], steps_per_epoch=spe, max_epochs=4, warmup_epochs=1.0)
    assert got == pytest.approx([0.0, 0.045 / 4, 0.045 / 2, 0.045 * 3 / 4, 0.045, 0.045 * 0.94])


def test_cosine_endpoints_and_warmup():
    spe, epochs = 5, 4  # 20 steps
    got = lrs_at(cosine, [0, 10, 20, 25], steps_per_epoch=spe, max_epochs=epochs)
    assert got == pytest.approx([0.045, 0.0225, 0.0, 0.0], abs=1e-15)
    got = lrs_at(cosine, [0, 20], steps_per_epoch=spe, max_epochs=epochs, min_lr_ratio=0.1)
    assert got == pytest.approx([0.045, 0.0045])
    got = lrs_at(cosine, [0, 2, 5, 20], steps_per_epoch=spe, max_epochs=epochs, warmup_epochs=1.0)
    assert got == pytest.approx([0.0, 0.045 * 2 / 5, 0.045, 0.0], abs=1e-15)


def test_constant_with_warmup():
    got = lrs_at(constant, [0, 1, 2, 3, 100], steps_per_epoch=2, max_epochs=5, warmup_epochs=1.0)
    assert got == pytest.approx([0.0, 0.0225, 0.045, 0.045, 0.045])
    assert lrs_at(constant, [0, 7], steps_per_epoch=2, max_epochs=5) == [0.045, 0.045]


def test_schedule_argument_checks():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        cosine(opt, steps_per_epoch=0, max_epochs=1)


def test_scaled_lr():
    assert scaled_lr(0.045, 32) == pytest.approx(0.045)
    assert scaled_lr(0.045, 256, rule="linear") == pytest.approx(0.36)
    assert scaled_lr(0.045, 128, rule="sqrt") == pytest.approx(0.09)
    assert scaled_lr(0.045, 1024, rule="none") == 0.045
    with pytest.raises(ValueError, match="rule"):
        scaled_lr(0.045, 64, rule="cubic")


# ---------------------------------------------------------------------------------------------------------------
# Configs: each optimizer / scheduler YAML instantiates through Hydra and works
# ---------------------------------------------------------------------------------------------------------------
def compose(group: str, name: str, weight_decay: float = 4e-5):
    root = OmegaConf.create({"regularizer": {"weight_decay": weight_decay}})
    root[group] = OmegaConf.load(CONF / group / f"{name}.yaml")
    return root


@pytest.mark.parametrize(
    "name, target, lr",
    [
        ("sgd", torch.optim.SGD, 0.045),
        ("rmsprop", torch.optim.RMSprop, 0.045),
        ("rmsprop_tf", RMSpropTF, 0.045),
        ("adamw", torch.optim.AdamW, 1e-3),
    ],
)
def test_optimizer_configs_instantiate_and_step(name, target, lr):
    cfg = compose("optimizer", name, weight_decay=1e-4)
    assert cfg.optimizer._partial_ is True
    model = torch.nn.Linear(3, 2)
    opt = hydra.utils.instantiate(cfg.optimizer)(model.parameters())
    assert type(opt) is target
    group = opt.param_groups[0]
    assert group["lr"] == lr
    expected_wd = 0.05 if name == "adamw" else 1e-4  # adamw: decoupled, its own value
    assert group["weight_decay"] == pytest.approx(expected_wd)
    for value in group.values():  # checkpoints must hold plain Python objects only
        assert type(value).__module__.split(".")[0] != "omegaconf"
    before = model.weight.detach().clone()
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight)


def test_rmsprop_configs_share_paper_hyperparameters():
    tf = compose("optimizer", "rmsprop_tf").optimizer
    pt = compose("optimizer", "rmsprop").optimizer
    for key in ("lr", "alpha", "eps", "momentum"):
        assert tf[key] == pt[key]
    assert (tf.alpha, tf.eps, tf.momentum) == (0.9, 1.0, 0.9)
    assert compose("optimizer", "sgd").optimizer.nesterov is False


@pytest.mark.parametrize(
    "name, step, factor",
    [("step_decay", 20, 0.94), ("cosine", 40, 0.0), ("constant", 33, 1.0)],
)
def test_scheduler_configs_instantiate(name, step, factor):
    cfg = compose("scheduler", name)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.045)
    sched = hydra.utils.instantiate(cfg.scheduler)(opt, steps_per_epoch=10, max_epochs=4)
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)
    for _ in range(step):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.045 * factor, abs=1e-15)
