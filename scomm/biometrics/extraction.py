"""Minutiae extraction: a fixed sequence of named stages, each one observable.

The stages, in order (each is handed to ``observer(name, array)`` when one is given, the
"transparency" hook of SourceAFIS's manner):

``normalized``   grey image with local mean removed and local contrast equalised (float32)
``mask``         foreground segmentation, per pixel (bool): blocks of enough contrast and
                 coherent ridge flow, closed, holes filled, largest region kept
``orientation``  ridge orientation per pixel in radians [0, pi) in image axes (y down), from
                 the gradient structure tensor smoothed as doubled-angle vectors
``coherence``    how consistent that orientation is, 0..1 per pixel
``period``       ridge period in pixels per pixel (x-signature per block, smoothed)
``enhanced``     contextual filtering: a Gabor filter tuned to each pixel's orientation and
                 period, applied as two oriented passes (smoothing along the ridge, band-pass
                 across it), which is exact for a Gabor with a separable Gaussian envelope
``binary``       ridges (True) after thresholding the enhanced image at zero inside the mask
``skeleton``     the ridges thinned to one pixel (8-connected thinning of Lam, Lee and Suen)
``candidates``   every ridge ending/bifurcation found by the crossing number (MINUTIA_DTYPE)
``minutiae``     the survivors of filtering (border, short ridges, spurs, bridges, broken
                 ridges, clusters) with direction and quality (MINUTIA_DTYPE)

Everything per pixel runs in NumPy/SciPy array operations or in Numba kernels; nothing loops
over pixels in Python. The same image always gives the same template.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numba import njit
from scipy import ndimage

from scomm.biometrics.template import BIFURCATION, ENDING, MINUTIA_DTYPE, Template
from scomm.errors import ImageError

Observer = Callable[[str, np.ndarray], None]

BLOCK = 8  # pixels per block of the segmentation/orientation/period grids (500 ppi)
N_ANGLES = 16  # orientations of the filter bank (11.25 degrees apart)
PERIODS = np.arange(4, 17)  # ridge periods of the filter bank, pixels (500 ppi: 4..16)
MIN_SIDE = 64
MIN_FOREGROUND_PX = 64 * 64
# A print with fewer minutiae than this is still a print (a dry or partial impression): its
# template is kept and its quality scaled down by how many are missing (template_quality).
GOOD_MINUTIAE = 24
# A ridge shorter than this many periods is a dot or a spur. 1.2 also took the short true
# ridges of dry prints (FVC2002 DB3's recall was the lowest); 0.8 lowered the EER over
# DB1-4_B with every impostor pair from 3.25 to 2.83% (with BORDER_PX 6 below: 2.66%; both
# with the relaxation's earlier 5 px tolerance).
SHORT_RIDGE_PERIODS = 0.8
BROKEN_GAP_PERIODS = 1.6  # facing endings closer than this are one ridge broken
SEGMENT_COHERENCE = 0.17  # ridge flow; pure noise stays near 0.1 over a 3-block window (0.22
# cut away the faint periphery of dry prints, FVC2002 DB3, and the minutiae there)
SEGMENT_CONTRAST = 0.3  # of the image's 95th-percentile block contrast
ALONG_SIGMA = 0.55  # Gabor envelope along the ridge, in ridge periods
ACROSS_SIGMA = 0.55  # and across it (sets the band-pass width)
ALONG_REACH = 1.7  # kernels are cut this many sigmas out
ACROSS_REACH = 2.2
ORIENTATION_SMOOTHING = 1.5  # blocks (sigma) for the doubled-angle field
BORDER_FORK_PX = 4  # bifurcations closer than this to the mask edge are rejected too
# Minutiae closer than this to the mask edge are mostly the mask's own artefact. With the
# shorter spur limit above, 6 keeps the true minutiae near the edge of small prints (DB3's
# 300 x 300 sensor) that 10 cut; 8 and 14 measured worse.
BORDER_PX = 6


# --------------------------------------------------------------------------------------------
# Small array helpers


def _block_sum(a: np.ndarray, b: int = BLOCK) -> np.ndarray:
    h, w = a.shape
    return a.reshape(h // b, b, w // b, b).sum(axis=(1, 3))


def _upsample(a: np.ndarray, b: int = BLOCK) -> np.ndarray:
    return np.repeat(np.repeat(a, b, axis=0), b, axis=1)


def _smooth_doubled(c: np.ndarray, s: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    return ndimage.gaussian_filter(c, sigma, mode="nearest"), ndimage.gaussian_filter(
        s, sigma, mode="nearest"
    )


# --------------------------------------------------------------------------------------------
# Filter bank: for each (orientation, period) a sparse kernel of integer offsets and weights.


def _sparse_line(direction: float, sigma: float, radius: float, period: float | None) -> list:
    """Taps on the digital line through the origin along ``direction``, one per pixel step.

    The line steps one pixel at a time along its major axis (Bresenham), and each tap's weight
    is computed at the tap's exact projection onto the direction, so the band-pass across the
    ridges keeps its phase without interpolation: one tap per pixel, no bilinear fan-out.
    """
    ux, uy = np.cos(direction), np.sin(direction)
    if abs(ux) >= abs(uy):
        reach = int(np.floor(radius * abs(ux)))
        dx = np.arange(-reach, reach + 1)
        dy = np.rint(dx * uy / ux).astype(np.int64)
    else:
        reach = int(np.floor(radius * abs(uy)))
        dy = np.arange(-reach, reach + 1)
        dx = np.rint(dy * ux / uy).astype(np.int64)
    t = dx * ux + dy * uy
    w = np.exp(-0.5 * (t / sigma) ** 2)
    if period is not None:
        g = w.copy()
        w = w * np.cos(2.0 * np.pi * t / period)
        w -= g * (w.sum() / g.sum())  # no response to flat areas (zero DC)
        w /= np.abs(w).sum() / 2.0
    else:
        w /= w.sum()
    return [dy, dx, w]


def filter_reach() -> int:
    """The furthest pixel any tap of the filter bank reads, in pixels."""
    (ady, adx, _, _), (cdy, cdx, _, _) = _filter_bank()
    return int(max(np.abs(a).max() for a in (ady, adx, cdy, cdx)))


def _pack(kernels: list[list]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(kernels)
    m = max(len(k[0]) for k in kernels)
    dy = np.zeros((n, m), np.int32)
    dx = np.zeros((n, m), np.int32)
    w = np.zeros((n, m), np.float32)
    count = np.zeros(n, np.int32)
    for i, (ky, kx, kw) in enumerate(kernels):
        count[i] = len(ky)
        dy[i, : len(ky)], dx[i, : len(ky)], w[i, : len(ky)] = ky, kx, kw
    return dy, dx, w, count


@lru_cache(maxsize=1)
def _filter_bank() -> tuple[tuple, tuple]:
    """Along-ridge smoothing kernels per (angle, period) and across-ridge band-pass kernels."""
    along, across = [], []
    for a in range(N_ANGLES):
        theta = np.pi * a / N_ANGLES  # ridge direction, image axes
        for period in PERIODS:
            s_along = ALONG_SIGMA * period
            along.append(_sparse_line(theta, s_along, ALONG_REACH * s_along, None))
            s_across = ACROSS_SIGMA * period
            across.append(
                _sparse_line(theta + np.pi / 2, s_across, ACROSS_REACH * s_across, float(period))
            )
    return _pack(along), _pack(across)


# --------------------------------------------------------------------------------------------
# Numba kernels


@njit(cache=True, nogil=True, fastmath=True)
def _oriented_pass(
    src: np.ndarray,
    pad: int,
    index: np.ndarray,
    active: np.ndarray,
    kdy: np.ndarray,
    kdx: np.ndarray,
    kw: np.ndarray,
    kn: np.ndarray,
) -> np.ndarray:
    """out[y, x] = sum_j w[k, j] * src[y + pad + dy[k, j], x + pad + dx[k, j]], k = index[y, x].

    ``src`` is padded by ``pad`` pixels on every side so that no tap needs a bounds check;
    taps are read through flat offsets into the padded image (one add per tap).
    """
    h, w = index.shape
    wp = src.shape[1]
    flat = src.ravel()
    offset = np.empty(kdy.shape, np.int64)
    for k in range(kdy.shape[0]):
        for j in range(kdy.shape[1]):
            offset[k, j] = kdy[k, j] * wp + kdx[k, j]
    out = np.zeros((h, w), np.float32)
    for y in range(h):
        row = (y + pad) * wp + pad
        for x in range(w):
            if not active[y, x]:
                continue
            k = index[y, x]
            base = row + x
            acc = np.float32(0.0)
            for j in range(kn[k]):
                acc += kw[k, j] * flat[base + offset[k, j]]
            out[y, x] = acc
    return out


@njit(cache=True, nogil=True, fastmath=True)
def _block_tensor(img: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block, sums of gx*gx, gy*gy and gx*gy with Sobel gradients (the structure tensor)."""
    h, w = img.shape
    bh, bw = h // block, w // block
    gxx = np.zeros((bh, bw), np.float32)
    gyy = np.zeros((bh, bw), np.float32)
    gxy = np.zeros((bh, bw), np.float32)
    for y in range(1, min(h - 1, bh * block)):
        by = y // block
        for x in range(1, min(w - 1, bw * block)):
            bx = x // block
            gx = (
                img[y - 1, x + 1]
                + 2 * img[y, x + 1]
                + img[y + 1, x + 1]
                - img[y - 1, x - 1]
                - 2 * img[y, x - 1]
                - img[y + 1, x - 1]
            )
            gy = (
                img[y + 1, x - 1]
                + 2 * img[y + 1, x]
                + img[y + 1, x + 1]
                - img[y - 1, x - 1]
                - 2 * img[y - 1, x]
                - img[y - 1, x + 1]
            )
            gxx[by, bx] += gx * gx
            gyy[by, bx] += gy * gy
            gxy[by, bx] += gx * gy
    return gxx, gyy, gxy


