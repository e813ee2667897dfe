"""Minutia Cylinder-Code (MCC) matcher, bit-based, with Local Similarity Sort and Relaxation.

After Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code: a new representation and matching
technique for fingerprint recognition", IEEE TPAMI 32(12), 2010. The stages, each named:

1. ``prepare``: one *cylinder* per minutia. The cylinder is a 16 x 16 grid of cells (radius
   70 px) in the minutia's own frame (so it is invariant to translation and rotation), with 6
   layers of direction difference. A cell is set when enough neighbouring minutiae sit near it
   with that relative direction; a cell is *valid* when it lies inside the convex hull of the
   minutiae (grown by 50 px), so that a cylinder reaching past the print's edge does not count
   the missing area as "no minutiae there". Cells and validity are bits in ``uint64`` words so
   that two cylinders compare with AND / XOR / popcount, which is how MCC gets its speed.
2. ``compare``: the *local similarity* of every pair of cylinders whose minutiae point within
   90 degrees of each other (normalised Hamming distance over the cells valid in both), then
   the best pairs (each minutia used once), then *relaxation*: a pair's score is reinforced by
   the pairs that are geometrically consistent with it (distances, relative directions). The
   score is the mean relaxed similarity of the ``n_P`` most *efficient* pairs (those that
   relaxation kept best), ``n_P`` growing from 4 to 12 with the number of minutiae.

A probe is prepared once and reused against every candidate (SourceAFIS manners). The arrays
of a :class:`Prepared` are plain numpy so that a gallery can store them memory-mapped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from scomm.biometrics.template import Template
from scomm.errors import TemplateError

# --- cylinder parameters (the paper's, for 500 dpi) ---------------------------------------
RADIUS = 70.0  # R, pixels
NS = 16  # cells along each side of the cylinder's base
ND = 6  # direction layers
CELL = 2.0 * RADIUS / NS  # Delta_S, 8.75 px
LAYER = 2.0 * math.pi / ND  # Delta_D
SIGMA_S = 28.0 / 3.0  # spatial Gaussian
SIGMA_D = 2.0 * math.pi / 9.0  # directional Gaussian
MU_PSI = 0.01  # a cell is set when its contribution reaches this
HULL_GROWTH = 50.0  # omega: how far past the minutiae's convex hull cells are still valid
MIN_VALID_CELLS = 0.75  # minVC, as a share of the cells inside the cylinder's disc
MIN_NEIGHBOURS = 2  # minM: minutiae within R + 3 sigma_S for a cylinder to be kept
# --- comparison parameters -------------------------------------------------------------------
MIN_MATCHABLE = 0.60  # minME: share of disc cells valid in both cylinders
# Two minutiae whose directions differ by more than this are not compared. The paper uses
# 90 degrees; 60 degrees gave the same FVC2002 EER (rotations there stay well inside it) and
# skips a third more cylinder pairs, which is most of the comparison's time.
DIRECTION_GATE_COS = 0.5  # cos(60 degrees)
MIN_NP, MAX_NP, MU_P, TAU_P = 4, 12, 20.0, 0.4  # n_P from the number of cylinders
RELAX_ITERATIONS, RELAX_WEIGHT = 5, 0.5  # n_rel, w_R
MU_RHO_DIST, TAU_RHO_DIST = 5.0, -1.6  # rho: distance agreement (pixels)
MU_RHO_ANGLE, TAU_RHO_ANGLE = math.pi / 12.0, -30.0  # rho: direction agreements (radians)

WORDS_PER_LAYER = (NS * NS + 63) // 64  # 4 uint64 words hold one 16 x 16 layer
CYLINDER_WORDS = WORDS_PER_LAYER * ND  # 24
VERSION = 1  # bump when cylinders change: stored galleries must be rebuilt


def _disc_mask() -> np.ndarray:
    """Which of the NS x NS cells lie inside the cylinder's disc (radius R)."""
    offsets = (np.arange(NS) - (NS - 1) / 2.0) * CELL
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2) <= RADIUS**2


