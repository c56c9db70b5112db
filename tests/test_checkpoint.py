"""Damaged checkpoints: every one is a one-line UserError naming the file, or a load whose
weights were verified by the checksum; never a traceback, never damaged weights loaded silently.

    .venv/bin/python -m pytest -q tests/test_checkpoint.py

The checkpoint is a real one (save_checkpoint of a 1-layer GPT after one AdamW step), tiny so
that a few hundred damaged copies load in seconds.
"""

import io
import json
import os
import random
import warnings

import pytest
import torch

from proofgpt.checkpoint import load_checkpoint, load_model, payload_sha256, save_checkpoint, weights_sha256
from proofgpt.config import load_profile, to_dict
from proofgpt.errors import UserError
from proofgpt.model import GPT
from proofgpt.train import new_state

TINY = ["model.ctx=32", "model.d_model=16", "model.n_heads=2", "model.d_mlp=32", "model.n_layers=1",
        "sample.max_new_tokens=16"]


def write_checkpoint(path, val_loss=1.0, step=2):
    cfg = load_profile("smoke", TINY)
    torch.manual_seed(0)
    model = GPT(cfg.model)
    opt = model.configure_optimizer(0.1, 1e-3, (0.9, 0.95), device_type="cpu")
    x = torch.randint(0, 256, (2, 32))
    model(x, x)[1].backward()
    opt.step()
    state = {**new_state(), "step": step, "val_loss": val_loss}
    meta = {"config": to_dict(cfg), "derived": {}, "data_sha256": "0" * 64, "format": 2, "state": state}
    save_checkpoint(path, model, opt, torch.amp.GradScaler("cpu", enabled=False), meta)
    return weights_sha256(model)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.pt"
    return path, write_checkpoint(path)


def assert_one_line_naming(e, path):
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg, msg


def test_a_good_checkpoint_loads_verified(good):
    path, sha = good
    model, meta = load_model(path)
    assert weights_sha256(model) == sha and meta["state"]["step"] == 2


def test_fuzz_damaged_checkpoints_never_load_damaged_weights(good, tmp_path):
    """Truncations and flipped bytes anywhere in the file: an error naming it, or the same weights."""
    path, sha = good
    data = path.read_bytes()
    rng = random.Random(0)
    outcomes = {"error": 0, "verified": 0}
    for i in range(200):
        damaged = bytearray(data)
        if i % 4 == 0:
            damaged = damaged[: rng.randrange(len(data))]
        else:
            for _ in range(rng.choice([1, 1, 2, 8])):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        bad = tmp_path / f"damaged-{i}.pt"
        bad.write_bytes(bytes(damaged))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # an unverified (checksum-less) load would be a warning
                model, _ = load_model(bad)
        except UserError as e:
            assert str(e).startswith(f"{bad}: ") and "\n" not in str(e), str(e)
            outcomes["error"] += 1
        else:
            assert weights_sha256(model) == sha, f"damage {i} loaded different weights"
            outcomes["verified"] += 1
        bad.unlink()
    assert outcomes["error"] > 150, outcomes  # nearly every flipped byte is caught


def rewrite(src, dst, change):
    """Copy checkpoint src to dst with change(payload) applied and its checksum made valid again."""
    payload = torch.load(src, weights_only=True)
    change(payload)
    payload["sha256"] = payload_sha256(payload)
    buf = io.BytesIO()
    torch.save(payload, buf)
    dst.write_bytes(buf.getvalue())


def set_meta(**changes):
    def change(payload):
        meta = json.loads(payload["meta_json"])
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            d = meta
            for p in parents:
                d = d[p]
            if value is KeyError:
                del d[last]
            else:
                d[last] = value
        payload["meta_json"] = json.dumps(meta)
    return change


def set_raw_meta(text):
    def change(payload):
        payload["meta_json"] = text
    return change