@njit(cache=True, nogil=True)
def _block_periods(
    img: np.ndarray, theta: np.ndarray, valid: np.ndarray, block: int, half_len: int, half_wid: int
) -> np.ndarray:
    """Ridge period per block from the x-signature across the ridges (Hong, Wan and Jain)."""
    bh, bw = theta.shape
    h, w = img.shape
    n = 2 * half_len + 1
    out = np.zeros((bh, bw), np.float32)
    sig = np.zeros(n, np.float32)
    sm = np.zeros(n, np.float32)
    for by in range(bh):
        for bx in range(bw):
            if not valid[by, bx]:
                continue
            cy = by * block + block * 0.5
            cx = bx * block + block * 0.5
            t = theta[by, bx]
            ux, uy = np.cos(t), np.sin(t)  # along the ridge
            nx, ny = -uy, ux  # across
            for k in range(n):
                s = np.float32(0.0)
                d = k - half_len
                for m in range(-half_wid, half_wid + 1):
                    yy = int(cy + d * ny + m * uy + 0.5)
                    xx = int(cx + d * nx + m * ux + 0.5)
                    if yy < 0:
                        yy = 0
                    elif yy >= h:
                        yy = h - 1
                    if xx < 0:
                        xx = 0
                    elif xx >= w:
                        xx = w - 1
                    s += img[yy, xx]
                sig[k] = s
            for k in range(n):
                a = sig[k - 1] if k > 0 else sig[k]
                c = sig[k + 1] if k < n - 1 else sig[k]
                sm[k] = 0.25 * a + 0.5 * sig[k] + 0.25 * c
            first = -1
            last = -1
            count = 0
            for k in range(1, n - 1):
                if sm[k] > sm[k - 1] and sm[k] >= sm[k + 1] and sm[k] > 0:
                    if first < 0:
                        first = k
                    last = k
                    count += 1
            if count >= 2:
                out[by, bx] = (last - first) / (count - 1)
    return out