DISC = _disc_mask()
DISC_CELLS = int(DISC.sum())

# Lookup tables for the relaxation's sigmoids: exp() in the inner loop costs more than the rest.
_DIST_LUT_STEP = 0.05
_DIST_LUT = (
    1.0 / (1.0 + np.exp(-TAU_RHO_DIST * (np.arange(0, 12.5, _DIST_LUT_STEP) - MU_RHO_DIST)))
).astype(np.float32)
_DIST_CUTOFF = 12.0
_COS_LUT_SIZE = 16384  # indexed by cos(angle difference) in [-1, 1]
_COS_LUT = (
    1.0
    / (
        1.0
        + np.exp(
            -TAU_RHO_ANGLE * (np.arccos(np.linspace(-1.0, 1.0, _COS_LUT_SIZE + 1)) - MU_RHO_ANGLE)
        )
    )
).astype(np.float32)


def _direction_table(steps: int) -> np.ndarray:
    """G_D of every layer for a direction difference: the Gaussian's mass over the layer."""
    table = np.zeros((steps, ND))
    sq2 = SIGMA_D * math.sqrt(2.0)
    for r in range(steps):
        dtheta = -math.pi + (r + 0.5) * 2.0 * math.pi / steps
        for k in range(ND):
            alpha = (dtheta - (-math.pi + (k + 0.5) * LAYER) + math.pi) % (2 * math.pi) - math.pi
            table[r, k] = 0.5 * (
                math.erf((alpha + LAYER / 2) / sq2) - math.erf((alpha - LAYER / 2) / sq2)
            )
    return table


# erf() per neighbour and layer was a third of the cylinders' cost: a table at 0.1 degree.
_GD_STEPS = 3600
_GD_TABLE = _direction_table(_GD_STEPS)


@intrinsic
def _ctpop(typingctx, x):
    """The CPU's population count (llvm.ctpop): numba has no popcount of its own."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, args)

    return sig, codegen


# Typed alias for callers (mypy cannot see through numba's intrinsic decorator).
_popcount: Callable[[Any], Any] = _ctpop  # type: ignore[assignment]


@dataclass(frozen=True)
class Prepared:
    """A template indexed for comparison: its valid cylinders and their minutiae.

    ``bits`` (n, 24) and ``masks`` (n, 4) are uint64 words: cell values by layer, and cell
    validity (the same for every layer). ``x``, ``y`` (y pointing up), ``theta`` are float32.
    """

    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    bits: np.ndarray
    masks: np.ndarray
    minutia_index: np.ndarray  # which minutia of the template each cylinder belongs to

    def __len__(self) -> int:
        return int(self.x.shape[0])


# --- stage 1: cylinders -------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _convex_hull(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Indices of the convex hull, counter-clockwise (Andrew's monotone chain)."""
    n = px.shape[0]
    order = np.argsort(px * 1e6 + py)
    hull = np.empty(2 * n + 1, dtype=np.int64)
    k = 0
    for idx in range(n):
        i = order[idx]
        while k >= 2:
            a, b = hull[k - 2], hull[k - 1]
            cross = (px[b] - px[a]) * (py[i] - py[a]) - (py[b] - py[a]) * (px[i] - px[a])
            if cross > 0:
                break
            k -= 1
        hull[k] = i
        k += 1
    lower = k + 1
    for idx in range(n - 2, -1, -1):
        i = order[idx]
        while k >= lower:
            a, b = hull[k - 2], hull[k - 1]
            cross = (px[b] - px[a]) * (py[i] - py[a]) - (py[b] - py[a]) * (px[i] - px[a])
            if cross > 0:
                break
            k -= 1
        hull[k] = i
        k += 1
    return hull[: max(k - 1, 1)]


