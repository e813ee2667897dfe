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
   60 degrees of each other (the paper's 90, narrowed: ``DIRECTION_GATE_COS``), a normalised
   Hamming distance over the cells valid in both; then the best pairs (each minutia used
   once); then *relaxation*: a pair's score is reinforced by the pairs that are geometrically
   consistent with it (distances, relative directions). The score is the mean relaxed
   similarity of the ``n_P`` most *efficient* pairs (those that relaxation kept best),
   ``n_P`` growing from 4 to 12 with the number of minutiae.

A probe is prepared once and reused against every candidate (SourceAFIS manners). The arrays
of a :class:`Prepared` are plain numpy so that a gallery can store them memory-mapped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from scomm.biometrics import byte_sparse
from scomm.biometrics.byte_sparse import decode_cylinders
from scomm.biometrics.intrinsics import popcount
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
# rho: distance agreement (pixels). The paper's 5 px (tau -1.6) is for prints pressed without
# distortion; FVC2002's volunteers were asked to distort some impressions, and a tolerance of
# 7 px (tau -1.2) lowered the EER with the sets' reference minutiae and with ours alike
# (average over DB1-4_B with every impostor pair: 2.35 -> 2.11%, ours 2.66 -> 2.60%).
MU_RHO_DIST, TAU_RHO_DIST = 7.0, -1.2
MU_RHO_ANGLE, TAU_RHO_ANGLE = math.pi / 12.0, -30.0  # rho: direction agreements (radians)
# Pairing: MCC's score sums a dozen local agreements; it never asks how many minutiae of the
# two prints coincide once aligned, which is what tells a mate from a lookalike whose few
# best cylinders happen to agree. Under the alignment of each of the most similar pairs of
# cylinders the minutiae with a counterpart (within a distance and a direction) are counted,
# and the largest share, n^2 / (na nb), is added with a weight. On FVC2002 DB1-4_B with our
# extractor it takes the average EER from 2.58 to 1.67% (FVC's impostor pairs; 2.60 to 2.49%
# with every impostor pair), chosen on those sets, as FVC2002 has no separate training set
# (benchmarks/biometrics.py --parts accuracy). It runs only where the MCC score reaches
# PAIRING_FROM, below the scores where mates and impostors cross (about a quarter of impostor
# pairs reach it, and every mate), and costs about a tenth of the 1:1 rate.
PAIRING_FROM = 0.015
PAIRING_SEEDS = 7  # alignments tried: the most similar pairs, before one-to-one selection
PAIRING_DISTANCE = 9.0  # pixels, about one ridge period at 500 ppi
PAIRING_DIRECTION_COS = math.cos(math.radians(20.0))
PAIRING_WEIGHT = 0.2

WORDS_PER_LAYER = (NS * NS + 63) // 64  # 4 uint64 words hold one 16 x 16 layer
assert WORDS_PER_LAYER == 4  # one 256-bit vector per layer in _cylinder_counts
CYLINDER_WORDS = WORDS_PER_LAYER * ND  # 24
VERSION = 1  # bump when cylinders change: stored galleries must be rebuilt
# A gallery's record of a template (:func:`encode_template`) begins with its minutiae: x, y
# and theta, a float32 each.
_RECORD_FLOATS = 3
MINUTIA_BYTES = 4 * _RECORD_FLOATS


def _disc_mask() -> np.ndarray:
    """Which of the NS x NS cells lie inside the cylinder's disc (radius R)."""
    offsets = (np.arange(NS) - (NS - 1) / 2.0) * CELL
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2) <= RADIUS**2


DISC = _disc_mask()
DISC_CELLS = int(DISC.sum())
# The disc's cells as mask words (row by row, as a layer's cells are): a gallery stores each
# cylinder's mask XOR this, all zeros where the whole disc is valid (scomm.biometrics.byte_sparse).
DISC_WORDS = np.packbits(DISC.ravel(), bitorder="little").view(np.uint64).copy()

# Square roots of every popcount a cylinder comparison can give.
_SQRT = np.sqrt(np.arange(CYLINDER_WORDS * 64 + 1, dtype=np.float64))

# Lookup tables for the relaxation's sigmoids: exp() in the inner loop costs more than the rest.
_DIST_LUT_STEP = 0.05
# Past this distance disagreement the distance term is below 1e-4: the pair cannot support
# the other.
_DIST_CUTOFF = MU_RHO_DIST + math.log(1e4) / -TAU_RHO_DIST
_DIST_LUT = (
    1.0
    / (
        1.0
        + np.exp(-TAU_RHO_DIST * (np.arange(0, _DIST_CUTOFF + 0.5, _DIST_LUT_STEP) - MU_RHO_DIST))
    )
).astype(np.float32)
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


# The name the kernels below use.
_popcount = popcount


def _is_rows(ty: Any) -> bool:
    return (
        isinstance(ty, types.Array)
        and ty.ndim == 2
        and ty.layout == "C"
        and ty.dtype == types.uint64
    )


