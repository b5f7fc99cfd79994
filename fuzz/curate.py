#!/usr/bin/env python3
"""Picks a few inputs from a fuzzing run's corpus to keep in the repository next to the
hand-written seeds: those that add the most coverage features the seeds do not reach.

    python3 curate.py TARGET [--max-total 20] [--max-size 4096]

Runs the built fuzz target with -set_cover_merge=1 (which records every input's full
feature set in its control file) over corpus/TARGET (the seeds, always kept) and
corpus-run/TARGET (a run's growth, scratch) to learn every input's features, then adds run
inputs greedily by new features (smaller first on ties) until corpus/TARGET holds
--max-total files (at least 3 are added). Added files are named min-<sha1 prefix>. Prints
how many of the whole run corpus's features the kept set reaches.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def features(binary, dirs):
    """{path: set(features)} for every file in dirs, from libFuzzer's merge control file."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        control = os.path.join(tmp, "control")
        env = dict(os.environ, ASAN_OPTIONS="detect_odr_violation=0:detect_leaks=0")
        subprocess.run(
            [binary, "-set_cover_merge=1", f"-merge_control_file={control}", "-rss_limit_mb=2048", "-timeout=10", out, *dirs],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        with open(control) as f:
            lines = f.read().splitlines()
    n = int(lines[0])
    paths = lines[2 : 2 + n]
    feats = {p: set() for p in paths}
    for line in lines[2 + n :]:
        parts = line.split()
        if parts and parts[0] == "FT":
            feats[paths[int(parts[1])]] = set(map(int, parts[2:]))
    return feats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--max-total", type=int, default=20)
    ap.add_argument("--max-size", type=int, default=4096)
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "target")))
    a = ap.parse_args()
    binary = os.path.join(a.target_dir, "x86_64-unknown-linux-gnu", "release", a.target)
    seeds_dir = os.path.join(HERE, "corpus", a.target)
    run_dir = os.path.join(HERE, "corpus-run", a.target)
    feats = features(binary, [seeds_dir, run_dir])
    seeds = {p for p in feats if os.path.dirname(p) == seeds_dir}
    everything = set().union(*feats.values())
    covered = set().union(*(feats[p] for p in seeds)) if seeds else set()
    seed_cov = len(covered)
    room = max(3, a.max_total - len(seeds))
    candidates = {p: f for p, f in feats.items() if p not in seeds and os.path.getsize(p) <= a.max_size}
    chosen = []
    for _ in range(room):
        best = max(candidates, key=lambda p: (len(candidates[p] - covered), -os.path.getsize(p)), default=None)
        if best is None or not candidates[best] - covered:
            break
        covered |= candidates.pop(best)
        chosen.append(best)
    for p in chosen:
        data = open(p, "rb").read()
        name = "min-" + hashlib.sha1(data).hexdigest()[:12]
        shutil.copyfile(p, os.path.join(seeds_dir, name))
    print(
        f"{a.target}: run corpus {len(feats) - len(seeds)} files, {len(everything)} features; "
        f"seeds {len(seeds)} files reach {seed_cov}; kept {len(seeds) + len(chosen)} files "
        f"(+{len(chosen)}) reach {len(covered)} ({100 * len(covered) / max(1, len(everything)):.1f}%)"
    )


if __name__ == "__main__":
    sys.exit(main())