@numba.njit(cache=True, nogil=True)
def _in_grown_hull(qx: float, qy: float, hx: np.ndarray, hy: np.ndarray, grow: float) -> bool:
    """Whether a point lies inside the hull or within ``grow`` pixels of it."""
    m = hx.shape[0]
    if m < 3:
        best = 1e30
        for i in range(m):
            best = min(best, (qx - hx[i]) ** 2 + (qy - hy[i]) ** 2)
        if m == 2:
            dx, dy = hx[1] - hx[0], hy[1] - hy[0]
            ll = dx * dx + dy * dy
            if ll > 0:
                t = min(1.0, max(0.0, ((qx - hx[0]) * dx + (qy - hy[0]) * dy) / ll))
                best = min(best, (qx - hx[0] - t * dx) ** 2 + (qy - hy[0] - t * dy) ** 2)
        return best <= grow * grow
    inside = True
    best = 1e30
    for i in range(m):
        j = (i + 1) % m
        dx, dy = hx[j] - hx[i], hy[j] - hy[i]
        if dx * (qy - hy[i]) - dy * (qx - hx[i]) < 0:
            inside = False
        ll = dx * dx + dy * dy
        t = 0.0
        if ll > 0:
            t = min(1.0, max(0.0, ((qx - hx[i]) * dx + (qy - hy[i]) * dy) / ll))
        best = min(best, (qx - hx[i] - t * dx) ** 2 + (qy - hy[i] - t * dy) ** 2)
    return inside or best <= grow * grow


@numba.njit(cache=True, nogil=True)
def _angle_diff(a: float, b: float) -> float:
    """a - b wrapped to [-pi, pi)."""
    d = a - b
    while d < -math.pi:
        d += 2.0 * math.pi
    while d >= math.pi:
        d -= 2.0 * math.pi
    return d