@intrinsic
def _cylinder_counts_ir(typingctx, a, i, b, j, ma, mb, pa, pb):
    """The four counts that compare cylinder ``i`` of one template with cylinder ``j`` of
    another, in 256-bit vectors (one layer each).

    ``a``, ``b``: the templates' cylinders, 24 words a row (6 layers of 4); ``ma``, ``mb``:
    their 4 validity words a row; ``pa``, ``pb``: their *layer-count planes*, 12 words a row:
    bit planes 1, 2 and 4 of the number of layers set at each cell (:func:`_layer_planes`).
    Rows ``i`` of ``a``, ``ma``, ``pa`` and ``j`` of ``b``, ``mb``, ``pb`` are read in place
    (a row taken as an array view would cost a reference count up and down per pair). With
    ``m = ma & mb``, returns ``popcount(m)``, ``popcount(a & m)``, ``popcount(b & m)`` and
    ``popcount((a ^ b) & m)``, the last three summed over the layers. Since a cylinder's bits
    lie inside its own mask, ``a & m`` is ``a & mb``: these are MCC's ``|c_a|``, ``|c_b|`` and
    ``|c_a xor c_b|``; the planes give the first two in three popcounts instead of six.
    Per-byte popcounts are summed before one widening reduction (no count can exceed
    6 x 8 + ... < 256 in a byte).
    """
    if not all(_is_rows(t) for t in (a, b, ma, mb, pa, pb)):
        return None
    if not all(isinstance(t, types.Integer) for t in (i, j)):
        return None
    sig = types.UniTuple(types.uint64, 4)(a, i, b, j, ma, mb, pa, pb)

    def codegen(context, builder, signature, args):
        i8, i16, i64 = ir.IntType(8), ir.IntType(16), ir.IntType(64)
        v4 = ir.VectorType(i64, WORDS_PER_LAYER)
        v32 = ir.VectorType(i8, 32)
        v32w = ir.VectorType(i16, 32)
        a_, i_, b_, j_, ma_, mb_, pa_, pb_ = args
        ta, ti, tb, tj, tma, tmb, tpa, tpb = signature.args
        row_i = context.cast(builder, i_, ti, types.int64)
        row_j = context.cast(builder, j_, tj, types.int64)

        def row(ty, val, r, words):
            data = context.make_array(ty)(context, builder, val).data
            first = builder.gep(data, [builder.mul(r, ir.Constant(i64, words))])
            return builder.bitcast(first, v4.as_pointer())

        pa_row = row(ta, a_, row_i, CYLINDER_WORDS)
        pb_row = row(tb, b_, row_j, CYLINDER_WORDS)
        pma = row(tma, ma_, row_i, WORDS_PER_LAYER)
        pmb = row(tmb, mb_, row_j, WORDS_PER_LAYER)
        ppa = row(tpa, pa_, row_i, 3 * WORDS_PER_LAYER)
        ppb = row(tpb, pb_, row_j, 3 * WORDS_PER_LAYER)
        mod = builder.module
        ctpop = cgutils.get_or_insert_function(mod, ir.FunctionType(v32, [v32]), "llvm.ctpop.v32i8")
        reduce = cgutils.get_or_insert_function(
            mod, ir.FunctionType(i16, [v32w]), "llvm.vector.reduce.add.v32i16"
        )

        def load(p, k):
            return builder.load(builder.gep(p, [ir.Constant(i64, k)]), align=8)

        def pop(v):
            return builder.call(ctpop, [builder.bitcast(v, v32)])

        def shl(v, k):
            return builder.shl(v, ir.Constant(v32, [k] * 32))

        m = builder.and_(load(pma, 0), load(pmb, 0))
        counts = [pop(m)]
        for planes in (ppa, ppb):
            c1 = pop(builder.and_(load(planes, 0), m))
            c2 = pop(builder.and_(load(planes, 1), m))
            c4 = pop(builder.and_(load(planes, 2), m))
            counts.append(builder.add(builder.add(c1, shl(c2, 1)), shl(c4, 2)))
        cx = ir.Constant(v32, None)
        for layer in range(ND):
            cx = builder.add(
                cx, pop(builder.and_(builder.xor(load(pa_row, layer), load(pb_row, layer)), m))
            )
        counts.append(cx)
        out = [builder.zext(builder.call(reduce, [builder.zext(c, v32w)]), i64) for c in counts]
        return context.make_tuple(builder, signature.return_type, out)

    return sig, codegen


# Typed alias, as for _popcount.
_cylinder_counts: Callable[..., Any] = _cylinder_counts_ir


