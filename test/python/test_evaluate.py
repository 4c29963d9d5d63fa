"""Metrics and the evaluation harness on synthetic images (the real val and test splits are not in CI)."""
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from model import evaluate as ev
from model.contact import pick, sheet
from model.evaluate import BASELINES, eval_masks, full_eval, prefill_outputs, run_classical, table
from model.generator import GMCNNGenerator
from model.metrics import PSNR_CAP, capped_psnr, grid_excess, grid_score, grid_tiles, hole_gradient, psnr, sharpness, ssim

S = 64  # small images: ShiftMap and FSR take seconds at 256x256


def texture(seed: int, size: int = S) -> np.ndarray:
    """Smooth colour gradients plus fine texture: every method has something to get right."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, size)
    base = np.stack([np.add.outer(x, x) * 90 + 40, np.tile(x, (size, 1)) * 120 + 60, np.full((size, size), 30.0 * seed + 50)], -1)
    noise = gaussian_filter(rng.normal(0, 25, (size, size, 1)), (1, 1, 0))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture()
def folder(tmp_path):
    for i in range(3):
        Image.fromarray(texture(i)).save(tmp_path / f"{i}.png")
    return tmp_path


def test_psnr_and_ssim_reference_values():
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a + 10
    assert psnr(a, a) == 100.0
    assert capped_psnr(a, a) == PSNR_CAP == 50.0  # one perfect flat image must not swamp a mean
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / 100))
    assert capped_psnr(a, b) == psnr(a, b)
    region = np.zeros((32, 32), bool)
    region[:4] = True
    c = a.copy()
    c[:4] += 10
    assert psnr(a, c, region) == pytest.approx(psnr(a, b))  # hole-PSNR only looks inside
    assert ssim(a, a) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    n = rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)
    assert ssim(n, rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)) < 0.2


def test_sharpness_is_one_for_the_truth_near_zero_for_a_flat_fill_and_between_for_a_blur():
    imgs = [texture(i) for i in range(3)]
    masks = eval_masks("center", S, S, 3)
    holes = [m > 0.5 for m in masks]
    truth = [(hole_gradient(im, h), hole_gradient(im, h)) for im, h in zip(imgs, holes)]
    assert sharpness(truth) == pytest.approx(1.0)
    flat = [BASELINES["mean_fill"](im, m) for im, m in zip(imgs, masks)]
    assert sharpness((hole_gradient(f, h), hole_gradient(im, h)) for f, im, h in zip(flat, imgs, holes)) < 0.1
    blur = [gaussian_filter(im, (2, 2, 0)) for im in imgs]
    s = sharpness((hole_gradient(b, h), hole_gradient(im, h)) for b, im, h in zip(blur, imgs, holes))
    assert 0.1 < s < 0.9
    # pooled, not averaged: a flat truth adds nothing to either sum instead of dividing by zero
    still = np.full((S, S, 3), 90, np.uint8)
    assert sharpness(truth + [(0.0, hole_gradient(still, holes[0]))]) == pytest.approx(1.0)
    assert np.isnan(sharpness([(0.0, 0.0)]))


def _checker(size: int, period: int = 8, amp: float = 12.0) -> np.ndarray:
    """A stride-aligned checkerboard of period x period cells (what stage 2 drew into its fills)."""
    y, x = np.mgrid[:size, :size]
    return (((y // (period // 2) + x // (period // 2)) % 2) * 2 - 1)[..., None] * amp


def test_grid_score_finds_a_stride_grid_and_not_texture_blur_or_the_truths_own_period():
    size = 256
    imgs = [texture(i, size) for i in range(3)]
    holes = [m > 0.5 for m in eval_masks("center", size, size, 3)]
    strokes = [m > 0.5 for m in eval_masks("freeform", size, size, 3)]

    def score(outs, hs, truths=imgs):
        return grid_score(grid_excess(o, t, h) for o, t, h in zip(outs, truths, hs))

    def with_grid(im, h, amp=12.0):
        return np.clip(im + _checker(size, amp=amp) * h[..., None], 0, 255).astype(np.uint8)

    assert score(imgs, holes) == 0.0  # the truth has no grid beyond itself
    blur = [gaussian_filter(im, (2, 2, 0)) for im in imgs]
    assert score(blur, holes) < 0.001  # losing detail is sharpness's business, not a grid
    for hs in (holes, strokes):
        gridded = [with_grid(im, h) for im, h in zip(imgs, hs)]
        assert score(gridded, hs) > 0.02
        assert score(gridded, hs) > 3 * score([with_grid(im, h, 4.0) for im, h in zip(imgs, hs)], hs)
    # The same texture shifted by a random offset per image keeps its energy but no fixed phase.
    rng = np.random.default_rng(0)
    other = [np.roll(texture(i + 5, size), tuple(rng.integers(1, 7, 2)), (0, 1)) for i in range(3)]
    assert score(other, holes) < 0.002
    # Real texture with an 8-px period (the game textures' ribs in val) is stride-aligned energy of
    # its own: a fill that repeats it is not a grid, one that adds a checkerboard on top is.
    ribs = [np.clip(im + np.tile(np.array([0, 0, 20, 20, 0, 0, -20, -20.0]), size // 8)[None, :, None], 0, 255).astype(np.uint8)
            for im in imgs]
    assert sum(grid_tiles(r, h)[0].sum() for r, h in zip(ribs, holes)) > 0.05 * sum(grid_tiles(r, h)[1].sum() for r, h in zip(ribs, holes))
    assert score(ribs, holes, ribs) == 0.0
    assert score([with_grid(r, h) for r, h in zip(ribs, holes)], holes, ribs) > 0.02
    assert np.isnan(grid_score([(0.0, 0.0)]))


def test_hole_gradient_counts_only_pairs_inside_the_hole():
    img = np.zeros((8, 8, 3), np.uint8)
    hole = np.zeros((8, 8), bool)
    hole[2:6, 2:6] = True
    img[hole] = 200  # a flat hole on a black ground: the seam is no detail
    assert hole_gradient(img, hole) == 0.0
    img[3, 3] = 100  # one pixel inside differs: 4 neighbour pairs, all inside
    assert hole_gradient(img, hole) == pytest.approx(4 * 100 * (0.299 + 0.587 + 0.114))


def test_eval_masks_are_seeded_and_prefix_stable():
    a, b = eval_masks("freeform", S, S, 5), eval_masks("freeform", S, S, 3)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not (a[0] == a[1]).all()
    c = eval_masks("center", 256, 256, 1)[0]
    assert c.sum() == 128 * 128 and c[128, 128] == 1 and c[0, 0] == 0


def test_classical_methods_fill_the_hole_and_keep_every_known_pixel():
    img = texture(1)
    m = eval_masks("freeform", S, S, 1)[0]
    hole = m > 0.5
    for name, f in BASELINES.items():
        out = f(img, m)
        assert out.shape == img.shape and out.dtype == np.uint8, name
        assert (out[~hole] == img[~hole]).all(), f"{name} changed a known pixel"
        # nothing of the truth leaks in, yet every method beats filling with black
        black = img.copy()
        black[hole] = 0
        assert psnr(out, img, hole) > psnr(black, img, hole) + 3, name


def test_slow_methods_are_cached_and_parallel_runs_match(tmp_path):
    imgs = [texture(i) for i in range(2)]
    masks = eval_masks("freeform", S, S, 2)
    one = run_classical("fsr", imgs, masks, jobs=1, cache=tmp_path)
    files = sorted(tmp_path.rglob("*.png"))
    assert len(files) == 2 and files[0].parent.name.startswith("fsr-opencv")
    two = run_classical("fsr", imgs, masks, jobs=2, cache=None)  # spawned workers, no cache
    assert all((a == b).all() for a, b in zip(one, two))
    # a cached output is read back, not recomputed
    marker = np.full_like(imgs[0], 7)
    for f in files:
        Image.fromarray(marker).save(f)
    again = run_classical("fsr", imgs, masks, jobs=1, cache=tmp_path)
    assert all((a == marker).all() for a in again)


def test_full_eval_table_has_every_method_sharpness_and_the_networks_contribution(folder):
    # residual_init=0: an untrained residual model is exactly its pre-fill, so its contribution is 0
    gen = GMCNNGenerator(8, "pushpull-harmonic", residual_init=0.0).eval()
    zero = GMCNNGenerator(8, "zero").eval()
    res = full_eval({"tiny": gen, "paper": zero}, folder, jobs=1, cache=None)
    assert res["_n"] == 3
    pre = "tiny pre-fill (pushpull-harmonic)"
    for kind in ("center", "freeform"):
        assert set(res[kind]) == {"telea", "navier_stokes", "fsr", "shiftmap", "mean_fill", "tiny", pre, "paper", "_hole_ratio"}
        assert set(res[kind]["fsr"]) == {"psnr", "ssim", "hole_psnr", "sharpness", "grid"}
        assert res[kind]["tiny"] == res[kind][pre]
        assert res[kind]["mean_fill"]["sharpness"] < 0.1
        assert res[kind]["shiftmap"]["sharpness"] > res[kind]["navier_stokes"]["sharpness"]  # it copies texture
    assert res["_contribution"] == {"tiny": {"prefill": pre, "center": 0.0, "freeform": 0.0}}  # no row for fill=zero
    # on smooth gradients, interpolating fills beat the mean colour inside the hole
    assert res["center"]["fsr"]["hole_psnr"] > res["center"]["mean_fill"]["hole_psnr"]
    md = table(res)
    assert "| OpenCV FSR (fast) |" in md and "| OpenCV ShiftMap |" in md and "sharpness" in md
    assert "| grid centre / free-form |" in md and len(md.splitlines()[1].split("|")) == len(md.splitlines()[0].split("|"))
    old = {**res, **{k: {n: {x: v for x, v in row.items() if x != "grid"} if isinstance(row, dict) else row
                         for n, row in res[k].items()} for k in ("center", "freeform")}}
    assert "grid" not in table(old)  # results written before the metric keep their columns
    assert "tiny over tiny pre-fill (pushpull-harmonic): centre +0.00 dB" in md


def test_prefill_alone_is_none_for_the_papers_zero_fill():
    imgs, masks = [texture(0)], eval_masks("center", S, S, 1)
    assert prefill_outputs("zero", imgs, masks) is None
    out = prefill_outputs("harmonic", imgs, masks)[0]
    assert (out[masks[0] <= 0.5] == imgs[0][masks[0] <= 0.5]).all()
    assert psnr(out, imgs[0], masks[0] > 0.5) > psnr(BASELINES["mean_fill"](imgs[0], masks[0]), imgs[0], masks[0] > 0.5)


def test_full_eval_refuses_unknown_baselines_and_mixed_sizes(folder):
    with pytest.raises(SystemExit, match="unknown baseline"):
        full_eval({}, folder, baselines=["fsr", "inpaint-anything"], cache=None)
    Image.fromarray(texture(0, 48)).save(folder / "z.png")
    with pytest.raises(SystemExit, match="differ in size"):
        full_eval({}, folder, baselines=["telea"], cache=None)


def test_contact_sheet_spans_flat_to_busy_images(folder):
    Image.fromarray(np.full((S, S, 3), 128, np.uint8)).save(folder / "flat.png")
    imgs = ev.eval_images(folder)
    picks = pick(imgs, 3)
    assert picks[0] == 3  # the flat image (sorted last by name) comes first
    model = ev.torch_model("tiny", GMCNNGenerator(8, "harmonic", residual_init=0.0).eval())
    im = sheet(model, folder, n=3, baselines=["telea", "mean_fill"], cache=None)
    # input, 2 methods, pre-fill, model, truth: 6 columns of 256 px tiles; 3 rows
    assert im.size == (6 * 260 + 4, 20 + 3 * 260 + 4)


def test_quick_prints_the_trainers_val_check_record_of_each_generator(folder, tmp_path, monkeypatch, capsys):
    import json

    from model.train import Config, load_generator, save_generator
    path = tmp_path / "gen.pt"
    save_generator(path, GMCNNGenerator(8, "harmonic", residual_init=0.0), Config(cnum=8, fill="harmonic"), 7, {})
    monkeypatch.setattr("sys.argv", ["evaluate", "--images", str(folder), "--quick", "--model", f"tiny={path}"])
    ev.main()
    line = json.loads(capsys.readouterr().out.strip())
    gen, _ = load_generator(str(path))
    want = ev.quick_eval(gen.eval(), folder, None, "cpu")
    assert line == {"model": f"tiny={path}", "step": 7, **want}
    assert line["contribution"] == {"center": 0.0, "freeform": 0.0}  # an untrained residual is its pre-fill