@numba.njit(cache=True, nogil=True)
def _build_cylinders(
    x: np.ndarray, y: np.ndarray, theta: np.ndarray, disc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit cylinders of every minutia; returns (bits, masks, kept) with kept a bool array."""
    n = x.shape[0]
    bits = np.zeros((n, CYLINDER_WORDS), dtype=np.uint64)
    masks = np.zeros((n, WORDS_PER_LAYER), dtype=np.uint64)
    kept = np.zeros(n, dtype=np.bool_)
    if n == 0:
        return bits, masks, kept
    hull = _convex_hull(x, y)
    hx = x[hull].astype(np.float64)
    hy = y[hull].astype(np.float64)
    # Outward unit normals of the counter-clockwise hull's edges, and how far each may reach
    # (the edge's own offset plus the growth: a mitred, slightly generous version of omega).
    m = hx.shape[0]
    nx = np.zeros(m)
    ny = np.zeros(m)
    limit = np.zeros(m)
    for e in range(m):
        f = (e + 1) % m
        dx, dy = hx[f] - hx[e], hy[f] - hy[e]
        length = math.sqrt(dx * dx + dy * dy)
        if length > 0:
            nx[e], ny[e] = dy / length, -dx / length
            limit[e] = nx[e] * hx[e] + ny[e] * hy[e] + HULL_GROWTH
        else:
            limit[e] = 1e30  # a repeated point bounds nothing
    half = (NS - 1) / 2.0
    reach = RADIUS + 3.0 * SIGMA_S
    gs_norm = 1.0 / (SIGMA_S * math.sqrt(2.0 * math.pi))
    cell_radius = int(math.floor(3.0 * SIGMA_S / CELL))
    values = np.zeros((NS, NS, ND), dtype=np.float64)  # direction innermost: one SIMD row
    gd = np.zeros(ND, dtype=np.float64)
    ex = np.zeros(2 * cell_radius + 2, dtype=np.float64)
    ey = np.zeros(2 * cell_radius + 2, dtype=np.float64)
    for i in range(n):
        c, s = math.cos(theta[i]), math.sin(theta[i])
        # Validity: cells of the disc inside the grown hull. Each hull edge is a linear
        # inequality in the cell indices (a, b), so a row's valid cells are one interval of b:
        # 16 rows x the hull's edges instead of a point-in-polygon test per cell.
        valid_count = 0
        for a in range(NS):
            lo = 0.0
            hi = NS - 1.0
            if m >= 3:
                for e in range(m):
                    rest = -(
                        nx[e] * x[i]
                        + ny[e] * y[i]
                        - limit[e]
                        + CELL * (a - half) * (nx[e] * c + ny[e] * s)
                    )
                    slope = CELL * (ny[e] * c - nx[e] * s)
                    if slope > 1e-12:
                        hi = min(hi, half + rest / slope)
                    elif slope < -1e-12:
                        lo = max(lo, half + rest / slope)
                    elif rest < 0:
                        hi = -1.0
            for b in range(max(0, int(math.ceil(lo))), min(NS - 1, int(math.floor(hi))) + 1):
                if not disc[a, b]:
                    continue
                if m < 3:
                    u = (a - half) * CELL
                    v = (b - half) * CELL
                    if not _in_grown_hull(
                        x[i] + c * u - s * v, y[i] + s * u + c * v, hx, hy, HULL_GROWTH
                    ):
                        continue
                cell = a * NS + b
                masks[i, cell >> 6] |= np.uint64(1) << np.uint64(cell & 63)
                valid_count += 1
        neighbours = 0
        values[:] = 0.0
        for t in range(n):
            if t == i:
                continue
            dx = x[t] - x[i]
            dy = y[t] - y[i]
            if dx * dx + dy * dy > reach * reach:
                continue
            neighbours += 1
            # The neighbour in the cylinder's frame, in cell units.
            u = (c * dx + s * dy) / CELL + half
            v = (-s * dx + c * dy) / CELL + half
            dtheta = _angle_diff(theta[t], theta[i])
            row = int((dtheta + math.pi) * (_GD_STEPS / (2.0 * math.pi))) % _GD_STEPS
            for k in range(ND):
                gd[k] = _GD_TABLE[row, k]
            # Only the cells within 3 sigma_S of the neighbour receive anything worth adding.
            a0 = int(math.floor(u + 0.5)) - cell_radius
            b0 = int(math.floor(v + 0.5)) - cell_radius
            span = 2 * cell_radius + 1
            for q in range(span):
                du = (a0 + q - u) * CELL
                dv = (b0 + q - v) * CELL
                ex[q] = math.exp(-du * du / (2.0 * SIGMA_S * SIGMA_S))
                ey[q] = math.exp(-dv * dv / (2.0 * SIGMA_S * SIGMA_S))
            for qa in range(span):
                a = a0 + qa
                if a < 0 or a >= NS:
                    continue
                for qb in range(span):
                    b = b0 + qb
                    if b < 0 or b >= NS or not disc[a, b]:
                        continue
                    du = (a - u) * CELL
                    dv = (b - v) * CELL
                    if du * du + dv * dv > 9.0 * SIGMA_S * SIGMA_S:
                        continue
                    g = gs_norm * ex[qa] * ey[qb]
                    for k in range(ND):
                        values[a, b, k] += g * gd[k]
        if neighbours < MIN_NEIGHBOURS or valid_count < MIN_VALID_CELLS * DISC_CELLS:
            continue
        kept[i] = True
        for a in range(NS):
            for b in range(NS):
                cell = a * NS + b
                for k in range(ND):
                    if values[a, b, k] >= MU_PSI and (
                        masks[i, cell >> 6] >> np.uint64(cell & 63)
                    ) & np.uint64(1):
                        bits[i, k * WORDS_PER_LAYER + (cell >> 6)] |= np.uint64(1) << np.uint64(
                            cell & 63
                        )
    return bits, masks, kept


def prepare(template: Template) -> Prepared:
    """Index a template once (its cylinders) for any number of comparisons."""
    m = template.minutiae
    if m.ndim != 1:
        raise TemplateError("template", f"minutiae must be one-dimensional, got {m.shape}")
    x = np.ascontiguousarray(m["x"], dtype=np.float64)
    # y up, so that theta (counter-clockwise, ISO) and the geometry share one convention.
    y = -np.ascontiguousarray(m["y"], dtype=np.float64)
    theta = np.ascontiguousarray(m["theta"], dtype=np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all() and np.isfinite(theta).all()):
        raise TemplateError("template", "minutiae with non-finite coordinates or angles")
    bits, masks, kept = _build_cylinders(x, y, theta, DISC)
    index = np.flatnonzero(kept).astype(np.int32)
    return Prepared(
        x=x[index].astype(np.float32),
        y=y[index].astype(np.float32),
        theta=theta[index].astype(np.float32),
        bits=np.ascontiguousarray(bits[index]),
        masks=np.ascontiguousarray(masks[index]),
        minutia_index=index,
    )


# --- stage 2: comparison ------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _sigmoid(v: float, mu: float, tau: float) -> float:
    return 1.0 / (1.0 + math.exp(-tau * (v - mu)))


@numba.njit(cache=True, nogil=True)
def _score(
    ax: np.ndarray,
    ay: np.ndarray,
    at: np.ndarray,
    abits: np.ndarray,
    amasks: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    bt: np.ndarray,
    bbits: np.ndarray,
    bmasks: np.ndarray,
    gamma: np.ndarray,
) -> float:
    """MCC score of two prepared templates; ``gamma`` is scratch space of at least na x nb."""
    na = ax.shape[0]
    nb = bx.shape[0]
    if na == 0 or nb == 0:
        return 0.0
    min_common = MIN_MATCHABLE * DISC_CELLS
    acos = np.empty(na, dtype=np.float32)
    asin = np.empty(na, dtype=np.float32)
    bcos = np.empty(nb, dtype=np.float32)
    bsin = np.empty(nb, dtype=np.float32)
    for i in range(na):
        acos[i] = math.cos(at[i])
        asin[i] = math.sin(at[i])
    for j in range(nb):
        bcos[j] = math.cos(bt[j])
        bsin[j] = math.sin(bt[j])
    # Local similarities.
    row_best = np.full(na, -1, dtype=np.int64)
    col_best = np.full(nb, -1, dtype=np.int64)
    row_val = np.zeros(na, dtype=np.float32)
    col_val = np.zeros(nb, dtype=np.float32)
    # Validity masks repeated over the layers, so that the cell loop runs over 24 straight words.
    amr = np.empty((na, CYLINDER_WORDS), dtype=np.uint64)
    bmr = np.empty((nb, CYLINDER_WORDS), dtype=np.uint64)
    for i in range(na):
        for w in range(CYLINDER_WORDS):
            amr[i, w] = amasks[i, w % WORDS_PER_LAYER]
    for j in range(nb):
        for w in range(CYLINDER_WORDS):
            bmr[j, w] = bmasks[j, w % WORDS_PER_LAYER]
    for i in range(na):
        arow = abits[i]
        amrow = amr[i]
        for j in range(nb):
            g = np.float32(0.0)
            # Directions too far apart cannot be the same minutia.
            if acos[i] * bcos[j] + asin[i] * bsin[j] >= DIRECTION_GATE_COS:
                common = np.uint64(0)
                for w in range(WORDS_PER_LAYER):
                    common += _popcount(amasks[i, w] & bmasks[j, w])
                if common >= min_common:
                    # One straight, branch-free loop over the 24 words (vectorised with
                    # popcount); a shortcut for pairs with equal masks made it slower.
                    brow = bbits[j]
                    bmrow = bmr[j]
                    na_bits = np.uint64(0)
                    nb_bits = np.uint64(0)
                    nx_bits = np.uint64(0)
                    for w in range(CYLINDER_WORDS):
                        ca = arow[w] & bmrow[w]
                        cb = brow[w] & amrow[w]
                        na_bits += _popcount(ca)
                        nb_bits += _popcount(cb)
                        nx_bits += _popcount(ca ^ cb)
                    denom = math.sqrt(na_bits) + math.sqrt(nb_bits)
                    if denom > 0:
                        g = np.float32(1.0 - math.sqrt(nx_bits) / denom)
            gamma[i, j] = g
            if g > row_val[i]:
                row_val[i] = g
                row_best[i] = j
            if g > col_val[j]:
                col_val[j] = g
                col_best[j] = i
    # Candidate pairs: each row's and each column's best; take them best first, each minutia once.
    cand_i = np.empty(na + nb, dtype=np.int64)
    cand_j = np.empty(na + nb, dtype=np.int64)
    cand_v = np.empty(na + nb, dtype=np.float32)
    nc = 0
    for i in range(na):
        if row_best[i] >= 0:
            cand_i[nc] = i
            cand_j[nc] = row_best[i]
            cand_v[nc] = row_val[i]
            nc += 1
    for j in range(nb):
        if col_best[j] >= 0 and row_best[col_best[j]] != j:
            cand_i[nc] = col_best[j]
            cand_j[nc] = j
            cand_v[nc] = col_val[j]
            nc += 1
    if nc == 0:
        return 0.0
    order = np.argsort(-cand_v[:nc])
    n_r_max = min(na, nb)
    used_a = np.zeros(na, dtype=np.bool_)
    used_b = np.zeros(nb, dtype=np.bool_)
    pa = np.empty(n_r_max, dtype=np.int64)
    pb = np.empty(n_r_max, dtype=np.int64)
    lam0 = np.empty(n_r_max, dtype=np.float32)
    nr = 0
    for o in range(nc):
        if nr >= n_r_max:
            break
        i = cand_i[order[o]]
        j = cand_j[order[o]]
        if used_a[i] or used_b[j]:
            continue
        used_a[i] = True
        used_b[j] = True
        pa[nr] = i
        pb[nr] = j
        lam0[nr] = cand_v[order[o]]
        nr += 1
    lam0 = lam0[:nr]
    n_p = MIN_NP + int(round(_sigmoid(min(na, nb), MU_P, TAU_P) * (MAX_NP - MIN_NP)))
    if nr == 1:
        return float(lam0[0]) / n_p
    # Relaxation: rho(t, k) says how well pair k agrees geometrically with pair t.
    # Each selected pair's minutiae gathered contiguously, with cos/sin of its rotation.
    pax = np.empty(nr, dtype=np.float32)
    pay = np.empty(nr, dtype=np.float32)
    pbx = np.empty(nr, dtype=np.float32)
    pby = np.empty(nr, dtype=np.float32)
    rc = np.empty(nr, dtype=np.float32)
    rs = np.empty(nr, dtype=np.float32)
    for t in range(nr):
        i, j = pa[t], pb[t]
        pax[t], pay[t], pbx[t], pby[t] = ax[i], ay[i], bx[j], by[j]
        rc[t] = acos[i] * bcos[j] + asin[i] * bsin[j]
        rs[t] = asin[i] * bcos[j] - acos[i] * bsin[j]
    rho = np.zeros((nr, nr), dtype=np.float32)
    cos_scale = _COS_LUT_SIZE / 2.0
    for t in range(nr):
        for k in range(t + 1, nr):
            dax = pax[k] - pax[t]
            day = pay[k] - pay[t]
            dbx = pbx[k] - pbx[t]
            dby = pby[k] - pby[t]
            da = math.sqrt(dax * dax + day * day)
            db = math.sqrt(dbx * dbx + dby * dby)
            d1 = abs(da - db)
            # Past 12 px the distance term is below 1e-4: the pair cannot support the other.
            if d1 >= _DIST_CUTOFF or da == 0.0 or db == 0.0:
                continue
            z1 = _DIST_LUT[int(d1 * (1.0 / _DIST_LUT_STEP))]
            # Relative direction of the two minutiae, compared across templates.
            c2 = rc[t] * rc[k] + rs[t] * rs[k]
            z2 = _COS_LUT[min(_COS_LUT_SIZE, max(0, int((c2 + 1.0) * cos_scale)))]
            if z2 < 1e-4:
                continue
            # Direction of each minutia relative to the segment joining them, across templates.
            inv = 1.0 / (da * db)
            cphi = (dax * dbx + day * dby) * inv
            sphi = (dbx * day - dby * dax) * inv  # sin(phi_a - phi_b)
            c3 = rc[t] * cphi + rs[t] * sphi
            c3b = rc[k] * cphi + rs[k] * sphi
            z3 = _COS_LUT[min(_COS_LUT_SIZE, max(0, int((c3 + 1.0) * cos_scale)))]
            z3b = _COS_LUT[min(_COS_LUT_SIZE, max(0, int((c3b + 1.0) * cos_scale)))]
            rho[t, k] = z1 * z2 * z3
            rho[k, t] = z1 * z2 * z3b
    lam = lam0.copy()
    nxt = np.empty(nr, dtype=np.float32)
    for _ in range(RELAX_ITERATIONS):
        for t in range(nr):
            acc = np.float32(0.0)
            for k in range(nr):
                acc += rho[t, k] * lam[k]
            nxt[t] = RELAX_WEIGHT * lam[t] + (1.0 - RELAX_WEIGHT) * acc / (nr - 1)
        lam[:] = nxt
    efficiency = np.empty(nr, dtype=np.float32)
    for t in range(nr):
        efficiency[t] = lam[t] / lam0[t] if lam0[t] > 0 else 0.0
    best = np.argsort(-efficiency)
    total = 0.0
    for o in range(min(n_p, nr)):
        total += lam[best[o]]
    return min(1.0, max(0.0, total / n_p))


def compare(probe: Prepared, candidate: Prepared) -> float:
    """Similarity of two prepared templates in [0, 1] (0: nothing in common)."""
    gamma = np.empty((max(len(probe), 1), max(len(candidate), 1)), dtype=np.float32)
    return float(
        _score(
            probe.x,
            probe.y,
            probe.theta,
            probe.bits,
            probe.masks,
            candidate.x,
            candidate.y,
            candidate.theta,
            candidate.bits,
            candidate.masks,
            gamma,
        )
    )


@numba.njit(cache=True, nogil=True, parallel=True)
def _score_many(
    px: np.ndarray,
    py: np.ndarray,
    pt: np.ndarray,
    pbits: np.ndarray,
    pmasks: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    gt: np.ndarray,
    gbits: np.ndarray,
    gmasks: np.ndarray,
    offsets: np.ndarray,
    which: np.ndarray,
    out: np.ndarray,
) -> None:
    """Scores of one probe against gallery entries ``which`` (cylinders ``offsets[w]:[w+1]``)."""
    n = which.shape[0]
    for q in numba.prange(n):
        w = which[q]
        s, e = offsets[w], offsets[w + 1]
        gamma = np.empty((max(px.shape[0], 1), max(e - s, 1)), dtype=np.float32)
        out[q] = _score(
            px,
            py,
            pt,
            pbits,
            pmasks,
            gx[s:e],
            gy[s:e],
            gt[s:e],
            gbits[s:e],
            gmasks[s:e],
            gamma,
        )


def compare_many(
    probe: Prepared,
    x: np.ndarray,
    y: np.ndarray,
    theta: np.ndarray,
    bits: np.ndarray,
    masks: np.ndarray,
    offsets: np.ndarray,
    which: np.ndarray,
) -> np.ndarray:
    """Scores of one probe against many stored templates (concatenated cylinders), in parallel.

    Template ``w`` owns cylinders ``offsets[w]:offsets[w + 1]`` of the concatenated arrays.
    """
    out = np.zeros(which.shape[0], dtype=np.float64)
    if which.shape[0]:
        _score_many(
            probe.x,
            probe.y,
            probe.theta,
            probe.bits,
            probe.masks,
            x,
            y,
            theta,
            bits,
            masks,
            offsets,
            np.ascontiguousarray(which, dtype=np.int64),
            out,
        )
    return out