@intrinsic
def _layer_planes_ir(typingctx, bits, r, out):
    """Row ``r`` of ``out`` (12 words a row) = bit planes 1, 2, 4 of the number of layers set
    per cell of row ``r`` of ``bits`` (24 words a row): a 3-bit counter per cell, added to
    layer by layer, in vectors."""
    if not (_is_rows(bits) and _is_rows(out) and isinstance(r, types.Integer)):
        return None
    sig = types.void(bits, r, out)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        v4 = ir.VectorType(i64, WORDS_PER_LAYER)
        tbits, tr, tout = signature.args
        row = context.cast(builder, args[1], tr, types.int64)

        def row_of(ty, val, words):
            data = context.make_array(ty)(context, builder, val).data
            first = builder.gep(data, [builder.mul(row, ir.Constant(i64, words))])
            return builder.bitcast(first, v4.as_pointer())

        src = row_of(tbits, args[0], CYLINDER_WORDS)
        dst = row_of(tout, args[2], 3 * WORDS_PER_LAYER)
        p1 = p2 = p4 = ir.Constant(v4, None)
        for layer in range(ND):
            x = builder.load(builder.gep(src, [ir.Constant(i64, layer)]), align=8)
            carry = builder.and_(p1, x)
            p1 = builder.xor(p1, x)
            p4 = builder.or_(p4, builder.and_(p2, carry))  # at most 6: no carry past the 4s
            p2 = builder.xor(p2, carry)
        for k, plane in enumerate((p1, p2, p4)):
            builder.store(plane, builder.gep(dst, [ir.Constant(i64, k)]), align=8)
        return context.get_dummy_value()

    return sig, codegen


_layer_planes_row: Callable[..., Any] = _layer_planes_ir


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
    quality: int | None = None  # the template's (0-100), None where never assessed

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @cached_property
    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """Everything :func:`compare` reads, computed on first use and kept (see ``_pack``)."""
        return _pack(
            np.ascontiguousarray(self.x, dtype=np.float32),
            np.ascontiguousarray(self.y, dtype=np.float32),
            np.ascontiguousarray(self.theta, dtype=np.float32),
            _words(self.bits),
            _words(self.masks),
        )


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
        quality=template.quality,
    )


# --- stage 2: comparison ------------------------------------------------------------------
#
# The comparison kernel allocates nothing: everything it needs lives in a workspace made once
# per probe (or once per thread of a gallery search) and sized for the largest template.
# Rows of the float32 workspace (each as long as the probe and candidate together):
_F_BCOS, _F_BSIN, _F_ROW_VAL, _F_COL_VAL, _F_CAND_V, _F_LAM0 = range(6)
_F_PAX, _F_PAY, _F_PBX, _F_PBY, _F_RC, _F_RS, _F_LAM, _F_NEXT, _F_EFF, _F_ACC = range(6, 16)
_F_DA, _F_DB = range(16, 18)
_F_ROWS = 18
# and of the int64 one:
_I_ROW_BEST, _I_COL_BEST, _I_CAND_I, _I_CAND_J, _I_PA, _I_PB = range(6)
_I_USED_A, _I_USED_B, _I_ORDER, _I_NEAR, _I_SEED_A, _I_SEED_B = range(6, 12)
_I_ROWS = 12


@numba.njit(cache=True, nogil=True, inline="always")
def _sigmoid(v: float, mu: float, tau: float) -> float:
    return 1.0 / (1.0 + math.exp(-tau * (v - mu)))


@numba.njit(cache=True, nogil=True)
def _layer_planes(bits: np.ndarray, out: np.ndarray) -> None:
    """Per cylinder, how many layers are set at each cell, as three bit planes (1, 2, 4) of
    4 words each: ``out[i] = [P1 (4 words), P2, P4]``."""
    for i in range(bits.shape[0]):
        _layer_planes_row(bits, i, out)


@numba.njit(cache=True, nogil=True)
def _sides_into(
    theta: np.ndarray, bits: np.ndarray, c: np.ndarray, s: np.ndarray, planes: np.ndarray
) -> None:
    """What the comparison needs of a template besides its cylinders: cos and sin of its
    directions and its layer planes, written into the arrays given."""
    for i in range(theta.shape[0]):
        c[i] = math.cos(theta[i])
        s[i] = math.sin(theta[i])
    _layer_planes(bits, planes)