@pytest.mark.parametrize("change, says", [
    (set_raw_meta("[1, 2]"), "expected a JSON object, got list"),
    (set_raw_meta("{not json"), "metadata (not JSON)"),
    (set_raw_meta("{}"), "'config' is missing"),
    (set_meta(state=KeyError), "'state' is missing"),
    (set_meta(data_sha256=KeyError), "'data_sha256' is missing"),
    (set_meta(state__step=-1), "state.step must be an integer >= 0"),
    (set_meta(state__epoch="one"), "state.epoch must be an integer"),
    (set_meta(state__val_loss="low"), "state.val_loss must be a number"),
    (set_meta(config__model__n_heads=3), "model.n_heads"),
    (set_meta(config__model__ctx=-5), "model.ctx"),
    (set_meta(config__model__d_model=32), "weights do not fit"),
    (set_meta(config="model"), "'config' is missing or not a dict"),
])
def test_malformed_metadata_is_one_line_naming_the_file(good, tmp_path, change, says):
    bad = tmp_path / "bad.pt"
    rewrite(good[0], bad, change)
    with pytest.raises(UserError) as e:
        load_model(bad)
    assert_one_line_naming(e, bad)
    assert says in str(e.value), str(e.value)


def test_a_flipped_weight_is_caught_by_the_checksum(good, tmp_path):
    payload = torch.load(good[0], weights_only=True)
    name = next(iter(payload["model"]))
    payload["model"][name].view(-1)[0] += 1.0  # the checksum is left as it was
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(UserError, match="do not match their sha256") as e:
        load_checkpoint(bad)
    assert_one_line_naming(e, bad)


def test_a_checkpoint_without_checksum_loads_with_a_warning(good, tmp_path):
    payload = torch.load(good[0], weights_only=True)
    del payload["sha256"]
    old = tmp_path / "format1.pt"
    torch.save(payload, old)
    with pytest.warns(UserWarning, match="no checksum"):
        load_checkpoint(old)


@pytest.mark.parametrize("kind", ["symlink-to-text", "fifo", "directory", "missing"])
def test_not_a_checkpoint_file(tmp_path, kind):
    path = tmp_path / "x.pt"
    if kind == "symlink-to-text":
        (tmp_path / "notes.txt").write_text("hello\n")
        path.symlink_to(tmp_path / "notes.txt")
    elif kind == "fifo":
        os.mkfifo(path)  # reading it would block forever
    elif kind == "directory":
        path.mkdir()
    with pytest.raises(UserError) as e:
        load_model(path)
    assert_one_line_naming(e, path)


def test_a_bad_best_checkpoint_falls_back_to_the_next(good, tmp_path):
    ckpt = tmp_path / "run" / "ckpt"
    ckpt.mkdir(parents=True)
    sha = write_checkpoint(ckpt / "last.pt", val_loss=2.0, step=4)
    write_checkpoint(ckpt / "best-0000002.pt", val_loss=1.0, step=2)
    (ckpt / "best-0000002.pt").write_bytes(b"garbage")  # its .json sidecar still says it is the best
    with pytest.warns(UserWarning, match=r"best-0000002\.pt: .*trying last\.pt"):
        model, meta = load_model(tmp_path / "run")
    assert meta["path"].endswith("last.pt") and weights_sha256(model) == sha
    (ckpt / "last.pt").write_bytes(b"garbage too")
    with pytest.raises(UserError, match="best-0000002.pt"), pytest.warns(UserWarning):
        load_model(tmp_path / "run")


@pytest.mark.parametrize("device, says", [("foo", "expected cpu, cuda"), ("tpu", "expected cpu, cuda"),
                                          pytest.param("cuda", "no CUDA device", marks=pytest.mark.skipif(
                                              torch.cuda.is_available(), reason="this machine has CUDA"))])
def test_unusable_device_is_one_line(good, device, says):
    with pytest.raises(UserError, match=says):
        load_model(good[0], device=device)
