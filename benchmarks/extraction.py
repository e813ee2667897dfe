"""Minutiae extraction: speed and agreement with a commercial extractor on FVC2002 sets B,
and the calibration of the synthetic template path against the synthetic image path.

    .venv/bin/python benchmarks/extraction.py [--limit N] [--calibrate]

Prints its figures and writes ``benchmarks/results/extraction.json``.

Speed: wall time and CPU time of ``extract`` per image in this one process (Numba kernels
compiled and warmed first; nothing here runs in parallel, so it is one core's time). On a
shared machine the wall time includes waiting for the core: the load average is recorded.

Agreement: the ``.iso`` beside each FVC2002 image holds a commercial extractor's minutiae.
Those templates were made on the images resampled to 300 x 400 pixels (their headers say so
and their coordinates span that frame), so ours are mapped into that frame (positions scaled,
angles through the same anisotropic scaling) before pairing. A minutia of ours "agrees" if a
reference minutia lies within 10 pixels and 20 degrees; precision = share of ours that
agree, recall = share of the reference's that one of ours agrees with.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from machine import describe  # benchmarks/machine.py

from scomm.biometrics.extraction import extract
from scomm.biometrics.formats import read_iso19794
from scomm.biometrics.images import read_image
from scomm.settings import data_dir

RESULTS = Path(__file__).parent / "results" / "extraction.json"


def _agreement(ours: np.ndarray, ref: np.ndarray) -> tuple[int, int]:
    d = np.hypot(ours["x"][:, None] - ref["x"][None, :], ours["y"][:, None] - ref["y"][None, :])
    da = np.abs(np.angle(np.exp(1j * (ours["theta"][:, None] - ref["theta"][None, :]))))
    ok = (d < 10) & (da < np.radians(20))
    return int(ok.any(axis=1).sum()), int(ok.any(axis=0).sum())


def fvc(limit: int | None) -> dict[str, object]:
    root = data_dir() / "fvc2002"
    if not (root / "DB1_B").is_dir():
        return {"skipped": f"no FVC2002 data under {root}"}
    extract(read_image(root / "DB1_B" / "101_1.tif"))  # compile and warm the kernels
    out: dict[str, object] = {}
    every: list[float] = []
    every_cpu: list[float] = []
    for db in ("DB1_B", "DB2_B", "DB3_B", "DB4_B"):
        files = sorted((root / db).glob("*.tif"))[:limit]
        times, cpu, n_ours, n_ref, agree_ours, agree_ref, refused = [], [], 0, 0, 0, 0, 0
        for tif in files:
            img = read_image(tif)
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                t = extract(img, where=str(tif))
            except Exception:  # a refusal counts against recall, not as a crash
                refused += 1
                continue
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            ours = t.minutiae.copy()
            sx, sy = 300 / img.shape[1], 400 / img.shape[0]
            th = ours["theta"].astype(np.float64)
            ours["x"] *= sx
            ours["y"] *= sy
            ours["theta"] = np.arctan2(sy * np.sin(th), sx * np.cos(th))
            ref = read_iso19794(tif.with_suffix(".iso").read_bytes(), str(tif))[0].minutiae
            a, b = _agreement(ours, ref)
            n_ours, n_ref, agree_ours, agree_ref = (
                n_ours + len(ours),
                n_ref + len(ref),
                agree_ours + a,
                agree_ref + b,
            )
        every += times
        every_cpu += cpu
        out[db] = {
            "images": len(files),
            "refused": refused,
            "median_ms": round(1000 * float(np.median(times)), 1),
            "p90_ms": round(1000 * float(np.percentile(times, 90)), 1),
            "median_cpu_ms": round(1000 * float(np.median(cpu)), 1),
            "minutiae_per_image": round(n_ours / max(len(times), 1), 1),
            "reference_per_image": round(n_ref / max(len(times), 1), 1),
            "precision": round(agree_ours / max(n_ours, 1), 3),
            "recall": round(agree_ref / max(n_ref, 1), 3),
        }
        print(db, out[db])
    out["all"] = {
        "images": len(every),
        "median_ms": round(1000 * float(np.median(every)), 1),
        "p90_ms": round(1000 * float(np.percentile(every, 90)), 1),
        "median_cpu_ms": round(1000 * float(np.median(every_cpu)), 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count() or 0,
    }
    print("all", out["all"])
    return out


def _aligned_pairs(ma: np.ndarray, mb: np.ndarray, dist: float = 12.0, angle: float = 20.0) -> int:
    """Minutiae pairing up after the best rigid alignment (rotation grid + translation vote).

    A deliberately crude score, only to compare extractors with each other; the project's
    matcher (MCC, scomm.biometrics.matcher) is what measures the engine's real EER.
    """
    if len(ma) == 0 or len(mb) == 0:
        return 0
    ta, tb = ma["theta"].astype(float), mb["theta"].astype(float)
    xa, ya = ma["x"].astype(float), ma["y"].astype(float)
    xb, yb = mb["x"].astype(float), mb["y"].astype(float)
    pair_rot = tb[None, :] - ta[:, None]
    best = (-1, 0.0, 0.0, 0.0)
    for r in np.radians(np.arange(0, 360, 5)):
        agree = np.abs(np.angle(np.exp(1j * (pair_rot - r)))) < np.radians(angle)
        if not agree.any():
            continue
        tx = (xb[None, :] - (xa * np.cos(r) + ya * np.sin(r))[:, None])[agree]
        ty = (yb[None, :] - (-xa * np.sin(r) + ya * np.cos(r))[:, None])[agree]
        cells, counts = np.unique(
            np.stack([np.floor(tx / dist), np.floor(ty / dist)], 1), axis=0, return_counts=True
        )
        k = int(np.argmax(counts))
        if counts[k] > best[0]:
            best = (int(counts[k]), float(r), *((cells[k] + 0.5) * dist))
    _, r, dx, dy = best
    px = xa * np.cos(r) + ya * np.sin(r) + dx
    py = -xa * np.sin(r) + ya * np.cos(r) + dy
    d = np.hypot(px[:, None] - xb[None, :], py[:, None] - yb[None, :])
    da = np.abs(np.angle(np.exp(1j * (ta[:, None] + r - tb[None, :]))))
    d[(da > np.radians(angle)) | (d > 1.5 * dist)] = np.inf
    pairs = 0
    while np.isfinite(d).any():
        i, j = np.unravel_index(np.argmin(d), d.shape)
        d[i, :] = np.inf
        d[:, j] = np.inf
        pairs += 1
    return pairs


def pair_count_eer(db: str) -> dict[str, float]:
    """Equal error rate of the crude pair-count score, our templates versus the reference's.

    Genuine: all 28 pairs of impressions of each of the 10 fingers (280); impostor: impressions
    1-3 against 1 and 4 of every other finger (270).
    """
    import itertools

    root = data_dir() / "fvc2002" / db
    ours, ref = {}, {}
    for tif in sorted(root.glob("*.tif")):
        finger, impression = (int(v) for v in tif.stem.split("_"))
        ours[finger, impression] = extract(read_image(tif)).minutiae
        ref[finger, impression] = read_iso19794(tif.with_suffix(".iso").read_bytes())[0].minutiae
    fingers = sorted({f for f, _ in ours})
    genuine = [(f, i, f, j) for f in fingers for i, j in itertools.combinations(range(1, 9), 2)]
    impostor = [
        (f, i, g, j)
        for f, g in itertools.combinations(fingers, 2)
        for i in (1, 2, 3)
        for j in (1, 4)
    ]
    out = {}
    for name, t in (("ours", ours), ("reference", ref)):

        def score(k: tuple[int, int, int, int], t: dict = t) -> float:
            a, b = t[k[0], k[1]], t[k[2], k[3]]
            return _aligned_pairs(a, b) ** 2 / max(len(a) * len(b), 1)

        gen = np.array([score(k) for k in genuine])
        imp = np.array([score(k) for k in impostor])
        thresholds = np.unique(np.concatenate([gen, imp]))
        frr = np.array([(gen < x).mean() for x in thresholds])
        far = np.array([(imp >= x).mean() for x in thresholds])
        k = int(np.argmin(np.abs(frr - far)))
        out[name] = round(float((frr[k] + far[k]) / 2), 3)
    print(db, "pair-count EER", out)
    return out


def calibrate(masters: int = 12) -> dict[str, float]:
    """Extractor errors on synthetic impressions, against the master's own minutiae."""
    from scomm.biometrics import synthetic as S

    miss, spurious, pos, ang, swap = [], [], [], [], []
    for k in range(masters):
        master = S.master_fingerprint(1000 + k)
        truth = master.template().minutiae
        for j in range(2):
            seed = 5000 + 10 * k + j
            img = S.impression(master, seed)
            try:
                found = extract(img).minutiae
            except Exception:
                continue
            c = S._capture(seed, img.shape[1], img.shape[0])
            # our minutiae back in the master's frame, through the known capture geometry
            th = found["theta"].astype(np.float64)
            fx, fy = found["x"].astype(np.float64), found["y"].astype(np.float64)
            x, y = S._unplace(c, fx, fy)
            x2, y2 = S._unplace(c, fx + np.cos(th), fy - np.sin(th))
            theta = np.arctan2(-(y2 - y), x2 - x)
            tx, ty = truth["x"].astype(np.float64), truth["y"].astype(np.float64)
            ox, oy = S._place(c, tx, ty)
            margin = 15
            visible = (
                S._in_contact(c, tx, ty)
                & (ox >= margin)
                & (oy >= margin)
                & (ox < img.shape[1] - margin)
                & (oy < img.shape[0] - margin)
            )
            v = truth[visible]
            d = np.hypot(v["x"][:, None] - x[None, :], v["y"][:, None] - y[None, :])
            da = np.angle(np.exp(1j * (v["theta"][:, None] - theta[None, :])))
            ok = (d < 10) & (np.abs(da) < np.radians(30))
            miss.append(1 - ok.any(axis=1).mean())
            spurious.append(1 - ok.any(axis=0).mean())
            i, jj = np.nonzero(ok)
            pos += list(v["x"][i] - x[jj]) + list(v["y"][i] - y[jj])
            ang += list(da[i, jj])
            swap += list(v["kind"][i] != found["kind"][jj])
    result = {
        "impressions": len(miss),
        "miss": round(float(np.mean(miss)), 3),
        "spurious": round(float(np.mean(spurious)), 3),
        "position_sd_px": round(float(np.std(pos)), 2),
        "angle_sd_deg": round(float(np.degrees(np.std(ang))), 1),
        "kind_swap": round(float(np.mean(swap)), 3),
    }
    print("synthetic calibration", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="images per database")
    parser.add_argument("--calibrate", action="store_true", help="also calibrate synthetic")
    parser.add_argument(
        "--pair-count-eer", action="store_true", help="also a crude EER, ours vs reference"
    )
    args = parser.parse_args()
    results: dict[str, object] = {
        "machine": describe(),
        "fvc2002": fvc(args.limit),
    }
    if args.calibrate:
        results["synthetic_calibration"] = calibrate()
    if args.pair_count_eer and (data_dir() / "fvc2002").is_dir():
        results["pair_count_eer"] = {
            db: pair_count_eer(db) for db in ("DB1_B", "DB2_B", "DB3_B", "DB4_B")
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.part")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(RESULTS)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