@njit(cache=True, nogil=True)
def _thin(image: np.ndarray, lut1: np.ndarray, lut2: np.ndarray) -> np.ndarray:
    """Two-sub-iteration thinning to an 8-connected one-pixel skeleton (LUT driven)."""
    h, w = image.shape
    skel = np.zeros((h + 2, w + 2), np.uint8)
    skel[1:-1, 1:-1] = image
    ys = np.empty(h * w, np.int32)
    xs = np.empty(h * w, np.int32)
    n = 0
    for y in range(1, h + 1):
        for x in range(1, w + 1):
            if skel[y, x]:
                ys[n] = y
                xs[n] = x
                n += 1
    delete = np.empty(n, np.int32)
    changed = True
    while changed:
        changed = False
        for it in range(2):
            lut = lut1 if it == 0 else lut2
            nd = 0
            for i in range(n):
                y = ys[i]
                x = xs[i]
                if skel[y, x] == 0:
                    continue
                code = (
                    skel[y, x + 1]
                    | (skel[y - 1, x + 1] << 1)
                    | (skel[y - 1, x] << 2)
                    | (skel[y - 1, x - 1] << 3)
                    | (skel[y, x - 1] << 4)
                    | (skel[y + 1, x - 1] << 5)
                    | (skel[y + 1, x] << 6)
                    | (skel[y + 1, x + 1] << 7)
                )
                if lut[code]:
                    delete[nd] = i
                    nd += 1
            for j in range(nd):
                skel[ys[delete[j]], xs[delete[j]]] = 0
            if nd > 0:
                changed = True
            # compact the list of live pixels so later passes scan only the skeleton
            m = 0
            for i in range(n):
                if skel[ys[i], xs[i]]:
                    ys[m] = ys[i]
                    xs[m] = xs[i]
                    m += 1
            n = m
    return skel[1:-1, 1:-1].copy()


