"""``scomm biometrics ...``: accuracy evaluation and a gallery on disk.

Heavy imports (numba, the matcher) stay inside the command bodies so ``scomm --help`` is fast.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from scomm.errors import InputError

if TYPE_CHECKING:
    from scomm.biometrics.template import Template

biometrics_app = typer.Typer(
    name="biometrics",
    help="Fingerprint matching: FVC evaluation, galleries (enrol, search, info).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(biometrics_app, name="biometrics")


def _write_json_atomic(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@biometrics_app.command("eval")
def eval_command(
    dataset: Annotated[
        Path | None, typer.Option(help="Folder of DB*_B sets (default: the data dir's fvc2002).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results here.")
    ] = None,
    templates: Annotated[
        str, typer.Option(help="iso: the commercial .iso minutiae; extract: our extractor.")
    ] = "iso",
    det: Annotated[Path | None, typer.Option(help="Draw DET curves to this PNG.")] = None,
) -> None:
    """Accuracy by the FVC protocol: EER, FMR100, FMR1000, ZeroFMR per set and on average."""
    from scomm.biometrics.evaluation import draw_det, evaluate
    from scomm.settings import data_dir

    folder = dataset if dataset is not None else data_dir() / "fvc2002"
    console = Console()
    with console.status("comparing..."):
        result = evaluate(folder, templates)
    table = Table(title=f"FVC protocol, {folder.name}, {templates} templates")
    for column in (
        "set",
        "EER %",
        "FMR100 %",
        "FMR1000 %",
        "ZeroFMR %",
        "genuine",
        "impostor",
        "no template",
    ):
        table.add_column(column, justify="right")
    for s in result.sets:
        r = s.rates
        table.add_row(
            s.name,
            f"{100 * r.eer:.2f}",
            f"{100 * r.fmr100:.2f}",
            f"{100 * r.fmr1000:.2f}",
            f"{100 * r.zero_fmr:.2f}",
            str(r.genuine),
            str(r.impostor),
            str(len(s.failures)),
        )
    table.add_row("average", f"{100 * result.average_eer:.2f}", "", "", "", "", "", "")
    console.print(table)
    if json_path is not None:
        _write_json_atomic(json_path, result.to_json())
        console.print(f"wrote {json_path}")
    if det is not None:
        draw_det(result, det)
        console.print(f"wrote {det}")


def _read_template(spec: str) -> tuple[int, Template]:
    """``POSITION=FILE``: an ISO 19794-2 record, a scomm template, or an image to extract."""
    from scomm.biometrics import formats

    position_text, sep, file_text = spec.partition("=")
    if not sep or not position_text.strip().isdigit():
        raise InputError("--finger", f"expected POSITION=FILE, got {spec!r}")
    position = int(position_text)
    path = Path(file_text)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    if data[:4] == b"FMR\x00":
        template = formats.read_iso19794(data, str(path))[0]
    elif data[:4] == formats.MAGIC:
        template = formats.from_bytes(data, str(path))
    else:
        from scomm.biometrics.extraction import extract
        from scomm.biometrics.images import read_image

        template = extract(read_image(data, str(path)), where=str(path))
    return position, template


@biometrics_app.command("enroll")
def enroll_command(
    gallery: Annotated[Path, typer.Argument(help="Gallery directory.")],
    subject: Annotated[str, typer.Option(help="Subject id.")],
    finger: Annotated[
        list[str], typer.Option(help="POSITION=FILE (.iso, scomm template or image); repeat.")
    ],
    create: Annotated[bool, typer.Option(help="Create the gallery if it does not exist.")] = False,
) -> None:
    """Enrol one subject's fingers into a gallery on disk."""
    from scomm.biometrics.gallery import Gallery

    fingers = dict(_read_template(spec) for spec in finger)
    if create and not (gallery / "manifest.json").exists():
        g = Gallery.create(gallery)
    else:
        g = Gallery.open(gallery)
    g.enroll(subject, fingers)
    Console().print(f"enrolled {subject} ({len(fingers)} fingers); {len(g)} subjects")


@biometrics_app.command("search")
def search_command(
    gallery: Annotated[Path, typer.Argument(help="Gallery directory.")],
    finger: Annotated[list[str], typer.Option(help="POSITION=FILE (0: position unknown).")],
    max_candidates: Annotated[int, typer.Option("--max", help="Candidates to list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search a gallery with one or more probe fingers; list ranked candidates."""
    from scomm.biometrics.gallery import Gallery

    g = Gallery.open(gallery)
    probe = dict(_read_template(spec) for spec in finger)
    candidates = g.search(probe, max_candidates)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "subject_id": c.subject_id,
                        "score": c.score,
                        "finger_scores": c.finger_scores,
                        "above_threshold": g.threshold is not None and c.score >= g.threshold,
                    }
                    for c in candidates
                ]
            )
        )
        return
    table = Table(title=f"{len(candidates)} candidates (threshold {g.threshold})")
    for column in ("rank", "subject", "score", "fingers"):
        table.add_column(column)
    for rank, c in enumerate(candidates, 1):
        fingers = ", ".join(f"{k}: {v:.3f}" for k, v in sorted(c.finger_scores.items()))
        table.add_row(str(rank), c.subject_id, f"{c.score:.4f}", fingers)
    Console().print(table)


@biometrics_app.command("info")
def info_command(gallery: Annotated[Path, typer.Argument(help="Gallery directory.")]) -> None:
    """What a gallery holds."""
    from scomm.biometrics.gallery import Gallery

    g = Gallery.open(gallery)
    console = Console()
    console.print(f"gallery {gallery}: generation {g.generation}")
    console.print(f"subjects {len(g)}, templates {g.template_count}, threshold {g.threshold}")
