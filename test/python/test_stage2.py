"""Stage 2 (gpu-jobs/model/stage2.py, the stage-2 path of train.py, samples.py) and the
confidence weights of losses.py. CPU, one thread, tiny generator (cnum 8) and critics (d_cnum 8)
at 32x32, real maths, no mocks. ID-MRF uses the seeded random-init VGG19 (no pretrained weights
can be downloaded here).

    PYTHONPATH=gpu-jobs /usr/bin/python3 -m pytest test/python/test_stage2.py -q
"""
from __future__ import annotations

import json
from pathlib import Path
import os
import signal
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from model.generator import GMCNNGenerator
from model.losses import confidence_weights, recon_weights, stage1_losses
from model.masks import rect_mask, stroke_mask
from model.samples import fixed_batch, grid
from model.stage2 import Batch, CriticFeatures, Stage2, build_vgg, crop_boxes, local_size
from model.train import Config, choose, save_generator, train
from model.vgg import random_vgg19

torch.set_num_threads(1)


# ---- confidence weights (losses.py) ------------------------------------------------------------

def test_confidence_weights_zero_outside_and_decreasing_inward():
    m = torch.zeros(1, 1, 256, 256)
    m[..., 64:192, 64:192] = 1  # the centred 128x128 hole of gmcnn.md §4.1
    w = confidence_weights(m)
    assert torch.all(w[m == 0] == 0)
    assert torch.all(w[m == 1] > 0) and w.max() < 1
    # From each edge to 4 px short of the centre: strictly decreasing. (TF's 'SAME' padding of the
    # even 64-px kernel is 31/32 px, so the minimum sits a pixel or two off the exact centre.)
    left = w[0, 0, 128, 64:124]
    right = w[0, 0, 128, 132:192].flip(0)
    top = w[0, 0, 64:124, 100]
    for line in (left, right, top):
        assert torch.all(line[1:] < line[:-1]), "weights must decrease away from the border"
    row = left
    # The numbers gmcnn.md §4.1 simulated for the TF kernel (a 64x64 near-box, 7 iterations).
    got = [row[d].item() for d in (0, 8, 16, 32)] + [w[0, 0, 128, 128].item()]
    assert got == pytest.approx([0.84, 0.78, 0.71, 0.58, 0.48], abs=0.01)
    assert w[m == 1].mean().item() == pytest.approx(0.73, abs=0.01)


def test_confidence_weights_for_strokes_follow_the_distance_to_known_pixels():
    m = torch.zeros(1, 1, 96, 96)
    m[..., 40:56, 8:88] = 1  # a 16-px thick stroke
    w = confidence_weights(m, hsize=16, iters=7)
    assert torch.all(w[m == 0] == 0)
    col = w[0, 0, 40:48, 48]  # edge -> middle of the stroke
    assert torch.all(col[1:] < col[:-1])


# ---- the stage-2 step -------------------------------------------------------------------------

def tiny_cfg(**kw) -> Config:
    base = dict(cnum=8, fill="zero", crop=32, batch=2, box_frac=0.5, hsize=16, iters=7, lr=1e-4, d_cnum=8,
                n_critic=2, threads=1, seed=0)
    base.update(kw)
    return Config(**base)


def fixed_batch_2(seed=0) -> Batch:
    """One rectangle sample and one stroke sample, 32x32, smooth images."""
    rng = np.random.default_rng(seed)
    m0, bb = rect_mask(rng, 32, 32, 0.5)
    m1 = stroke_mask(rng, 32, 32)
    assert m1.sum() > 16
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    img = torch.stack([torch.sin(3 * xx), torch.cos(2 * yy), xx * yy], 0)
    gt = torch.stack([img, img.flip(-1)])
    return Batch(gt, torch.from_numpy(np.stack([m0, m1])[:, None]), [bb, None])


