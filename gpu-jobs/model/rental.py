"""What a GPU rental would carry and bring back, computed exactly, against its limits.

The device tool copies the working tree (tracked files, plus untracked files git does not ignore)
and the `carry` paths, at most 64 MiB in all; at most 8 files come back from $OUT, each at most
16 MiB, at most 2 folders deep (../shared/docs and the tool's README). A rental that fails on
these wastes its 15 minutes, so the suite checks them on every run:

    python3 -m model.rental [--carry data/pack.tar] [--returned DIR]

Without --carry, the pack's committed budget (configs/rental.json, measured when it was built)
stands in for the pack, since a fresh clone has no data/.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

MIB = 1 << 20
TRAVEL_LIMIT = 64 * MIB
RETURN_FILES = 8
RETURN_FILE_LIMIT = 16 * MIB
RETURN_DEPTH = 2  # folders under $OUT
ROOT = Path(__file__).resolve().parents[2]
BUDGET_FILE = ROOT / "gpu-jobs/configs/rental.json"


def tree_files(root: Path = ROOT) -> list[tuple[str, int]]:
    """Tracked files and untracked files git does not ignore, as the device tool copies them."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                         check=True, capture_output=True).stdout.decode()
    files = []
    for rel in sorted(set(p for p in out.split("\0") if p)):
        p = root / rel
        if p.is_file() and not p.is_symlink():
            files.append((rel, p.stat().st_size))
    return files


def carried_files(paths: list[str], root: Path = ROOT) -> list[tuple[str, int]]:
    files = []
    for c in paths:
        p = root / c
        if not p.exists():
            raise SystemExit(f"carry path {c} does not exist")
        for f in [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file()):
            files.append((str(f.relative_to(root)), f.stat().st_size))
    return files


def travel_report(carry: list[str], root: Path = ROOT) -> dict:
    tree = tree_files(root)
    extra = carried_files(carry, root)
    budget = json.loads(BUDGET_FILE.read_text()) if BUDGET_FILE.exists() else {}
    pack = sum(s for _, s in extra) if carry else int(budget.get("pack_bytes", 0))
    total = sum(s for _, s in tree) + pack
    return {"tree_bytes": sum(s for _, s in tree), "tree_files": len(tree), "carry_bytes": pack,
            "carry_from": "measured" if carry else f"budget in {BUDGET_FILE.relative_to(root)}",
            "total_bytes": total, "limit_bytes": TRAVEL_LIMIT, "ok": total <= TRAVEL_LIMIT,
            "largest": sorted(tree + extra, key=lambda x: -x[1])[:5]}


def return_report(out: Path) -> dict:
    files = [p for p in sorted(out.rglob("*")) if p.is_file() or p.is_symlink()]
    problems = []
    if len(files) > RETURN_FILES:
        problems.append(f"{len(files)} files (at most {RETURN_FILES} come back)")
    for p in files:
        rel = p.relative_to(out)
        if p.is_symlink():
            problems.append(f"{rel}: a link (links do not come back)")
        elif p.stat().st_size > RETURN_FILE_LIMIT:
            problems.append(f"{rel}: {p.stat().st_size / MIB:.1f} MiB (at most 16 MiB)")
        if len(rel.parts) - 1 > RETURN_DEPTH:
            problems.append(f"{rel}: {len(rel.parts) - 1} folders deep (at most {RETURN_DEPTH})")
    return {"files": [str(p.relative_to(out)) for p in files], "problems": problems, "ok": not problems}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--carry", action="append", default=[], help="an ignored path that travels (e.g. data/pack.tar)")
    ap.add_argument("--returned", help="check a folder as the rental's $OUT")
    a = ap.parse_args(argv)
    ok = True
    t = travel_report(a.carry)
    print(f"travels: {t['tree_files']} files in the tree, {t['tree_bytes'] / MIB:.1f} MiB, + carry "
          f"{t['carry_bytes'] / MIB:.1f} MiB ({t['carry_from']}) = {t['total_bytes'] / MIB:.1f} of 64 MiB")
    for rel, size in t["largest"]:
        print(f"  {size / MIB:6.1f} MiB  {rel}")
    ok &= t["ok"]
    if a.returned:
        r = return_report(Path(a.returned))
        print(f"comes back: {len(r['files'])} files" + "".join(f"\n  problem: {p}" for p in r["problems"]))
        ok &= r["ok"]
    print("rental check: " + ("ok" if ok else "FAILS"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
