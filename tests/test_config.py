"""Profiles load, overrides are type-checked, errors name the key, configs round-trip.

Run: .venv/bin/python -m pytest -q tests/test_config.py
"""

import json
import subprocess
import sys

import pytest

from proofgpt import paths
from proofgpt.config import (ModelConfig, RunConfig, derive, from_dict, grad_accum_steps, load_profile, parse_overrides,
                             to_dict)
from proofgpt.errors import UserError
from proofgpt.model import GPT, GPTConfig

PROFILES = ["smoke", "cpu", "seed", "seed-15m", "seed-6m"]


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_load_and_round_trip(name):
    cfg = load_profile(name)
    assert cfg.profile == name
    d = json.loads(json.dumps(to_dict(cfg)))  # JSON-ready
    assert from_dict(d) == cfg


def test_seed_profile_is_the_plan():
    cfg = load_profile("seed")
    m, t = cfg.model, cfg.train
    assert (m.ctx, m.d_model, m.n_layers, m.n_heads, m.d_mlp) == (512, 320, 8, 10, 1280)
    assert (t.lr, t.min_lr, t.warmup_steps, t.beta1, t.beta2) == (3e-4, 3e-5, 1000, 0.9, 0.95)
    assert (t.weight_decay, t.grad_clip, m.dropout, t.label_smoothing) == (0.1, 1.0, 0.1, 0.0)
    assert 50 <= t.epochs <= 80 and 5 <= t.patience <= 10
    d = derive(cfg)
    assert 64 * 1024 <= d["tokens_per_step"] <= 128 * 1024
    assert GPT(cfg.model).num_params() == 10_081_600  # the plan's 10-12M


def test_scaling_variants():
    big, small = load_profile("seed-15m"), load_profile("seed-6m")
    assert big.model.ctx == 1024 and big.model.dropout == 0.05
    assert small.model.dropout == 0.2 and small.train.label_smoothing == 0.1 and small.train.weight_decay == 0.2
    assert small.train.lr == 3e-4  # inherited from seed via `extends`
    assert 64 * 1024 <= derive(big)["tokens_per_step"] <= 128 * 1024
    assert 13e6 <= GPT(big.model).num_params() <= 17e6 and 5e6 <= GPT(small.model).num_params() <= 7e6


def test_accumulation_follows_world_size():
    cfg = load_profile("seed")  # 32 rows x 512 tokens per micro-batch, 65,536 per step
    assert [grad_accum_steps(cfg, w) for w in (1, 2, 4, 8)] == [4, 2, 1, 1]
    assert derive(cfg, world_size=2)["tokens_per_step"] == 65536


@pytest.mark.parametrize("overrides", [
    ["train.lr=1e-3", "model.dropout=0", "train.max_steps=7", "train.compile=true"],
    ["--train.lr=1e-3", "--model.dropout=0.0", "--train.max_steps=7", "--train.compile=yes"],
    {"train.lr": 1e-3, "model.dropout": 0, "train.max_steps": 7, "train.compile": True},
    {"train": {"lr": 1e-3, "max_steps": 7, "compile": True}, "model": {"dropout": 0.0}},
])
def test_overrides_from_cli_and_dict(overrides):
    cfg = load_profile("smoke", overrides)
    assert cfg.train.lr == 1e-3 and cfg.model.dropout == 0.0 and cfg.train.max_steps == 7
    assert isinstance(cfg.model.dropout, float) and cfg.train.compile is True


def test_optional_none_from_cli():
    assert load_profile("smoke", ["train.eval_every=none"]).train.eval_every is None
    assert load_profile("smoke", {"sample.top_k": None}).sample.top_k is None


@pytest.mark.parametrize("overrides, words", [
    (["train.lrr=1e-3"], ["train.lrr", "did you mean 'lr'", "valid keys:", "warmup_steps"]),
    (["trian.lr=1e-3"], ["trian", "did you mean 'train'"]),
    (["train.lr=fast"], ["train.lr", "expected float", "fast"]),
    (["train.epochs=2.5"], ["train.epochs", "expected int"]),
    (["train.compile=maybe"], ["train.compile", "expected bool"]),
    (["train.lr"], ["key=value"]),
    ({"train.epochs": "3"}, ["train.epochs", "expected int", "str"]),
    ({"train.epochs": True}, ["train.epochs", "expected int", "bool"]),
    ({"model.dropout": None}, ["model.dropout", "expected float"]),
    (["model.norm=rms"], ["model.norm", "rmsnorm"]),
    (["model.n_heads=3"], ["model.n_heads", "d_model"]),
    (["sample.top_p=0"], ["sample.top_p"]),
    (["train.min_lr=1"], ["train.min_lr"]),
])
def test_bad_overrides_name_the_key(overrides, words):
    with pytest.raises(UserError) as e:
        load_profile("smoke", overrides)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_unknown_profile_and_bad_yaml(tmp_path):
    with pytest.raises(UserError, match="did you mean 'smoke'"):
        load_profile("smok")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: [1\n")
    with pytest.raises(UserError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_profile(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("extends: smoke\ntrain:\n  epoch: 3\n")
    with pytest.raises(UserError, match=r"typo\.yaml 'train\.epoch'.*did you mean 'epochs'"):
        load_profile(typo)


def test_profile_file_with_extends(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("extends: smoke\ntrain:\n  epochs: 5\n")
    cfg = load_profile(p, ["train.lr=1e-2"])
    assert cfg.profile == "mine" and cfg.train.epochs == 5 and cfg.train.lr == 1e-2
    assert cfg.model.d_model == load_profile("smoke").model.d_model
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"extends: {loop}\n")
    with pytest.raises(UserError, match="loops"):
        load_profile(loop)


def test_old_config_gets_new_defaults_and_unknown_keys():
    d = to_dict(load_profile("smoke"))
    del d["train"]["label_smoothing"], d["eval"]  # a config saved before these existed
    cfg = from_dict(d)
    assert cfg.train.label_smoothing == RunConfig().train.label_smoothing
    assert cfg.eval == RunConfig().eval
    d["train"]["removed_field"] = 1
    with pytest.raises(UserError, match="removed_field"):
        from_dict(d)
    assert from_dict(d, strict=False).train.lr == cfg.train.lr


def test_parse_overrides():
    assert parse_overrides(["--train.lr=3e-4", "model.ctx=128"]) == ({"train.lr": "3e-4", "model.ctx": "128"}, True)
    assert parse_overrides({"train": {"lr": 1}}) == ({"train.lr": 1}, False)


def test_every_profile_file_is_listed():
    assert sorted(p.stem for p in paths.CONFIGS_DIR.glob("*.yaml")) == sorted(PROFILES)


def test_profile_loading_needs_no_torch():
    """The model section IS the model's config (config.ModelConfig), and loading a profile imports no torch."""
    code = ("import sys; from proofgpt.config import load_profile; cfg = load_profile('seed'); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(type(cfg.model).__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ModelConfig"
    assert GPTConfig is ModelConfig and isinstance(GPT(load_profile("smoke").model).config, ModelConfig)