def make_stage2(cfg: Config, seed=0) -> Stage2:
    torch.manual_seed(seed)
    gen = GMCNNGenerator(cfg.cnum, cfg.fill)
    opt = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    return Stage2(gen, opt, cfg, "cpu", random_vgg19(cfg.seed))


def test_one_generator_step_on_a_fixed_batch_lowers_the_generator_loss():
    s2 = make_stage2(tiny_cfg())
    b = fixed_batch_2()
    before = s2.generator_losses(b)
    critic_before = [p.clone() for p in s2.critics.parameters()]
    s2.generator_step(b)
    after = s2.generator_losses(b)
    assert after["g_total"].item() < before["g_total"].item()
    for k in ("recon", "ae", "mrf", "mrf_conv3_2", "mrf_conv4_2", "g_global", "g_local"):
        assert torch.isfinite(torch.as_tensor(before[k])), k
    assert all(torch.equal(a, p) for a, p in zip(critic_before, s2.critics.parameters()))  # G step leaves D alone
    # the total is the documented sum
    cfg = s2.cfg
    expect = (cfg.recon_w * before["recon"] + cfg.ae_w * cfg.ae_stage2_factor * before["ae"] + cfg.mrf_w * before["mrf"]
              + cfg.adv_w * (before["g_global"] + before["g_local"]))
    assert before["g_total"].item() == pytest.approx(float(expect), rel=1e-5)


def test_one_critic_step_lowers_the_critic_loss():
    s2 = make_stage2(tiny_cfg())
    b = fixed_batch_2()
    _, comp = s2.fake(b, grad=False)
    torch.manual_seed(5)
    d0 = s2.critic_losses(b, comp)["d_total"].item()
    torch.manual_seed(5)  # same interpolation alphas
    s2.critic_step(b, comp)
    torch.manual_seed(5)
    d1 = s2.critic_losses(b, comp)["d_total"].item()
    assert d1 < d0


def test_full_step_updates_both_and_logs_every_term():
    for fresh in (True, False):
        s2 = make_stage2(tiny_cfg(d_fresh_batch=fresh))
        b = fixed_batch_2()
        g0 = [p.clone() for p in s2.gen.parameters()]
        d0 = [p.clone() for p in s2.critics.parameters()]
        calls = []
        L = s2.step(lambda: calls.append(1) or b)
        assert len(calls) == (s2.cfg.n_critic + 1 if fresh else 1)
        assert set(L) >= {"g_total", "recon", "ae", "mrf", "mrf_conv3_2", "mrf_conv4_2", "g_global", "g_local",
                          "d_total", "d_global", "d_local", "gp_global", "gp_local"}
        assert all(np.isfinite(v) for v in L.values())
        assert any(not torch.equal(a, p) for a, p in zip(g0, s2.gen.parameters()))
        assert any(not torch.equal(a, p) for a, p in zip(d0, s2.critics.parameters()))


def test_critic_state_round_trip():
    s2 = make_stage2(tiny_cfg())
    b = fixed_batch_2()
    s2.critic_step(b)
    sd = {k: v for k, v in s2.state_dict().items()}
    other = make_stage2(tiny_cfg(), seed=1)
    other.load_state_dict(sd)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(other.critics.glob(x), s2.critics.glob(x))
    assert other.d_opt.state_dict()["state"].keys() == s2.d_opt.state_dict()["state"].keys()


