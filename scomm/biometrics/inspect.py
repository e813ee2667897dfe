"""Pictures of what the extractor saw: orientation field and minutiae drawn over the image.

``draw_stages(image, "out.png")`` runs :func:`~scomm.biometrics.extraction.extract` with an
observer, then draws, over the grey image, the foreground outline, one short line per block
for the ridge orientation, and each minutia (red circle + direction tick for an ending, blue
square + tick for a bifurcation). Optionally a second template (e.g. a reference extractor's)
is drawn as green crosses, and the panels of the intermediate stages can be added.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scomm.biometrics.extraction import BLOCK, extract
from scomm.biometrics.template import BIFURCATION, Template

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def draw_stages(
    image: np.ndarray,
    out_png: str | Path,
    *,
    dpi: int = 500,
    reference: Template | None = None,
    panels: bool = False,
    where: str = "<image>",
) -> Template:
    """Extract ``image`` and write a PNG of its orientation field and minutiae; return the template.

    With ``panels=True`` the enhanced image, the binary ridges and the skeleton are drawn
    beside the main picture. The PNG is written atomically (temp file, then rename).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages: dict[str, np.ndarray] = {}
    template = extract(
        image, dpi=dpi, observer=lambda name, a: stages.__setitem__(name, a), where=where
    )
    names = ["enhanced", "binary", "skeleton"] if panels else []
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(6 * (1 + len(names)), 6), squeeze=False)
    ax = axes[0, 0]
    h, w = image.shape
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    mask = stages["mask"]
    ax.contour(mask.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
    theta = stages["orientation"]
    step = 2 * BLOCK  # every other block: denser lines hide the ridges
    cy, cx = np.mgrid[BLOCK // 2 : h : step, BLOCK // 2 : w : step]
    inside = mask[cy, cx]
    t = theta[cy, cx][inside]
    half = 0.4 * step
    xs, ys = cx[inside], cy[inside]
    segments = np.stack(
        [
            np.stack([xs - half * np.cos(t), ys - half * np.sin(t)], 1),
            np.stack([xs + half * np.cos(t), ys + half * np.sin(t)], 1),
        ],
        1,
    )
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(list(segments), colors="cyan", linewidths=0.6))
    _draw_minutiae(ax, template, size=12)
    if reference is not None:
        r = reference.minutiae
        ax.plot(r["x"], r["y"], "+", color="lime", markersize=8, mew=1.2)
    ax.set_title(f"{len(template)} minutiae")
    ax.set_axis_off()
    for axis, name in zip(axes[0, 1:], names, strict=True):
        axis.imshow(stages[name], cmap="gray")
        axis.set_title(name)
        axis.set_axis_off()
    out_png = Path(out_png)
    tmp = out_png.with_name(out_png.name + ".part.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(out_png)
    return template


def _draw_minutiae(ax: Axes, template: Template, size: float) -> None:
    m = template.minutiae
    ending = m["kind"] != BIFURCATION
    for sel, marker, colour in ((ending, "o", "red"), (~ending, "s", "blue")):
        x, y, th = m["x"][sel], m["y"][sel], m["theta"][sel]
        ax.scatter(
            x, y, s=size * 3, facecolors="none", edgecolors=colour, marker=marker, linewidths=1.0
        )
        # ISO angles turn counter-clockwise on screen, whose y axis points down
        ax.quiver(
            x,
            y,
            np.cos(th),
            -np.sin(th),
            color=colour,
            angles="xy",
            scale_units="xy",
            scale=1 / size,
            width=0.003,
            headwidth=0,
        )