_DY = np.array([0, -1, -1, -1, 0, 1, 1, 1], np.int64)
_DX = np.array([1, 1, 0, -1, -1, -1, 0, 1], np.int64)


@njit(cache=True, nogil=True)
def _trace(
    skel: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    max_steps: int,
    dir_step: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Follow each ridge leaving each minutia along the skeleton.

    For minutia i and branch b (up to 3) returns: the number of steps walked, how the walk
    ended (0 still going at max_steps, 1 ridge ended, 2 reached another minutia), the index
    of the minutia reached (-1 if none) and the point reached after ``dir_step`` steps
    (or the last point if the ridge was shorter), which gives the branch's direction.
    """
    h, w = skel.shape
    n = ys.shape[0]
    steps = np.zeros((n, 3), np.int32)
    end = np.full((n, 3), -1, np.int32)
    other = np.full((n, 3), -1, np.int32)
    py = np.zeros((n, 3), np.float32)
    px = np.zeros((n, 3), np.float32)
    stamp = np.zeros((h, w), np.int32)
    owner = np.full((h, w), -1, np.int32)
    for i in range(n):
        owner[ys[i], xs[i]] = i
    walk = 0
    by = np.zeros(8, np.int64)
    bx = np.zeros(8, np.int64)
    for i in range(n):
        y0 = ys[i]
        x0 = xs[i]
        # branch starts: the first set pixel of each run of set neighbours around the minutia
        nb = 0
        for k in range(8):
            yy = y0 + _DY[k]
            xx = x0 + _DX[k]
            prev_k = (k + 7) % 8
            ypv = y0 + _DY[prev_k]
            xpv = x0 + _DX[prev_k]
            on = 0 <= yy < h and 0 <= xx < w and skel[yy, xx] != 0
            on_prev = 0 <= ypv < h and 0 <= xpv < w and skel[ypv, xpv] != 0
            if on and not on_prev and nb < 8:
                by[nb] = yy
                bx[nb] = xx
                nb += 1
        for b in range(min(nb, 3)):
            walk += 1
            stamp[y0, x0] = walk
            for c in range(nb):
                if c != b:
                    stamp[by[c], bx[c]] = walk
            cy = by[b]
            cx = bx[b]
            stamp[cy, cx] = walk
            s = 1
            py[i, b] = cy
            px[i, b] = cx
            status = 0
            while True:
                j = owner[cy, cx]
                if j >= 0 and j != i:
                    status = 2
                    other[i, b] = j
                    break
                if s >= max_steps:
                    status = 0
                    break
                # next pixel: prefer 4-neighbours, never one already on this walk
                found = False
                ny = 0
                nx = 0
                for pass_ in range(2):
                    for k in range(8):
                        if (k % 2 == 1) != (pass_ == 1):
                            continue
                        yy = cy + _DY[k]
                        xx = cx + _DX[k]
                        if not (0 <= yy < h and 0 <= xx < w):
                            continue
                        # a minutia adjacent to us is reached first
                        if (
                            skel[yy, xx] != 0
                            and stamp[yy, xx] != walk
                            and (not found or owner[yy, xx] >= 0)
                        ):
                            ny = yy
                            nx = xx
                            found = True
                    if found:
                        break
                if not found:
                    status = 1
                    break
                cy = ny
                cx = nx
                stamp[cy, cx] = walk
                s += 1
                if s <= dir_step:
                    py[i, b] = cy
                    px[i, b] = cx
            steps[i, b] = s
            end[i, b] = status
    return steps, end, other, py, px


# --------------------------------------------------------------------------------------------
# Thinning look-up tables (conditions of Lam, Lee and Suen's 1992 survey, two sub-iterations)


def _neighbour_bits(code: int) -> list[bool]:
    return [bool(code >> i & 1) for i in range(8)]


def _thin_luts() -> tuple[np.ndarray, np.ndarray]:
    lut1 = np.zeros(256, np.uint8)
    lut2 = np.zeros(256, np.uint8)
    for code in range(256):  # 256 table entries, not pixels
        p = _neighbour_bits(code)
        # G1: exactly one 8-connected component of background around the pixel's foreground
        xh = sum(1 for i in (0, 2, 4, 6) if not p[i] and (p[i + 1] or p[(i + 2) % 8]))
        n1 = sum(1 for k in (1, 3, 5, 7) if p[k - 1] or p[k])
        n2 = sum(1 for k in (1, 3, 5, 7) if p[k] or p[(k + 1) % 8])
        g1 = xh == 1
        g2 = 2 <= min(n1, n2) <= 3
        g3 = not ((p[1] or p[2] or not p[7]) and p[0])
        g3p = not ((p[5] or p[6] or not p[3]) and p[4])
        lut1[code] = g1 and g2 and g3
        lut2[code] = g1 and g2 and g3p
    return lut1, lut2


_LUT1, _LUT2 = _thin_luts()
_CROSSING = np.array(
    [sum(((c >> i) & 1) != ((c >> ((i + 1) % 8)) & 1) for i in range(8)) // 2 for c in range(256)],
    np.uint8,
)


@njit(cache=True, nogil=True)
def _crossings(skel: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skeleton pixels whose crossing number is 1 (ending) or 3+ (bifurcation)."""
    h, w = skel.shape
    ys = np.empty(h * w // 4 + 16, np.int64)
    xs = np.empty(h * w // 4 + 16, np.int64)
    cns = np.empty(h * w // 4 + 16, np.uint8)
    n = 0
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            if skel[y, x] == 0:
                continue
            code = 0
            for k in range(8):
                if skel[y + _DY[k], x + _DX[k]] != 0:
                    code |= 1 << k
            cn = table[code]
            if (cn == 1 or cn >= 3) and n < ys.shape[0]:
                ys[n] = y
                xs[n] = x
                cns[n] = cn
                n += 1
    return ys[:n].copy(), xs[:n].copy(), cns[:n].copy()


# --------------------------------------------------------------------------------------------
# The stages


def _normalize(image: np.ndarray) -> np.ndarray:
    img = image.astype(np.float32)
    centred = img - ndimage.uniform_filter(img, 15, mode="reflect")
    # local contrast per block (3x3 blocks around it); the later stages threshold by sign,
    # so a contrast that steps from block to block does no harm and costs a fraction
    variance = ndimage.uniform_filter(_block_sum(centred * centred) / BLOCK**2, 3, mode="nearest")
    local_sd = np.sqrt(np.maximum(variance, 0.0))
    floor = max(float(np.mean(local_sd)) * 0.25, 1.0)
    scale = _upsample((1.0 / np.maximum(local_sd, floor)).astype(np.float32))
    # ridges dark in the scan: flip the sign so ridges come out positive
    return (-centred * scale).astype(np.float32)


def _orientation_blocks(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Block orientation (ridge direction, radians [0, pi)), coherence and gradient energy."""
    gxx, gyy, gxy = _block_tensor(img, BLOCK)
    gxx, gyy, gxy = (ndimage.gaussian_filter(a, 1.0, mode="nearest") for a in (gxx, gyy, gxy))
    c = gxx - gyy
    s = 2.0 * gxy
    energy = gxx + gyy
    coherence = np.sqrt(c * c + s * s) / np.maximum(energy, 1e-6)
    # smooth the doubled-angle field once more, weighted by its own strength, to fill noise
    norm = np.sqrt(c * c + s * s) + 1e-6
    wc, ws = _smooth_doubled(c / norm * coherence, s / norm * coherence, ORIENTATION_SMOOTHING)
    gradient_dir = 0.5 * np.arctan2(ws, wc)
    theta = np.mod(gradient_dir + np.pi / 2, np.pi)
    # coherence over a wider window separates speckled but flowing ridges from noise
    wxx, wyy, wxy = (ndimage.gaussian_filter(a, 1.5, mode="nearest") for a in (gxx, gyy, gxy))
    wide = np.hypot(wxx - wyy, 2.0 * wxy) / np.maximum(wxx + wyy, 1e-6)
    return (
        theta.astype(np.float32),
        coherence.astype(np.float32),
        energy.astype(np.float32),
        (wide.astype(np.float32)),
    )


def _segment(raw: np.ndarray, coherence: np.ndarray, where: str) -> np.ndarray:
    """Foreground blocks: contrast and coherent flow, cleaned up morphologically."""
    n = BLOCK * BLOCK
    mean = _block_sum(raw) / n
    sd = np.sqrt(np.maximum(_block_sum(raw * raw) / n - mean * mean, 0.0))
    sd = ndimage.uniform_filter(sd, 3, mode="nearest")
    top = float(np.percentile(sd, 95))
    if top < 4.0:
        raise ImageError(where, "not a fingerprint: the image is blank (no contrast)")
    mask = (sd > SEGMENT_CONTRAST * top) & (coherence > SEGMENT_COHERENCE)
    mask = ndimage.binary_opening(mask, iterations=1)
    mask = ndimage.binary_closing(mask, iterations=2, border_value=0)
    mask = ndimage.binary_fill_holes(mask)
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (int(np.argmax(sizes)) + 1)


def _periods(img: np.ndarray, theta: np.ndarray, mask_b: np.ndarray) -> np.ndarray:
    raw = _block_periods(img, theta, mask_b, BLOCK, 16, 4)
    valid = (raw >= 3.5) & (raw <= 18.0) & mask_b
    if valid.sum() < 4:
        return np.full(theta.shape, 9.0, np.float32)  # 500 ppi typical inter-ridge distance
    fill = float(np.median(raw[valid]))
    v = valid.astype(np.float32)
    num = ndimage.gaussian_filter(np.where(valid, raw, 0.0).astype(np.float32), 2.0)
    den = ndimage.gaussian_filter(v, 2.0)
    period = np.where(den > 0.05, num / np.maximum(den, 1e-6), fill)
    return np.clip(period, PERIODS[0], PERIODS[-1]).astype(np.float32)


def _enhance(
    img: np.ndarray, theta_px: np.ndarray, period_px: np.ndarray, mask_px: np.ndarray
) -> np.ndarray:
    (ady, adx, aw, an), (cdy, cdx, cw, cn) = _filter_bank()
    a_idx = np.rint(theta_px * (N_ANGLES / np.pi)).astype(np.int32) % N_ANGLES
    p_idx = np.clip(np.rint(period_px).astype(np.int32) - PERIODS[0], 0, len(PERIODS) - 1)
    index = a_idx * len(PERIODS) + p_idx
    # the first pass must cover every pixel the second one reads
    reach = int(max(np.abs(cdy).max(), np.abs(cdx).max()))
    near = ndimage.binary_dilation(mask_px[::BLOCK, ::BLOCK], iterations=reach // BLOCK + 1)
    near = _upsample(near)[: img.shape[0], : img.shape[1]]
    # the kernels read unchecked: pad by the furthest tap of either pass
    pad = filter_reach()
    smoothed = _oriented_pass(np.pad(img, pad, mode="edge"), pad, index, near, ady, adx, aw, an)
    return _oriented_pass(np.pad(smoothed, pad, mode="edge"), pad, index, mask_px, cdy, cdx, cw, cn)


def _minutiae_candidates(skel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _crossings(skel, _CROSSING)


def _angle_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.angle(np.exp(1j * (a - b))))


def extract(
    image: np.ndarray,
    dpi: int = 500,
    finger: int = 0,
    observer: Observer | None = None,
    where: str = "<image>",
) -> Template:
    """Extract the minutiae of one fingerprint image (grey, dark ridges on light, ``dpi`` ppi).

    Raises :class:`ImageError` for an image that is too small, blank, noise, or shows too
    little ridge area to be a fingerprint. A fingerprint always gives a template, with few
    minutiae or none at worst, and its ``quality`` (:func:`template_quality`) says how far
    it can be trusted.
    """

    def show(name: str, array: np.ndarray) -> None:
        if observer is not None:
            observer(name, array)

    image = np.asarray(image)
    if image.ndim != 2:
        raise ImageError(where, f"expected a 2-D grey image, got shape {image.shape}")
    if image.dtype != np.uint8:
        from scomm.biometrics.images import _to_grey

        # contrast thresholds below are on the 0-255 scale: bring 16-bit or 0..1 images to it
        image = _to_grey(image, where)
    h0, w0 = image.shape
    if min(h0, w0) < MIN_SIDE:
        raise ImageError(where, f"not a fingerprint: image is too small ({w0}x{h0} pixels)")
    if dpi != 500:
        # everything below is tuned in pixels at 500 ppi: resample other resolutions to it
        zoom = 500.0 / dpi
        image = ndimage.zoom(image.astype(np.float32), zoom, order=1)
    ph = -image.shape[0] % BLOCK
    pw = -image.shape[1] % BLOCK
    raw = np.pad(image.astype(np.float32), ((0, ph), (0, pw)), mode="edge")
    h, w = raw.shape

    img = _normalize(raw)
    show("normalized", img[: image.shape[0], : image.shape[1]])

    theta_b, coherence_b, _energy, wide_coherence_b = _orientation_blocks(img)
    mask_b = _segment(raw, wide_coherence_b, where)
    # padding is never foreground
    valid_b = np.zeros_like(mask_b)
    valid_b[: image.shape[0] // BLOCK, : image.shape[1] // BLOCK] = True
    mask_b &= valid_b
    mask_px = _upsample(mask_b)
    show("mask", mask_px[: image.shape[0], : image.shape[1]])
    if mask_px.sum() < MIN_FOREGROUND_PX:
        raise ImageError(
            where, f"not a fingerprint: only {int(mask_px.sum())} pixels show ridge flow"
        )
    theta_px = _upsample(theta_b)
    show("orientation", theta_px[: image.shape[0], : image.shape[1]])
    show("coherence", _upsample(coherence_b)[: image.shape[0], : image.shape[1]])

    period_b = _periods(img, theta_b, mask_b)
    period_px = _upsample(period_b)
    show("period", period_px[: image.shape[0], : image.shape[1]])

    enhanced = _enhance(img, theta_px, period_px, mask_px)
    show("enhanced", enhanced[: image.shape[0], : image.shape[1]])

    binary = (enhanced > 0) & mask_px
    show("binary", binary[: image.shape[0], : image.shape[1]])

    skel = _thin(binary.astype(np.uint8), _LUT1, _LUT2)
    show("skeleton", skel[: image.shape[0], : image.shape[1]].astype(bool))

    ys, xs, cn_at = _minutiae_candidates(skel)
    dir_step = 10
    steps, end, other, py, px = _trace(skel, ys, xs, 40, dir_step)
    kinds = np.where(cn_at == 1, ENDING, BIFURCATION).astype(np.uint8)

    # direction: ending -> along its ridge (ISO: the ridge flowing out of the ending);
    # bifurcation -> ISO's valley-ending convention: from the fork between the two arms,
    # i.e. opposite to the stem (checked against the FVC2002 reference templates)
    vy = py - ys[:, None]
    vx = px - xs[:, None]
    branch_angle = np.arctan2(vy, vx)
    ang = branch_angle[:, 0].copy()
    bif = kinds == BIFURCATION
    if bif.any():
        a = branch_angle[bif]
        d01 = _angle_diff(a[:, 0], a[:, 1])
        d02 = _angle_diff(a[:, 0], a[:, 2])
        d12 = _angle_diff(a[:, 1], a[:, 2])
        pair = np.argmin(np.stack([d01, d02, d12], 1), axis=1)  # the two arms: closest pair
        stem = np.choose(pair, [2, 1, 0])
        ang[bif] = a[np.arange(len(a)), stem] + np.pi
    # snap to the orientation field (smoother than a 10-pixel chord), keeping the sense
    local = theta_px[ys, xs]
    flip = _angle_diff(local, ang) > np.pi / 2
    direction = np.where(flip, local + np.pi, local)
    use_chord = _angle_diff(direction, ang) > np.pi / 6
    direction = np.where(use_chord, ang, direction)

    # quality: local coherence and distance inside the foreground
    inside = ndimage.distance_transform_cdt(np.pad(mask_b, 1), metric="chessboard")[1:-1, 1:-1]
    coh_px = _upsample(coherence_b)[ys, xs]
    depth = np.clip(inside[ys // BLOCK, xs // BLOCK] / 4.0, 0.0, 1.0)
    quality = np.clip(np.rint(100.0 * np.sqrt(np.clip(coh_px, 0, 1)) * (0.4 + 0.6 * depth)), 1, 100)

    candidates = _as_minutiae(xs, ys, direction, kinds, quality)
    show("candidates", candidates)

    reason = _filter(
        ys, xs, kinds, direction, steps, end, other, mask_b, period_px[ys, xs], image.shape
    )
    show("rejection", reason)
    survivors = candidates[reason == KEPT]
    show("minutiae", survivors)

    if dpi != 500:
        survivors["x"] /= zoom
        survivors["y"] /= zoom
    quality = template_quality(survivors["quality"])
    return Template(survivors, width=w0, height=h0, dpi=dpi, finger=finger, quality=quality)


def template_quality(minutia_quality: np.ndarray) -> int:
    """A template's quality, 0-100, from its minutiae's: their median (ridge-flow coherence and
    depth inside the print), scaled down when there are fewer than GOOD_MINUTIAE (a
    comparison then rests on few pairs); 0 for a template without minutiae."""
    n = int(minutia_quality.shape[0])
    if n == 0:
        return 0
    median = float(np.median(minutia_quality.astype(np.float64)))
    return int(np.clip(np.rint(median * min(1.0, n / GOOD_MINUTIAE)), 1, 100))


def _as_minutiae(
    xs: np.ndarray, ys: np.ndarray, direction: np.ndarray, kinds: np.ndarray, quality: np.ndarray
) -> np.ndarray:
    m = np.zeros(len(xs), MINUTIA_DTYPE)
    m["x"] = xs
    m["y"] = ys
    # image axes (y down, angle clockwise on screen) -> ISO (counter-clockwise on screen)
    m["theta"] = np.mod(-direction, 2 * np.pi)
    m["kind"] = kinds
    m["quality"] = quality
    return m


KEPT, AT_BORDER, SHORT_RIDGE, BRIDGE, BROKEN_RIDGE, CLUSTER = range(6)
REJECTION_REASONS = (
    "kept",
    "at border",
    "short ridge or spur",
    "bridge or hole",
    "broken ridge",
    "cluster",
)


def _filter(
    ys: np.ndarray,
    xs: np.ndarray,
    kinds: np.ndarray,
    direction: np.ndarray,
    steps: np.ndarray,
    end: np.ndarray,
    other: np.ndarray,
    mask_b: np.ndarray,
    period: np.ndarray,
    shape: tuple[int, int],
) -> np.ndarray:
    """Why each candidate is rejected (index into REJECTION_REASONS; KEPT = 0 survives)."""
    n = len(ys)
    reason = np.zeros(n, np.uint8)
    if n == 0:
        return reason

    def reject(sel: np.ndarray, why: int) -> None:
        reason[sel & (reason == KEPT) if sel.dtype == bool else sel[reason[sel] == KEPT]] = why

    # border: minutiae near the edge of the foreground are where ridges leave the mask
    inner = ndimage.binary_erosion(np.pad(mask_b, 1), iterations=1)[1:-1, 1:-1]
    near_edge = ~inner[ys // BLOCK, xs // BLOCK]
    # distance to the background, from block centres (cheap) interpolated at each minutia
    dist_b = ndimage.distance_transform_edt(np.pad(mask_b, 1))[1:-1, 1:-1] * BLOCK - BLOCK / 2
    dist = ndimage.map_coordinates(
        dist_b,
        [(ys - BLOCK / 2 + 0.5) / BLOCK, (xs - BLOCK / 2 + 0.5) / BLOCK],
        order=1,
        mode="nearest",
    )
    # a ridge cut by the mask's edge looks like an ending there; a fork is not made that way,
    # so bifurcations need only keep clear of the edge itself
    ending_at_edge = (near_edge & (dist < BORDER_PX + BLOCK)) | (dist < BORDER_PX)
    reject(np.where(kinds == ENDING, ending_at_edge, dist < BORDER_FORK_PX), AT_BORDER)
    reject((ys >= shape[0] - 4) | (xs >= shape[1] - 4), AT_BORDER)

    limit = np.maximum(SHORT_RIDGE_PERIODS * period, 8.0)
    ending = kinds == ENDING
    # short ridges and spurs: an ending whose ridge ends or meets another minutia very soon
    short = (end[:, 0] >= 1) & (steps[:, 0] < limit) & ending
    partners = other[:, 0][short & (other[:, 0] >= 0)]
    reject(short, SHORT_RIDGE)
    reject(partners, SHORT_RIDGE)
    # bridges and holes: a bifurcation whose branch meets another bifurcation very soon
    bif = ~ending
    for b in range(3):
        hit = bif & (end[:, b] == 2) & (steps[:, b] < limit) & (other[:, b] >= 0)
        idx = np.nonzero(hit)[0]
        tgt = other[idx, b]
        both = kinds[tgt] == BIFURCATION
        reject(idx[both], BRIDGE)
        reject(tgt[both], BRIDGE)
    # broken ridges: two endings close, opposite, each lying where the other's ridge heads
    e = np.nonzero(ending & (reason == KEPT))[0]
    if len(e) > 1:
        dy = (ys[e][None, :] - ys[e][:, None]).astype(np.float64)
        dx = (xs[e][None, :] - xs[e][:, None]).astype(np.float64)
        gap = np.hypot(dy, dx)
        toward = np.arctan2(dy, dx)  # from ending i to ending j, image axes
        facing = _angle_diff(direction[e][:, None], direction[e][None, :] + np.pi) < np.pi / 4
        # i's ridge runs away from the gap, so the gap lies opposite i's direction
        aligned = _angle_diff(toward, direction[e][:, None] + np.pi) < np.pi / 4
        close = (gap < BROKEN_GAP_PERIODS * period[e][:, None]) & facing & aligned
        np.fill_diagonal(close, False)
        broken = close.any(axis=1) | close.any(axis=0)
        reject(e[broken], BROKEN_RIDGE)
    # clusters: several minutiae crowded within about half a period are noise
    k = np.nonzero(reason == KEPT)[0]
    if len(k) > 1:
        d = np.hypot(ys[k][:, None] - ys[k][None, :], xs[k][:, None] - xs[k][None, :])
        crowd = (d < 0.6 * period[k][:, None]).sum(axis=1) - 1
        reject(k[crowd >= 2], CLUSTER)
    return reason