def test_idmrf_on_the_local_critics_features_trains_the_generator_only():
    s2 = make_stage2(tiny_cfg(mrf_features="critic"))
    assert isinstance(s2.idmrf.vgg, CriticFeatures) and s2.idmrf.vgg.convs is s2.critics.local.convs
    b = fixed_batch_2()
    L = s2.generator_losses(b)
    assert L["mrf"].item() > 0 and set(L) >= {"mrf_conv3_2", "mrf_conv4_2"}
    feats = s2.idmrf.vgg(b.gt[:1, :, :16, :16])  # a 16-px local crop: strides 4 and 8 of the critic
    assert feats["conv3_2"].shape[-1] == 4 and feats["conv4_2"].shape[-1] == 2
    critic_before = [p.clone() for p in s2.critics.parameters()]
    g_before = [p.clone() for p in s2.gen.parameters()]
    s2.generator_step(b)
    assert all(torch.equal(a, p) for a, p in zip(critic_before, s2.critics.parameters()))
    assert any(not torch.equal(a, p) for a, p in zip(g_before, s2.gen.parameters()))
    # the critic's features are the critic's: a critic update changes the ID-MRF term
    before = s2.generator_losses(b)["mrf"].item()
    s2.critic_step(b)
    assert s2.generator_losses(b)["mrf"].item() != before


def test_stage2_hole_loss_follows_the_recon_recipe():
    b = fixed_batch_2()
    for kind, norm in (("uniform", "l1"), ("confidence", "l2")):
        s2 = make_stage2(tiny_cfg(recon_weights=kind, recon_norm=norm, mrf_w=0.0))
        pred, _ = s2.fake(b, grad=False)
        mw, region, area = recon_weights(kind, b.mask, b.boxes, s2.cfg.hsize, s2.cfg.iters)
        want = stage1_losses(pred, b.gt, b.mask, mw, region, area, norm=norm)["recon"]
        assert s2.generator_losses(b, pred)["recon"].item() == pytest.approx(want.item(), rel=1e-6)
    err = (b.gt - pred).abs()
    uniform = (err * b.mask).sum(dim=(1, 2, 3)) / (3 * b.mask.sum(dim=(1, 2, 3)))  # mean over the hole
    assert recon_weights("uniform", b.mask, b.boxes)[0] is b.mask
    mw, region, area = recon_weights("uniform", b.mask, b.boxes)
    assert ((err * mw * region).sum(dim=(1, 2, 3)) / (3 * area)).allclose(uniform)


def test_local_crops_follow_the_boxes():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    boxes = [(3, 5, 16, 16), None]
    c = crop_boxes(x, boxes, [0], local_size(32, 0.5))
    assert c.shape == (1, 3, 16, 16) and torch.equal(c[0], x[0, :, 3:19, 5:21])
    resized = crop_boxes(x, [(0, 0, 8, 8)], [0], 16, "nearest")
    assert resized.shape == (1, 3, 16, 16)


def test_vgg_is_required_and_random_init_is_explicit():
    with pytest.raises(SystemExit, match="--random-vgg"):
        build_vgg(tiny_cfg(stage=2), "cpu")
    vgg, info = build_vgg(tiny_cfg(stage=2, random_vgg=True), "cpu")
    assert info["random"] is True and vgg is not None
    vgg, info = build_vgg(tiny_cfg(stage=2, mrf_w=0.0), "cpu")
    assert vgg is None and info == {"used": False}


# ---- sample grids -----------------------------------------------------------------------------

def test_sample_grid_columns():
    b = fixed_batch_2()
    pred = torch.zeros_like(b.gt)
    g = grid(b.gt, b.mask, pred)
    assert g.shape == (2 * 32 + 2, 3 * 32 + 4, 3) and g.dtype == np.uint8
    hole = b.mask[0, 0].numpy() > 0
    inp, out, truth = g[:32, :32], g[:32, 34:66], g[:32, 68:100]
    assert np.all(inp[hole] == 255)                    # hole shown white
    assert np.array_equal(out[~hole], truth[~hole])     # composite keeps the known pixels
    assert np.all(out[hole] == 128)                     # the (zero) prediction inside the hole


# ---- the trainer (train.py) with stage 2 ------------------------------------------------------

@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "train" / f"{i}.jpg")
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(tmp_path / "val" / f"{i}.png")
    return tmp_path


INIT_METRICS = {"hole_psnr": 20.0, "sharpness": 0.2, "freeform": {"hole_psnr": 22.0, "sharpness": 0.3}}


