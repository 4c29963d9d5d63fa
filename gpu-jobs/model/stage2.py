"""GMCNN stage 2: ID-MRF + WGAN-GP with a global and a local critic, from the stage-1 generator.

One `Stage2.step` is n_critic critic updates followed by one generator update (TF train.py
L55-57). As in the TF code every critic update draws a new batch and new masks
(`d_fresh_batch=True`); `d_fresh_batch=False` reuses one batch and one generator forward for the
whole step, as the official PyTorch port does (about n_critic times cheaper in generator work).

Critic loss   d = [mean(D_g(fake) - D_g(real))] + [mean(D_l(fake) - D_l(real))]
                  + gp_lambda * (GP_global + GP_local)
Generator     g = recon_w * confidence-weighted L1 over the bbox (or the image, for strokes)
                  + ae_w * ae_stage2_factor * known-region L1      (the TF GAN stage adds it twice)
                  + mrf_w * ID-MRF(raw prediction, truth)           (0.07 = 1.4 x 0.05 in TF)
                  + adv_w * (-mean D_g(composite) - mean D_l(composite))

Per-sample masks. The TF code shares one mask per batch; we draw one per sample (rectangles and
strokes mixed by rect_ratio), so each sample goes to the critic of its kind:
- the global critic sees every composited image (its GP is masked by the sample's hole);
- a rectangle sample's local score comes from the local critic on its bbox crop (the bbox is
  `box_frac * crop` on a side for every rectangle, so all crops have one size; GP masked by the
  crop of the hole, with its own interpolation alpha, as TF);
- a stroke sample's local score comes from the masked patch critic on the whole image (GP masked
  by the full hole, on the global interpolates, as TF).
`d_local` and `GP_local` are means over all samples of whichever local score each one has; each
critic only ever compares its own real and fake scores, so mixing them in one mean is sound.
ID-MRF runs on the bbox crops of the rectangle samples and on the whole stroke samples, as two
groups (features centred per group, as TF centres per batch); the loss is their sample-weighted
mean, i.e. the mean over the batch of the per-sample -log terms.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .critics import MaskedPatchCritic, WGANCritic, gradient_penalty, random_interpolates, wgan_d_loss, wgan_g_loss
from .generator import composite
from .idmrf import IDMRF
from .losses import recon_weights, stage1_losses
from .masks import sample_mask
from .vgg import VGG19Features, load_vgg19, random_vgg19

VGG_HELP = ("stage 2 needs VGG19 weights for ID-MRF: --vgg-weights FILE (torchvision's vgg19 state dict, "
            "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth) with --vgg-sha256 (full digest or its "
            ">= 8-digit prefix), or --random-vgg for a run without them (recorded in the model's manifest)")


@dataclass
class Batch:
    gt: torch.Tensor      # N,3,H,W RGB in [-1, 1]
    mask: torch.Tensor    # N,1,H,W, 1 = hole
    boxes: list           # per sample: (top, left, bh, bw) for a rectangle, None for strokes


def local_size(crop: int, box_frac: float) -> int:
    """The side of a rectangle's bbox, as masks.rect_mask draws it."""
    return max(8, int(crop * box_frac))


def sample_batch(data, rng: np.random.Generator, cfg, device) -> Batch:
    """The stage-1 trainer's batch draw (same RNG order): random crops, one mask per sample."""
    imgs = data.batch(rng, cfg.batch)
    masks, boxes = zip(*(sample_mask(rng, cfg.crop, cfg.crop, cfg.rect_ratio, cfg.box_frac) for _ in range(cfg.batch)))
    gt = torch.from_numpy(imgs).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
    m = torch.from_numpy(np.stack(masks)[:, None]).to(device)
    return Batch(gt, m, list(boxes))