@numba.njit(cache=True, nogil=True)
def _probe_side(theta: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_sides_into` in new arrays: for a probe, computed once per search."""
    n = theta.shape[0]
    c = np.empty(n, dtype=np.float32)
    s = np.empty(n, dtype=np.float32)
    planes = np.empty((n, 3 * WORDS_PER_LAYER), dtype=np.uint64)
    _sides_into(theta, bits, c, s, planes)
    return c, s, planes


@numba.njit(cache=True, nogil=True)
def _workspace(na: int, nb: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scratch for comparing a probe of ``na`` cylinders with candidates of up to ``nb``."""
    m = max(na + nb, 1)
    return (
        # Every cell is written before it is read (the kernel's own bookkeeping): not zeroed.
        np.empty((_F_ROWS, m), dtype=np.float32),
        np.empty((_I_ROWS, m), dtype=np.int64),
        np.empty((max(min(na, nb), 1), max(min(na, nb), 1)), dtype=np.float32),
    )


@numba.njit(cache=True, nogil=True)
def _sort_desc(values: np.ndarray, order: np.ndarray, n: int) -> None:
    """``order[:n]`` = indices of ``values[:n]`` from largest to smallest (stable insertion
    sort: the arrays here hold a few dozen entries)."""
    for k in range(n):
        v = values[k]
        p = k
        while p > 0 and values[order[p - 1]] < v:
            order[p] = order[p - 1]
            p -= 1
        order[p] = k


@numba.njit(cache=True, nogil=True)
def _relax(rho_t: np.ndarray, lam: np.ndarray, nxt: np.ndarray, acc: np.ndarray, nr: int) -> None:
    """The relaxation's iterations: lam <- w lam + (1 - w) rho lam / (nr - 1).

    ``rho_t`` holds rho transposed (``rho_t[k, t] = rho(t, k)``) so that the sums run over
    contiguous rows for all ``t`` at once (vectorised); each ``acc[t]`` still adds its terms
    in the order k = 0, 1, ..., as the plain loop would.
    """
    for _ in range(RELAX_ITERATIONS):
        for t in range(nr):
            acc[t] = 0.0
        for k in range(nr):
            row = rho_t[k]
            lk = lam[k]
            for t in range(nr):
                acc[t] += row[t] * lk
        for t in range(nr):
            nxt[t] = RELAX_WEIGHT * lam[t] + (1.0 - RELAX_WEIGHT) * acc[t] / (nr - 1)
        for t in range(nr):
            lam[t] = nxt[t]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _paired_share(
    ax: np.ndarray,
    ay: np.ndarray,
    acos: np.ndarray,
    asin: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    bcos: np.ndarray,
    bsin: np.ndarray,
    pa: np.ndarray,
    pb: np.ndarray,
    seeds: int,
    fw: np.ndarray,
    iw: np.ndarray,
) -> float:
    """The largest share n^2 / (na nb) of minutiae that coincide under the alignment of one of
    the pairs ``pa[:seeds]``, ``pb[:seeds]`` (each rotating and moving the probe's minutia onto
    the candidate's): n counts the minutiae of either print with a counterpart in the other
    within a distance and a direction, on the side that has fewer."""
    na = ax.shape[0]
    nb = bx.shape[0]
    tx = fw[_F_PAX]
    ty = fw[_F_PAY]
    tc = fw[_F_PBX]
    ts = fw[_F_PBY]
    hit_b = iw[_I_USED_B]
    reach2 = np.float32(PAIRING_DISTANCE * PAIRING_DISTANCE)
    agree = np.float32(PAIRING_DIRECTION_COS)
    best = 0
    for o in range(seeds):
        i = pa[o]
        j = pb[o]
        c = bcos[j] * acos[i] + bsin[j] * asin[i]  # rotation theta_b - theta_a
        s = bsin[j] * acos[i] - bcos[j] * asin[i]
        for u in range(na):
            dx = ax[u] - ax[i]
            dy = ay[u] - ay[i]
            tx[u] = bx[j] + c * dx - s * dy
            ty[u] = by[j] + s * dx + c * dy
            tc[u] = acos[u] * c - asin[u] * s
            ts[u] = asin[u] * c + acos[u] * s
        hit_b[:nb] = 0
        # Every probe minutia against every candidate one, without a branch: the inner loop
        # is then a few vector instructions per 16 pairs.
        hits_a = 0
        for u in range(na):
            ux = tx[u]
            uy = ty[u]
            uc = tc[u]
            us = ts[u]
            any_v = 0
            for v in range(nb):
                ex = bx[v] - ux
                ey = by[v] - uy
                m = (ex * ex + ey * ey <= reach2) & (uc * bcos[v] + us * bsin[v] >= agree)
                hit_b[v] |= m
                any_v |= m
            hits_a += any_v
        hits_b = 0
        for v in range(nb):
            hits_b += hit_b[v]
        best = max(best, min(hits_a, hits_b))
    return best * best / (na * nb)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _score_core(
    ax: np.ndarray,
    ay: np.ndarray,
    acos: np.ndarray,
    asin: np.ndarray,
    abits: np.ndarray,
    amasks: np.ndarray,
    aplanes: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    bcos: np.ndarray,
    bsin: np.ndarray,
    bbits: np.ndarray,
    bmasks: np.ndarray,
    bplanes: np.ndarray,
    fw: np.ndarray,
    iw: np.ndarray,
    rho: np.ndarray,
) -> float:
    """MCC score of a probe and a candidate, each with its :func:`_sides_into` (cos, sin and
    layer planes), in a workspace."""
    na = ax.shape[0]
    nb = bx.shape[0]
    if na == 0 or nb == 0:
        return 0.0
    min_common = math.ceil(MIN_MATCHABLE * DISC_CELLS)
    row_val = fw[_F_ROW_VAL]
    col_val = fw[_F_COL_VAL]
    row_best = iw[_I_ROW_BEST]
    col_best = iw[_I_COL_BEST]
    gated = iw[_I_ORDER]
    for j in range(nb):
        col_val[j] = 0.0
        col_best[j] = -1
    # Local similarities; only each row's and each column's best are kept.
    for i in range(na):
        ci = acos[i]
        si = asin[i]
        # Directions too far apart cannot be the same minutia. The cylinders that pass are
        # listed first, without a branch: a test taken at random inside the popcount loop
        # would stall the CPU's pipeline at every wrong guess.
        k = 0
        for j in range(nb):
            gated[k] = j
            k += ci * bcos[j] + si * bsin[j] >= DIRECTION_GATE_COS
        best_v = np.float32(0.0)
        best_j = -1
        for t in range(k):
            j = gated[t]
            common, na_bits, nb_bits, nx_bits = _cylinder_counts(
                abits, i, bbits, j, amasks, bmasks, aplanes, bplanes
            )
            # 1 - sqrt(nx) / (sqrt(na) + sqrt(nb)), square roots from a table: the loop is then
            # one division deep, and iterations overlap instead of waiting on two sqrts.
            denom = _SQRT[na_bits] + _SQRT[nb_bits]
            ok = (common >= min_common) & (na_bits + nb_bits > 0)
            g = np.float32((1.0 - _SQRT[nx_bits] / max(denom, 1.0)) * ok)
            # Branch-free updates of the bests (selects and arithmetic, not jumps).
            better = g > best_v
            best_v = max(g, best_v)
            best_j = j if better else best_j
            cv = col_val[j]
            col_val[j] = max(g, cv)
            col_best[j] += (i - col_best[j]) * (g > cv)
        row_val[i] = best_v
        row_best[i] = best_j
    # Candidate pairs: each row's and each column's best; take them best first, each minutia once.
    cand_i = iw[_I_CAND_I]
    cand_j = iw[_I_CAND_J]
    cand_v = fw[_F_CAND_V]
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
    order = iw[_I_ORDER]
    _sort_desc(cand_v, order, nc)
    n_r_max = min(na, nb)
    used_a = iw[_I_USED_A]
    used_b = iw[_I_USED_B]
    used_a[:na] = 0
    used_b[:nb] = 0
    pa = iw[_I_PA]
    pb = iw[_I_PB]
    lam0 = fw[_F_LAM0]
    # The pairing's alignments: the best pairs of all, a minutia's second best included.
    seed_a = iw[_I_SEED_A]
    seed_b = iw[_I_SEED_B]
    seeds = min(PAIRING_SEEDS, nc)
    for o in range(seeds):
        seed_a[o] = cand_i[order[o]]
        seed_b[o] = cand_j[order[o]]
    nr = 0
    for o in range(nc):
        if nr >= n_r_max:
            break
        i = cand_i[order[o]]
        j = cand_j[order[o]]
        if used_a[i] or used_b[j]:
            continue
        used_a[i] = 1
        used_b[j] = 1
        pa[nr] = i
        pb[nr] = j
        lam0[nr] = cand_v[order[o]]
        nr += 1
    n_p = MIN_NP + int(round(_sigmoid(min(na, nb), MU_P, TAU_P) * (MAX_NP - MIN_NP)))
    if nr == 1:
        return float(lam0[0]) / n_p
    # Relaxation: rho(t, k) says how well pair k agrees geometrically with pair t.
    # Each selected pair's minutiae gathered contiguously, with cos/sin of its rotation.
    pax = fw[_F_PAX]
    pay = fw[_F_PAY]
    pbx = fw[_F_PBX]
    pby = fw[_F_PBY]
    rc = fw[_F_RC]
    rs = fw[_F_RS]
    for t in range(nr):
        i, j = pa[t], pb[t]
        pax[t], pay[t], pbx[t], pby[t] = ax[i], ay[i], bx[j], by[j]
        rc[t] = acos[i] * bcos[j] + asin[i] * bsin[j]
        rs[t] = asin[i] * bcos[j] - acos[i] * bsin[j]
    # Stored transposed (rho[k, t] = rho(t, k)), as _relax reads it.
    cos_scale = _COS_LUT_SIZE / 2.0
    da_row = fw[_F_DA]
    db_row = fw[_F_DB]
    near = iw[_I_NEAR]
    for t in range(nr):
        rho[t, :nr] = 0.0
    for t in range(nr):
        # The distances to every later pair first, without a branch (a vectorised loop); most
        # pairs disagree past the cutoff and need nothing more.
        for k in range(t + 1, nr):
            dax = pax[k] - pax[t]
            day = pay[k] - pay[t]
            dbx = pbx[k] - pbx[t]
            dby = pby[k] - pby[t]
            da_row[k] = math.sqrt(dax * dax + day * day)
            db_row[k] = math.sqrt(dbx * dbx + dby * dby)
        n_near = 0
        for k in range(t + 1, nr):
            near[n_near] = k
            n_near += (
                (abs(da_row[k] - db_row[k]) < _DIST_CUTOFF) & (da_row[k] > 0.0) & (db_row[k] > 0.0)
            )
        for q in range(n_near):
            k = near[q]
            da = da_row[k]
            db = db_row[k]
            dax = pax[k] - pax[t]
            day = pay[k] - pay[t]
            dbx = pbx[k] - pbx[t]
            dby = pby[k] - pby[t]
            z1 = _DIST_LUT[int(abs(da - db) * (1.0 / _DIST_LUT_STEP))]
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
            rho[k, t] = z1 * z2 * z3
            rho[t, k] = z1 * z2 * z3b
    lam = fw[_F_LAM]
    for t in range(nr):
        lam[t] = lam0[t]
    _relax(rho, lam, fw[_F_NEXT], fw[_F_ACC], nr)
    efficiency = fw[_F_EFF]
    for t in range(nr):
        efficiency[t] = lam[t] / lam0[t] if lam0[t] > 0 else 0.0
    _sort_desc(efficiency, order, nr)
    total = 0.0
    for o in range(min(n_p, nr)):
        total += lam[order[o]]
    score = max(0.0, total / n_p)
    if score >= PAIRING_FROM:
        score += PAIRING_WEIGHT * _paired_share(
            ax, ay, acos, asin, bx, by, bcos, bsin, seed_a, seed_b, seeds, fw, iw
        )
    return min(1.0, score)


# A template packed for one-at-a-time comparison (:attr:`Prepared.packed`): every array the
# kernel reads, computed once per template, in two arrays. A call then pays the dispatcher's
# type checks for four arguments instead of ten, and no candidate's cos, sin or layer planes
# are recomputed per comparison.
_PACKED_FLOATS = 4  # rows x, y, cos(theta), sin(theta)
_PACKED_WORDS = CYLINDER_WORDS + WORDS_PER_LAYER + 3 * WORDS_PER_LAYER  # bits, mask, planes


@numba.njit(cache=True, nogil=True)
def _pack(
    x: np.ndarray, y: np.ndarray, theta: np.ndarray, bits: np.ndarray, masks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[0]
    floats = np.empty((_PACKED_FLOATS, n), dtype=np.float32)
    floats[0] = x
    floats[1] = y
    words = np.empty(n * _PACKED_WORDS, dtype=np.uint64)
    b = words[: n * CYLINDER_WORDS].reshape((n, CYLINDER_WORDS))
    m = words[n * CYLINDER_WORDS : n * (CYLINDER_WORDS + WORDS_PER_LAYER)]
    b[:] = bits
    m.reshape((n, WORDS_PER_LAYER))[:] = masks
    planes = words[n * (CYLINDER_WORDS + WORDS_PER_LAYER) :].reshape((n, 3 * WORDS_PER_LAYER))
    _sides_into(theta, b, floats[2], floats[3], planes)
    return floats, words


@numba.njit(cache=True, nogil=True, inline="always")
def _unpack(words: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cylinders, masks and layer planes of a packed template, as views."""
    lo, mid = n * CYLINDER_WORDS, n * (CYLINDER_WORDS + WORDS_PER_LAYER)
    return (
        words[:lo].reshape((n, CYLINDER_WORDS)),
        words[lo:mid].reshape((n, WORDS_PER_LAYER)),
        words[mid:].reshape((n, 3 * WORDS_PER_LAYER)),
    )


@numba.njit(cache=True, nogil=True)
def _score_packed(af: np.ndarray, aw: np.ndarray, bf: np.ndarray, bw: np.ndarray) -> float:
    """MCC score of two packed templates (one comparison, its own workspace)."""
    na, nb = af.shape[1], bf.shape[1]
    abits, amasks, aplanes = _unpack(aw, na)
    bbits, bmasks, bplanes = _unpack(bw, nb)
    fw, iw, rho = _workspace(na, nb)
    return _score_core(
        af[0], af[1], af[2], af[3], abits, amasks, aplanes,
        bf[0], bf[1], bf[2], bf[3], bbits, bmasks, bplanes, fw, iw, rho,
    )  # fmt: skip


def _words(a: np.ndarray) -> np.ndarray:
    """Cylinder words as the kernels read them: C-contiguous uint64 (no copy if they are)."""
    return np.ascontiguousarray(a, dtype=np.uint64)


def compare(probe: Prepared, candidate: Prepared) -> float:
    """Similarity of two prepared templates in [0, 1] (0: nothing in common)."""
    af, aw = probe.packed
    bf, bw = candidate.packed
    return float(_score_packed(af, aw, bf, bw))


@numba.njit(cache=True, nogil=True)
def _score_range(
    px: np.ndarray,
    py: np.ndarray,
    acos: np.ndarray,
    asin: np.ndarray,
    pbits: np.ndarray,
    pmasks: np.ndarray,
    aplanes: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
    gt: np.ndarray,
    gbits: np.ndarray,
    gmasks: np.ndarray,
    encoded: bool,
    gencoded: np.ndarray,
    gstarts: np.ndarray,
    offsets: np.ndarray,
    which: np.ndarray,
    out: np.ndarray,
    lo: int,
    hi: int,
) -> None:
    """Scores of a probe (with its :func:`_probe_side`) against gallery entries
    ``which[lo:hi]``, in one workspace sized for the largest of them. The entries' minutiae
    are ``gx``, ``gy``, ``gt`` and their cylinders ``gbits`` and ``gmasks``, or with
    ``encoded`` each entry is the record of ``gencoded`` at ``gstarts`` (its minutiae, then
    its cylinders byte-sparse: :func:`encode_template`), decoded one entry at a time."""
    largest = 0
    for q in range(lo, hi):
        w = which[q]
        largest = max(largest, offsets[w + 1] - offsets[w])
    fw, iw, rho = _workspace(px.shape[0], largest)
    bplanes = np.empty((max(largest, 1), 3 * WORDS_PER_LAYER), dtype=np.uint64)
    bcos, bsin = fw[_F_BCOS], fw[_F_BSIN]
    width = CYLINDER_WORDS + WORDS_PER_LAYER
    rows = np.empty((largest if encoded else 0, width), dtype=np.uint64)
    ubits = np.empty((largest if encoded else 0, CYLINDER_WORDS), dtype=np.uint64)
    umasks = np.empty((largest if encoded else 0, WORDS_PER_LAYER), dtype=np.uint64)
    # a record's minutiae copied out as bytes: its floats need not be aligned in the file
    minutiae = np.empty(_RECORD_FLOATS * (largest if encoded else 0), dtype=np.float32)
    minutia_bytes = minutiae.view(np.uint8)
    for q in range(lo, hi):
        w = which[q]
        s, e = offsets[w], offsets[w + 1]
        k = e - s
        if encoded:
            at = gstarts[w]
            minutia_bytes[: MINUTIA_BYTES * k] = gencoded[at : at + MINUTIA_BYTES * k]
            bx, by, bt = minutiae[:k], minutiae[k : 2 * k], minutiae[2 * k : 3 * k]
            decode_cylinders(gencoded, at + MINUTIA_BYTES * k, k, DISC_WORDS, rows, ubits, umasks)
            cb, cm = ubits[:k], umasks[:k]
        else:
            bx, by, bt = gx[s:e], gy[s:e], gt[s:e]
            cb, cm = gbits[s:e], gmasks[s:e]
        _sides_into(bt, cb, bcos, bsin, bplanes)
        out[q] = _score_core(
            px, py, acos, asin, pbits, pmasks, aplanes,
            bx, by, bcos, bsin, cb, cm, bplanes[:k], fw, iw, rho,
        )  # fmt: skip


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
    encoded: bool,
    gencoded: np.ndarray,
    gstarts: np.ndarray,
    offsets: np.ndarray,
    which: np.ndarray,
    out: np.ndarray,
    chunks: int,
) -> None:
    """Scores of one probe against gallery entries ``which`` (cylinders ``offsets[w]:[w+1]``),
    split into one contiguous chunk per thread (:func:`compare_many` calls
    :func:`_score_range` itself for one thread)."""
    n = which.shape[0]
    acos, asin, aplanes = _probe_side(pt, pbits)
    for c in numba.prange(chunks):
        _score_range(
            px, py, acos, asin, pbits, pmasks, aplanes, gx, gy, gt, gbits, gmasks, encoded,
            gencoded, gstarts, offsets, which, out, c * n // chunks, (c + 1) * n // chunks,
        )  # fmt: skip


def compare_many(
    probe: Prepared,
    x: np.ndarray,
    y: np.ndarray,
    theta: np.ndarray,
    bits: np.ndarray,
    masks: np.ndarray,
    offsets: np.ndarray,
    which: np.ndarray,
    *,
    parallel: bool = True,
) -> np.ndarray:
    """Scores of one probe against many stored templates (concatenated cylinders), on all
    cores, or on the calling thread alone when not ``parallel``.

    Template ``w`` owns cylinders ``offsets[w]:offsets[w + 1]`` of the concatenated arrays.
    """
    return _compare_many(
        probe, x, y, theta, _words(bits), _words(masks), None, offsets, which, parallel
    )


def compare_many_encoded(
    probe: Prepared,
    records: np.ndarray,
    starts: np.ndarray,
    offsets: np.ndarray,
    which: np.ndarray,
    *,
    parallel: bool = True,
) -> np.ndarray:
    """:func:`compare_many` against templates as a gallery stores them: template ``w`` is
    the record of ``records`` at ``starts[w]`` (:func:`encode_template`), of
    ``offsets[w + 1] - offsets[w]`` minutiae."""
    return _compare_many(
        probe, _NO_FLOATS, _NO_FLOATS, _NO_FLOATS, _NO_WORDS, _NO_WORDS, (records, starts),
        offsets, which, parallel,
    )  # fmt: skip


_NO_FLOATS = np.zeros(0, dtype=np.float32)
_NO_WORDS = np.zeros((0, 1), dtype=np.uint64)
_NO_BYTES = np.zeros(0, dtype=np.uint8)
_NO_STARTS = np.zeros(0, dtype=np.int64)


def _compare_many(
    probe: Prepared,
    x: np.ndarray,
    y: np.ndarray,
    theta: np.ndarray,
    gbits: np.ndarray,
    gmasks: np.ndarray,
    encoded: tuple[np.ndarray, np.ndarray] | None,
    offsets: np.ndarray,
    which: np.ndarray,
    parallel: bool,
) -> np.ndarray:
    out = np.zeros(which.shape[0], dtype=np.float64)
    if not which.shape[0]:
        return out
    pbits, pmasks = _words(probe.bits), _words(probe.masks)
    gencoded, gstarts = encoded if encoded is not None else (_NO_BYTES, _NO_STARTS)
    which = np.ascontiguousarray(which, dtype=np.int64)
    is_encoded = encoded is not None
    if parallel:
        _score_many(
            probe.x, probe.y, probe.theta, pbits, pmasks, x, y, theta, gbits, gmasks, is_encoded,
            gencoded, gstarts, offsets, which, out,
            min(which.shape[0], 4 * numba.get_num_threads()),
        )  # fmt: skip
    else:
        # One thread: the shared range kernel, its probe side computed here.
        acos, asin, aplanes = _probe_side(probe.theta, pbits)
        _score_range(
            probe.x, probe.y, acos, asin, pbits, pmasks, aplanes, x, y, theta, gbits, gmasks,
            is_encoded, gencoded, gstarts, offsets, which, out, 0, which.shape[0],
        )  # fmt: skip
    return out


def encode_cylinders(bits: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """A template's cylinders (``bits`` n x 24, ``masks`` n x 4), byte-sparse
    (:mod:`scomm.biometrics.byte_sparse`)."""
    return byte_sparse.encode(byte_sparse.cylinder_rows(_words(bits), _words(masks), DISC_WORDS))


def decode_cylinder_block(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``bits`` and ``masks`` of ``k`` cylinders encoded by :func:`encode_cylinders`."""
    rows = np.empty((k, CYLINDER_WORDS + WORDS_PER_LAYER), dtype=np.uint64)
    bits = np.empty((k, CYLINDER_WORDS), dtype=np.uint64)
    masks = np.empty((k, WORDS_PER_LAYER), dtype=np.uint64)
    block = np.ascontiguousarray(block, dtype=np.uint8)
    decode_cylinders(block, 0, k, DISC_WORDS, rows, bits, masks)
    return bits, masks


def encode_template(prepared: Prepared) -> np.ndarray:
    """A prepared template as one record of a gallery's ``template_bytes``: its minutiae's
    ``x``, then ``y``, then ``theta`` (float32, ``MINUTIA_BYTES`` a minutia), then its
    cylinders (:func:`encode_cylinders`). One record, not one run in each of four files: a
    search reading its shortlist from disk reads a template's pages at one place."""
    floats = np.concatenate(
        [np.asarray(a, dtype=np.float32) for a in (prepared.x, prepared.y, prepared.theta)]
    )
    return np.concatenate([floats.view(np.uint8), encode_cylinders(prepared.bits, prepared.masks)])


def decode_template(record: np.ndarray, k: int) -> Prepared:
    """The template of ``k`` minutiae whose record (:func:`encode_template`) is ``record``."""
    floats = np.array(record[: MINUTIA_BYTES * k], dtype=np.uint8).view(np.float32)
    bits, masks = decode_cylinder_block(record[MINUTIA_BYTES * k :], k)
    return Prepared(
        x=floats[:k],
        y=floats[k : 2 * k],
        theta=floats[2 * k :],
        bits=bits,
        masks=masks,
        minutia_index=np.arange(k, dtype=np.int32),
    )


@numba.njit(cache=True, nogil=True)
def join_records(
    x: np.ndarray,
    y: np.ndarray,
    theta: np.ndarray,
    offsets: np.ndarray,
    cylinder_bytes: np.ndarray,
    cylinder_starts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The records (:func:`encode_template`) of many templates at once, and their starts:
    template ``t``'s minutiae are rows ``offsets[t]:offsets[t + 1]`` of ``x``, ``y`` and
    ``theta`` and its encoded cylinders bytes ``cylinder_starts[t]:cylinder_starts[t + 1]``
    of ``cylinder_bytes`` (both from 0)."""
    templates = offsets.shape[0] - 1
    starts = np.empty(templates + 1, dtype=np.int64)
    starts[0] = 0
    for t in range(templates):
        size = MINUTIA_BYTES * (offsets[t + 1] - offsets[t])
        starts[t + 1] = starts[t] + size + cylinder_starts[t + 1] - cylinder_starts[t]
    records = np.empty(starts[templates], dtype=np.uint8)
    for t in range(templates):
        lo, hi = offsets[t], offsets[t + 1]
        k = hi - lo
        floats = np.empty(_RECORD_FLOATS * k, dtype=np.float32)
        floats[:k] = x[lo:hi]
        floats[k : 2 * k] = y[lo:hi]
        floats[2 * k :] = theta[lo:hi]
        at = starts[t]
        records[at : at + MINUTIA_BYTES * k] = floats.view(np.uint8)
        c0, c1 = cylinder_starts[t], cylinder_starts[t + 1]
        records[at + MINUTIA_BYTES * k : starts[t + 1]] = cylinder_bytes[c0:c1]
    return records, starts