def run_train(cfg: Config, resume=False) -> dict:
    old = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        return train(cfg, resume)
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])


def test_trainer_runs_stage2_from_a_stage1_generator_and_resumes(data, capsys):
    init = data / "stage1_gen.pt"
    torch.manual_seed(0)
    save_generator(init, GMCNNGenerator(8, "zero"), tiny_cfg(), 10, INIT_METRICS)
    out = data / "run"
    cfg = tiny_cfg(stage=2, data=str(data / "train"), val=str(data / "val"), out=str(out), init=str(init),
                   random_vgg=True, steps=2, eval_every=2, eval_n=1, ckpt_every=1, log_every=1, sample_every=1,
                   sample_n=2, warmup=1, val_photos=str(data / "val"), rotate=30.0)
    assert run_train(cfg)["step"] == 2
    ck = torch.load(out / "last.pt")
    assert ck["step"] == 2 and set(ck["stage2"]) >= {"critics", "d_opt"}
    assert ck["config"]["random_vgg"] is True and ck["config"]["stage"] == 2
    assert ck["config"]["psnr_floor"] == pytest.approx(21.0 - 0.3)  # the init's val score - psnr_drop
    assert json.loads((out / "vgg.json").read_text())["random"] is True
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "g_total" in x]
    assert [x["step"] for x in steps] == [1, 2]
    assert {"mrf", "g_global", "g_local", "d_global", "d_local", "gp_global", "gp_local", "recon", "ae"} <= set(steps[0])
    checks = [x["eval"] for x in lines if "eval" in x]
    assert checks and all({"score", "grid", "freeform"} <= set(c["photos"]) for c in checks)  # val photos scored
    assert (out / "samples" / "step0000002.png").is_file() and (out / "last_gen.pt").is_file()
    gen_ck = torch.load(out / "last_gen.pt")
    assert gen_ck["config"]["random_vgg"] is True  # what a manifest reads
    # resume: generator, critics and both optimisers come back, training continues at step 3
    critic_w = ck["stage2"]["critics"]["glob.fc.weight"]
    assert run_train(replace(cfg, steps=3, psnr_floor=0.0), resume=True)["step"] == 3
    assert "resumed from" in capsys.readouterr().err
    ck3 = torch.load(out / "last.pt")
    assert ck3["step"] == 3 and not torch.equal(ck3["stage2"]["critics"]["glob.fc.weight"], critic_w)
    assert ck3["config"]["psnr_floor"] == pytest.approx(20.7)  # a resumed run keeps the floor it started with


def test_stage2_needs_the_init_val_score_for_its_floor(data):
    init = data / "no_metrics.pt"
    save_generator(init, GMCNNGenerator(8, "zero"), tiny_cfg(), 10, {})
    cfg = tiny_cfg(stage=2, data=str(data / "train"), val=str(data / "val"), out=str(data / "r3"), init=str(init),
                   random_vgg=True, steps=1)
    with pytest.raises(SystemExit, match="records no val metrics"):
        run_train(cfg)


def test_missing_val_photos_stop_the_run_before_its_first_step(data):
    init = data / "stage1_gen.pt"
    save_generator(init, GMCNNGenerator(8, "zero"), tiny_cfg(), 10, INIT_METRICS)
    cfg = tiny_cfg(stage=2, data=str(data / "train"), val=str(data / "val"), out=str(data / "r4"), init=str(init),
                   random_vgg=True, steps=1, val_photos=str(data / "nowhere"))
    with pytest.raises(SystemExit, match="no val photos"):
        run_train(cfg)
    assert not (data / "r4" / "last.pt").exists()