def crop_boxes(x: torch.Tensor, boxes: list, idx: list[int], size: int, mode: str = "bilinear") -> torch.Tensor:
    """Stack the bbox crops of samples idx; a crop of another size is resized to size x size."""
    out = []
    for i in idx:
        t, l, bh, bw = boxes[i]
        c = x[i:i + 1, :, t:t + bh, l:l + bw]
        if (bh, bw) != (size, size):
            c = F.interpolate(c, size=(size, size), mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
        out.append(c)
    return torch.cat(out)


class CriticFeatures(nn.Module):
    """The local critic's conv stack as ID-MRF's feature extractor (`mrf_features: critic`): the
    VGG19Features interface, with VGG's layer names mapped to the critic layers at the same
    stride (conv3_2 -> 1/4, the second conv; conv4_2 -> 1/8, the third). Why: no trained VGG19 can
    be downloaded here, and a random one is 4.5 GMACs per 128-px crop on a 2-core CPU; the critic's
    features are learnt on this data and cost a tenth of that. Fully convolutional, so the stroke
    samples' whole images go through it as well. Its weights move with the critic (it is not
    saved twice: Critics holds it) and get no gradient from the generator's loss (Stage2 freezes
    the critics for that step)."""

    STRIDE_OF = {"conv3_2": 1, "relu3_2": 1, "conv4_2": 2, "relu4_2": 2}

    def __init__(self, critic: "WGANCritic"):
        super().__init__()
        self.convs = critic.convs

    def forward(self, x: torch.Tensor, names=("conv3_2", "conv4_2")) -> dict[str, torch.Tensor]:
        want = {self.STRIDE_OF[n]: n for n in names}
        out, h = {}, x
        for i, layer in enumerate(self.convs):
            h = layer(h)
            if i in want:
                out[want[i]] = h
            if i == max(want):
                break
        return out


class Critics(nn.Module):
    def __init__(self, crop: int, local: int, cnum: int = 64, blur: bool = False):
        super().__init__()
        self.glob = WGANCritic(crop, cnum, blur)
        self.local = WGANCritic(local, cnum, blur)
        self.patch = MaskedPatchCritic(cnum, blur)


def build_vgg(cfg, device) -> tuple[VGG19Features | None, dict]:
    """The VGG19 for ID-MRF from the config: weights file + checksum, or seeded random init."""
    if cfg.mrf_w == 0:
        return None, {"used": False}
    if cfg.mrf_features == "critic":
        return None, {"used": False, "mrf_features": "critic"}
    if cfg.mrf_features != "vgg":
        raise SystemExit(f"mrf_features must be vgg or critic, got {cfg.mrf_features!r}")
    if cfg.random_vgg:
        if cfg.vgg_weights:
            print(f"warning: --random-vgg: not loading {cfg.vgg_weights}", file=sys.stderr)
        vgg, info = random_vgg19(cfg.seed, "avg", cfg.vgg_input), {"random": True, "seed": cfg.seed}
    elif cfg.vgg_weights:
        try:
            vgg, digest = load_vgg19(cfg.vgg_weights, cfg.vgg_sha256, "avg", cfg.vgg_input)
        except (OSError, ValueError) as e:
            raise SystemExit(f"VGG19 weights: {e}") from None
        info = {"random": False, "path": cfg.vgg_weights, "sha256": digest}
    else:
        raise SystemExit(VGG_HELP)
    info.update(pool="avg", input=cfg.vgg_input, direction=cfg.mrf_direction)
    return vgg.to(device), info


def _mean_dicts(ds: list[dict]) -> dict:
    return {k: float(np.mean([d[k] for d in ds])) for k in ds[0]}


class Stage2:
    """Critics, their optimiser and the stage-2 losses around a generator and its optimiser."""

    def __init__(self, gen: nn.Module, g_opt: torch.optim.Optimizer, cfg, device, vgg: VGG19Features | None):
        self.gen, self.g_opt, self.cfg, self.device = gen, g_opt, cfg, torch.device(device)
        self.local = local_size(cfg.crop, cfg.box_frac)
        self.critics = Critics(cfg.crop, self.local, cfg.d_cnum, cfg.d_blur).to(self.device)
        self.d_lr = cfg.d_lr or cfg.lr  # 0 = the generator's lr (TF shares one Adam setting)
        self.d_opt = torch.optim.Adam(self.critics.parameters(), lr=self.d_lr, betas=(cfg.beta1, cfg.beta2))
        self.idmrf = None
        if cfg.mrf_w and cfg.mrf_features == "critic":
            self.idmrf = IDMRF(CriticFeatures(self.critics.local), max_1d=cfg.mrf_max_1d, direction=cfg.mrf_direction)
        elif cfg.mrf_w:
            if vgg is None:
                raise ValueError("mrf_w > 0 needs a VGG19")
            self.idmrf = IDMRF(vgg.to(self.device), max_1d=cfg.mrf_max_1d, direction=cfg.mrf_direction)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    # ---- helpers -------------------------------------------------------------------------
    @staticmethod
    def groups(b: Batch) -> tuple[list[int], list[int]]:
        rect = [i for i, bb in enumerate(b.boxes) if bb is not None]
        return rect, [i for i, bb in enumerate(b.boxes) if bb is None]

    def local_scores(self, x: torch.Tensor, b: Batch, rect: list[int], stroke: list[int]) -> torch.Tensor:
        parts = []
        if rect:
            parts.append(self.critics.local(crop_boxes(x, b.boxes, rect, self.local)))
        if stroke:
            s = torch.tensor(stroke, device=x.device)
            parts.append(self.critics.patch(x[s], b.mask[s]))
        return torch.cat(parts)

    def set_lr(self, factor: float) -> None:
        """Scale the critic lr (the trainer applies the same warm-up factor to the generator)."""
        for g in self.d_opt.param_groups:
            g["lr"] = self.d_lr * factor

    def fake(self, b: Batch, grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.set_grad_enabled(grad):
            pred = self.gen(b.gt, b.mask)
        return pred, composite(pred, b.gt, b.mask)

    # ---- critic --------------------------------------------------------------------------
    def critic_losses(self, b: Batch, comp: torch.Tensor) -> dict:
        cfg, c = self.cfg, self.critics
        real, fake = b.gt, comp.detach()
        rect, stroke = self.groups(b)
        n = real.shape[0]
        scores = c.glob(torch.cat([real, fake]))
        d_global = wgan_d_loss(scores[:n], scores[n:])
        d_local = wgan_d_loss(self.local_scores(real, b, rect, stroke), self.local_scores(fake, b, rect, stroke))
        x_global = random_interpolates(real, fake)
        gp_global = gradient_penalty(c.glob, x_global, b.mask)
        pens = []
        if rect:
            xr = random_interpolates(crop_boxes(real, b.boxes, rect, self.local), crop_boxes(fake, b.boxes, rect, self.local))
            pens.append(gradient_penalty(c.local, xr, crop_boxes(b.mask, b.boxes, rect, self.local, "nearest"), reduce=False))
        if stroke:
            s = torch.tensor(stroke, device=real.device)
            ms = b.mask[s]
            pens.append(gradient_penalty(lambda x: c.patch(x, ms), x_global[s], ms, reduce=False))
        gp_local = torch.cat(pens).mean()
        total = d_global + d_local + cfg.gp_lambda * (gp_global + gp_local)
        return {"d_total": total, "d_global": d_global, "d_local": d_local, "gp_global": gp_global, "gp_local": gp_local}

    def critic_step(self, b: Batch, comp: torch.Tensor | None = None) -> dict:
        if comp is None:
            _, comp = self.fake(b, grad=False)
        L = self.critic_losses(b, comp)
        self.d_opt.zero_grad(set_to_none=True)
        L["d_total"].backward()
        self.d_opt.step()
        return {k: v.item() for k, v in L.items()}

    # ---- generator -----------------------------------------------------------------------
    def mrf(self, pred: torch.Tensor, b: Batch, rect: list[int], stroke: list[int]) -> tuple[torch.Tensor, dict]:
        n = pred.shape[0]
        total = pred.new_zeros(())
        parts: dict = {}
        groups = []
        if rect:
            groups.append((crop_boxes(pred, b.boxes, rect, self.local), crop_boxes(b.gt, b.boxes, rect, self.local), len(rect)))
        if stroke:
            s = torch.tensor(stroke, device=pred.device)
            groups.append((pred[s], b.gt[s], len(stroke)))
        for p, g, k in groups:
            loss, lp = self.idmrf(p, g)
            total = total + loss * (k / n)
            for name, v in lp.items():
                parts[name] = parts.get(name, 0.0) + v * (k / n)
        return total, parts

    def generator_losses(self, b: Batch, pred: torch.Tensor | None = None) -> dict:
        cfg = self.cfg
        if pred is None:
            pred, _ = self.fake(b, grad=True)
        comp = composite(pred, b.gt, b.mask)
        rect, stroke = self.groups(b)
        mw, region, area = recon_weights(cfg.recon_weights, b.mask, b.boxes, cfg.hsize, cfg.iters)
        base = stage1_losses(pred, b.gt, b.mask, mw, region, area, cfg.recon_w, cfg.ae_w * cfg.ae_stage2_factor,
                             cfg.recon_norm)
        out = {"recon": base["recon"], "ae": base["ae"]}
        total = base["total"]
        if self.idmrf is not None:
            mrf, parts = self.mrf(pred, b, rect, stroke)
            total = total + cfg.mrf_w * mrf
            out["mrf"] = mrf.detach()
            out.update({f"mrf_{k}": v for k, v in parts.items()})
        g_global = wgan_g_loss(self.critics.glob(comp))
        g_local = wgan_g_loss(self.local_scores(comp, b, rect, stroke))
        total = total + cfg.adv_w * (g_global + g_local)
        out.update(g_global=g_global.detach(), g_local=g_local.detach(), g_total=total)
        return out

    def generator_step(self, b: Batch, pred: torch.Tensor | None = None) -> dict:
        self.critics.requires_grad_(False)  # no critic gradients from the generator's loss
        try:
            L = self.generator_losses(b, pred)
            self.g_opt.zero_grad(set_to_none=True)
            L["g_total"].backward()
            self.g_opt.step()
        finally:
            self.critics.requires_grad_(True)
        return {k: float(v) for k, v in L.items()}

    # ---- one training step -----------------------------------------------------------------
    def step(self, sample: Callable[[], Batch]) -> dict:
        """n_critic critic updates, then one generator update. Returns every term as a float
        (critic terms averaged over the n_critic updates)."""
        cfg = self.cfg
        d_logs = []
        if cfg.d_fresh_batch:
            for _ in range(cfg.n_critic):
                d_logs.append(self.critic_step(sample()))
            g_log = self.generator_step(sample())
        else:
            b = sample()
            pred, comp = self.fake(b, grad=True)
            for _ in range(cfg.n_critic):
                d_logs.append(self.critic_step(b, comp.detach()))
            g_log = self.generator_step(b, pred)
        return {**g_log, **_mean_dicts(d_logs)}

    # ---- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        sd = {"critics": self.critics.state_dict(), "d_opt": self.d_opt.state_dict()}
        if self.device.type == "cuda":
            sd["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return sd

    def load_state_dict(self, sd: dict) -> None:
        self.critics.load_state_dict(sd["critics"])
        self.d_opt.load_state_dict(sd["d_opt"])
        if "cuda_rng" in sd and self.device.type == "cuda":
            torch.cuda.set_rng_state(sd["cuda_rng"].cpu(), self.device)
