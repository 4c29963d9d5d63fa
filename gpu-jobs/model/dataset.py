"""Build the training set from Debian packages (never committed: this script is the recipe).

    python3 -m model.dataset --out ../data          # from gpu-jobs/

Steps: `apt-get download` four packages, `dpkg -x` them, pick the colour images (skipping normal,
specular, gloss, glow and bump maps), downscale each so its shorter side is at most 512 px, and
split whole source images three ways by a hash of their name, so that no crop of a val or test
image is ever seen in training:
  - train (about 8 in 10): random crops at training time;
  - val (1 in 10): every choice (sweeps, checkpoint selection, early stopping, calibration);
  - test (1 in 10): reported once per shipped model, never used to choose anything.
Val and test images are stored as fixed 256x256 centre crops. `--pack` writes a compact tar for a
GPU machine (train + the val images its training loop checks; never the test split).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

PACKAGES = ["ufoai-textures", "nexuiz-textures", "plasma-workspace-wallpapers", "gnome-backgrounds"]
# Photographs and smooth artwork for val only (`val-photos/`, never trained on): the four packages
# above are almost all game textures, busy enough to hide the axis-aligned streaks stage 2 draws
# across the smooth areas of photos (README, 'The sixth stretch'). Selection must see what ship check 4
# tests on the outside photos, without choosing on those.
PHOTO_PACKAGES = ["mate-backgrounds", "ukui-wallpapers"]
# Maps that are not colour photographs/textures (normals, specular, gloss, glow, bump, team masks).
NON_COLOUR = re.compile(r"_(nm|sm|gm|norm|normal|gloss|glow|bump|spec|pants|shirt|luma|height)\.[a-z]+$", re.I)
IMG_EXT = (".png", ".jpg", ".jpeg", ".tga", ".webp")
MAX_SHORT = 512
MIN_SIDE = 256
SPLIT_MOD = 10
SPLITS = {0: "val", 1: "test"}  # sha1(name) % SPLIT_MOD -> split; every other residue is train
EVAL_SIZE = 256
SPLIT_RULE = f"sha1(source name) % {SPLIT_MOD}: 0 -> val, 1 -> test, else train (whole source images)"


def split_of(name: str) -> str:
    return SPLITS.get(int(hashlib.sha1(name.encode()).hexdigest(), 16) % SPLIT_MOD, "train")


def fetch(debs: Path, raw: Path, packages: list[str] = PACKAGES) -> None:
    debs.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("_")[0] for p in debs.glob("*.deb")}
    missing = [p for p in packages if p not in have]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    if not raw.exists():
        raw.mkdir(parents=True)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(raw)], check=True)


def sources(raw: Path):
    """Yield (stable name, bytes-loader) for each candidate colour image."""
    for pk3 in sorted(raw.rglob("*.pk3")):
        z = zipfile.ZipFile(pk3)
        for n in sorted(z.namelist()):
            if n.lower().endswith(IMG_EXT) and not NON_COLOUR.search(n):
                yield f"{pk3.parent.parent.name}/{n}", (lambda z=z, n=n: z.read(n))
    # Wallpapers: several sizes of the same picture; take the largest light variant once.
    for wall in sorted((raw / "usr/share/wallpapers").glob("*/contents/images")):
        files = [p for p in wall.iterdir() if p.suffix.lower() in IMG_EXT]
        if files:
            best = max(files, key=lambda p: p.stat().st_size)
            yield f"wallpapers/{wall.parent.parent.name}", (lambda p=best: p.read_bytes())
    for p in sorted((raw / "usr/share/backgrounds").rglob("*")):
        if p.suffix.lower() in IMG_EXT:
            yield f"backgrounds/{p.name}", (lambda p=p: p.read_bytes())


def photo_sources(raw: Path):
    """(stable name, bytes-loader) per picture of PHOTO_PACKAGES; one per picture when a package
    ships it at several sizes (`Elephants_3840x2160.jpg`: the largest)."""
    best: dict[str, Path] = {}
    for p in sorted((raw / "usr/share/backgrounds").rglob("*")):
        if p.suffix.lower() in IMG_EXT:
            stem = re.sub(r"_\d+x\d+$", "", p.stem)
            if stem not in best or p.stat().st_size > best[stem].stat().st_size:
                best[stem] = p
    for stem, p in sorted(best.items()):
        yield f"photos/{stem}", (lambda p=p: p.read_bytes())


def build_photos(out: Path) -> dict:
    """`val-photos/`: 256x256 centre crops of every usable picture of PHOTO_PACKAGES (val: every
    choice; none is trained on, none is a test image)."""
    debs, raw = out / "debs-photos", out / "raw-photos"
    fetch(debs, raw, PHOTO_PACKAGES)
    dest = out / "val-photos"
    dest.mkdir(parents=True, exist_ok=True)
    counts = {"val_photos": 0, "skipped": 0}
    for name, read in photo_sources(raw):
        im = load_rgb(read())
        if im is None or not usable(im):
            counts["skipped"] += 1
            continue
        centre_crop(im, EVAL_SIZE).save(dest / f"{safe(name)}.png")
        counts["val_photos"] += 1
    return {"packages": PHOTO_PACKAGES, "use": "val only (selection); never trained on", "counts": counts}


def load_rgb(data: bytes) -> Image.Image | None:
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception:
        return None
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        alpha = np.asarray(im)[..., 3]
        if alpha.min() < 250:  # cut-outs (foliage, decals) have undefined colour under alpha
            return None
    return im.convert("RGB")


def usable(im: Image.Image) -> bool:
    if min(im.size) < MIN_SIDE:
        return False
    a = np.asarray(im.resize((64, 64)), dtype=np.float32)
    if a.std() < 8:  # flat fills teach nothing
        return False
    sat = (a.max(axis=2) - a.min(axis=2)).mean()
    return sat >= 4  # near-grayscale masks and height maps


def downscale(im: Image.Image, short: int) -> Image.Image:
    s = min(im.size)
    if s <= short:
        return im
    f = short / s
    return im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.LANCZOS)


def centre_crop(im: Image.Image, size: int) -> Image.Image:
    im = downscale(im, size)
    left, top = (im.width - size) // 2, (im.height - size) // 2
    return im.crop((left, top, left + size, top + size))


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def build(out: Path) -> dict:
    debs, raw = out / "debs", out / "raw"
    fetch(debs, raw)
    dirs = {k: out / k for k in ("train", "val", "test")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0, "test": 0, "skipped": 0}
    for name, read in sources(raw):
        im = load_rgb(read())
        if im is None or not usable(im):
            counts["skipped"] += 1
            continue
        stem = safe(os.path.splitext(name)[0])
        split = split_of(name)
        if split == "train":
            downscale(im, MAX_SHORT).save(dirs["train"] / f"{stem}.jpg", quality=92)
        else:
            centre_crop(im, EVAL_SIZE).save(dirs[split] / f"{stem}.png")
        counts[split] += 1
    recipe = {
        "packages": PACKAGES,
        "split": SPLIT_RULE,
        "train": f"shorter side <= {MAX_SHORT} px, JPEG q92, random crops at training time",
        "val": f"{EVAL_SIZE}x{EVAL_SIZE} centre crops, PNG (every choice)",
        "test": f"{EVAL_SIZE}x{EVAL_SIZE} centre crops, PNG (reported once per shipped model)",
        "counts": counts,
        "val_photos": build_photos(out),
    }
    (out / "dataset.json").write_text(json.dumps(recipe, indent=2))
    return recipe


def pack(out: Path, dest: Path, short: int = 256, quality: int = 60, val_n: int = 32) -> None:
    """A compact tar of the training set for a GPU machine: shorter side `short`, JPEG `quality`,
    plus the first `val_n` val images and the val photos.
    Its size counts against the rental's 64 MiB together with the repo (model/rental.py checks)."""
    with tarfile.open(dest, "w") as tar:
        for p in sorted((out / "train").glob("*.jpg")):
            buf = io.BytesIO()
            downscale(Image.open(p).convert("RGB"), short).save(buf, "JPEG", quality=quality)
            info = tarfile.TarInfo(f"train/{p.name}")
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
        # The quick val check during training needs only the first few (full eval runs here).
        for p in sorted((out / "val").glob("*.png"))[:val_n]:
            tar.add(p, arcname=f"val/{p.name}")
        # Stage 2's val photos (train.Config.val_photos): 2 MiB, all of them.
        for p in sorted((out / "val-photos").glob("*.png")):
            tar.add(p, arcname=f"val-photos/{p.name}")
    print(f"{dest}: {dest.stat().st_size / 2**20:.1f} MiB", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data")
    ap.add_argument("--pack", help="also write a compact tar here")
    ap.add_argument("--photos-only", action="store_true", help="(re)build only val-photos/ (dataset.json updated)")
    a = ap.parse_args()
    out = Path(a.out)
    if a.photos_only:
        meta = out / "dataset.json"
        recipe = json.loads(meta.read_text()) if meta.exists() else {}
        recipe["val_photos"] = build_photos(out)
        meta.write_text(json.dumps(recipe, indent=2))
        print(json.dumps(recipe["val_photos"]["counts"]))
        return
    print(json.dumps(build(out)["counts"]))
    if a.pack:
        pack(out, Path(a.pack))


if __name__ == "__main__":
    main()