def test_stage2_chooses_the_sharpest_checkpoint_within_the_psnr_floor():
    cfg = tiny_cfg(stage=2, psnr_floor=20.7)

    def m(centre, free, sc, sf):
        return {"hole_psnr": centre, "sharpness": sc, "freeform": {"hole_psnr": free, "sharpness": sf}}
    blurry, sharp, too_far = m(21.0, 22.0, 0.2, 0.3), m(20.8, 21.0, 0.5, 0.5), m(20.0, 21.0, 0.9, 0.9)
    assert choose(sharp, cfg) > choose(blurry, cfg)           # 20.9 >= 20.7: sharper wins
    assert choose(too_far, cfg) == float("-inf")              # 20.5 < 20.7: never chosen, however sharp
    assert choose(blurry, cfg) > choose({"hole_psnr": -1.0, "sharpness": -1.0}, cfg)  # beats the empty start
    s1 = tiny_cfg(stage=1)
    assert choose(blurry, s1) > choose(sharp, s1)             # stage 1: the val score alone


def test_stage2_never_chooses_a_checkpoint_over_the_grid_ceiling():
    cfg = tiny_cfg(stage=2, psnr_floor=20.7, grid_max=0.02)

    def m(sharp, grid_c, grid_f):
        return {"hole_psnr": 21.0, "sharpness": sharp, "grid": grid_c,
                "freeform": {"hole_psnr": 22.0, "sharpness": sharp, "grid": grid_f}}
    assert choose(m(0.6, 0.01, 0.02), cfg) == pytest.approx(0.6)   # mean grid 0.015: allowed
    assert choose(m(0.9, 0.01, 0.04), cfg) == float("-inf")        # mean 0.025: sharpness that is a grid
    assert choose(m(0.9, 0.01, 0.04), tiny_cfg(stage=2, psnr_floor=20.7)) == pytest.approx(0.9)  # 0 = unchecked
    old = {"hole_psnr": 21.0, "sharpness": 0.5, "freeform": {"hole_psnr": 22.0, "sharpness": 0.5}}
    assert choose(old, cfg) == pytest.approx(0.5)  # records from before the metric are not checked


def test_stage2_never_chooses_a_checkpoint_that_fails_the_val_photos():
    cfg = tiny_cfg(stage=2, psnr_floor=20.7, grid_max=0.005)

    def m(contrib_c, contrib_f, grid):
        return {"hole_psnr": 21.0, "sharpness": 0.6, "grid": 0.001,
                "freeform": {"hole_psnr": 22.0, "sharpness": 0.6, "grid": 0.001},
                "photos": {"hole_psnr": 18.0, "grid": grid, "freeform": {"hole_psnr": 20.0, "grid": grid},
                           "contribution": {"center": contrib_c, "freeform": contrib_f}}}
    assert choose(m(0.2, 0.1, 0.002), cfg) == pytest.approx(0.6)   # above its pre-fill, no plaid: allowed
    assert choose(m(-0.1, 0.1, 0.002), cfg) == float("-inf")       # below its pre-fill on the photos' centres
    assert choose(m(0.2, -0.01, 0.002), cfg) == float("-inf")      # ... or their strokes
    assert choose(m(0.2, 0.1, 0.009), cfg) == float("-inf")        # plaid on the photos, however clean val is


def test_rotated_crops_keep_their_size_and_turn_about_the_centre():
    from model.train import rotated
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 30:34] = 255                                            # a vertical bar through the centre
    assert np.array_equal(rotated(img, 0.0), img)
    turned = rotated(img, 90.0)
    assert turned.shape == img.shape
    assert turned[31:33, :, 0].mean() > 200 and turned[:, 10, 0].mean() < 60  # now horizontal
    diag = rotated(img, 45.0)
    assert diag[5, 5, 0] > 200 or diag[5, 58, 0] > 200             # along a diagonal, corners reflected
    assert diag.min() == 0 and diag.max() == 255


def test_trainer_stage2_updates_the_weight_average_and_judges_it(data):
    init = data / "stage1_gen.pt"
    torch.manual_seed(0)
    g0 = GMCNNGenerator(8, "zero")
    save_generator(init, g0, tiny_cfg(), 10, INIT_METRICS)
    out = data / "ema"
    cfg = tiny_cfg(stage=2, data=str(data / "train"), val=str(data / "val"), out=str(out), init=str(init),
                   mrf_features="critic", steps=2, eval_every=2, eval_n=1, ckpt_every=1, warmup=1, ema=0.5,
                   psnr_floor=-100.0)
    run_train(cfg)
    ck = torch.load(out / "last.pt")
    init_w = {k: v.float() for k, v in torch.load(init)["gen"].items()}
    moved = [k for k, v in ck["ema"].items() if v.is_floating_point() and not torch.equal(v, init_w[k])]
    assert moved, "stage 2 left the weight average at the init"
    best = torch.load(out / "best_gen.pt")  # judged = the average (any val score clears a floor of -100)
    assert all(torch.equal(best["gen"][k], v.half()) for k, v in ck["ema"].items())
    assert json.loads((out / "vgg.json").read_text()) == {"used": False, "mrf_features": "critic"}


def test_trainer_refuses_stage2_without_a_starting_generator(data):
    cfg = tiny_cfg(stage=2, data=str(data / "train"), val=str(data / "val"), out=str(data / "r2"),
                   random_vgg=True)
    with pytest.raises(SystemExit, match="stage-1 generator"):
        run_train(cfg)


def test_stage1_path_is_unchanged(data):
    out = data / "s1"
    cfg = tiny_cfg(data=str(data / "train"), val=str(data / "val"), out=str(out), steps=1, eval_every=1,
                   eval_n=1, log_every=1)
    run_train(cfg)
    ck = torch.load(out / "last.pt")
    assert "stage2" not in ck and set(ck) >= {"gen", "opt", "step", "rng", "torch_rng", "best"}
    start, line = (json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()[:2])
    # The first line says what the run trains (fill, cnum: model.provenance checks a checkpoint's
    # against them) and what it picked (precision, threads, the probe's rates, the malloc it runs
    # under: train.under_tcmalloc), then steps.
    assert set(start) == {"start", "fill", "cnum", "cpu", "bf16_flags", "precision", "channels_last", "threads",
                          "allocator", "probe_img_s"}
    assert start["allocator"] == (os.path.basename(os.environ.get("LD_PRELOAD", "")) or "glibc")
    assert (start["fill"], start["cnum"]) == (cfg.fill, cfg.cnum)
    assert set(line) == {"step", "loss", "recon", "ae", "lr", "img_s", "t"}


@pytest.mark.parametrize("opt_out", [False, True])
def test_the_trainer_command_runs_itself_under_tcmalloc_unless_told_not_to(data, opt_out):
    import glob
    import subprocess
    import sys
    from model.train import TCMALLOC_GLOB
    if not glob.glob(TCMALLOC_GLOB):
        pytest.skip("libtcmalloc-minimal4 is not installed (scripts/setup.sh installs it)")
    out = data / f"alloc-{opt_out}"
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "gpu-jobs")
    if opt_out:
        env["GMCNN_ALLOCATOR"] = "glibc"
    subprocess.run([sys.executable, "-m", "model.train", "--data", str(data / "train"), "--val", str(data / "val"),
                    "--out", str(out), "--cnum", "4", "--crop", "32", "--batch", "1", "--steps", "1", "--threads", "1",
                    "--eval-every", "1", "--eval-n", "1", "--ckpt-every", "1", "--precision", "fp32", "--channels-last", "off"],
                   env=env, check=True, capture_output=True, timeout=300)
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["allocator"] == ("glibc" if opt_out else "libtcmalloc_minimal.so.4")


def test_sample_batch_is_fixed(data):
    a = fixed_batch(str(data / "val"), 2, 32)
    b = fixed_batch(str(data / "val"), 2, 32)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[0].shape == (2, 3, 32, 32)
