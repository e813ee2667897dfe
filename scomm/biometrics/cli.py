"""``scomm biometrics ...``: accuracy evaluation and a gallery on disk.

Heavy imports (numba, the matcher) stay inside the command bodies so ``scomm --help`` is fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from scomm.errors import InputError
from scomm.files import write_text_atomic

if TYPE_CHECKING:
    from scomm.biometrics.template import Template

biometrics_app = typer.Typer(
    name="biometrics",
    help="Fingerprint matching: FVC evaluation, galleries (enrol, search, info), inspection.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(biometrics_app, name="biometrics")


def _write_json_atomic(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(payload, indent=1))


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
    position_text, sep, file_text = spec.partition("=")
    if not sep or not position_text.strip().isdigit():
        raise InputError("--finger", f"expected POSITION=FILE, got {spec!r}")
    return int(position_text), _read_template_file(Path(file_text))


def _read_template_file(path: Path, extract_images: bool = True) -> Template:
    """An ISO 19794-2 record, a scomm template, or (``extract_images``) an image to extract."""
    from scomm.biometrics import formats

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror}") from None
    if data[:4] == b"FMR\x00":
        return formats.read_iso19794(data, str(path))[0]
    if data[:4] == formats.MAGIC:
        return formats.from_bytes(data, str(path))
    if not extract_images:
        raise InputError(str(path), "not an ISO 19794-2 record or a scomm template")
    from scomm.biometrics.extraction import extract
    from scomm.biometrics.images import read_image

    return extract(read_image(data, str(path)), where=str(path))


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


@biometrics_app.command("gallery-upgrade")
def gallery_upgrade_command(
    gallery: Annotated[Path, typer.Argument(help="Gallery directory.")],
) -> None:
    """Rewrite a gallery of an older format in this version's: the same subjects, templates
    and journal, a chunk at a time. From format 2 or 3 (cylinders word for word) a third of
    the disk; from 4, each template one record; from 5, the records laid out by page (a
    search reads fewer pages from disk, for a file a fifth larger)."""
    from scomm.biometrics import storage
    from scomm.biometrics.gallery import Gallery
    from scomm.biometrics.upgrade import upgrade_gallery

    before = sum(f.stat().st_size for f in gallery.rglob("*") if f.is_file())
    upgraded = upgrade_gallery(gallery)
    after = sum(f.stat().st_size for f in gallery.rglob("*") if f.is_file())
    g = Gallery.open(gallery)
    what = (
        f"upgraded to format {storage.FORMAT_VERSION}: {before:,} -> {after:,} bytes"
        if upgraded
        else f"already format {storage.FORMAT_VERSION}"
    )
    Console().print(
        f"gallery {gallery}: {what}; subjects {len(g)}, templates {g.template_count}",
        soft_wrap=True,
        highlight=False,
    )


@biometrics_app.command("build")
def build_command(
    gallery: Annotated[Path, typer.Argument(help="Gallery directory (new, or a stopped build).")],
    synthetic: Annotated[
        int, typer.Option(help="How many generated single-finger subjects to enrol.")
    ],
    first_seed: Annotated[int, typer.Option(help="Seed of the first generated subject.")] = 1,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: cores).")] = None,
) -> None:
    """Build a gallery of generated subjects, streamed to disk with a progress bar; a build
    stopped (Ctrl-C, kill) goes on where it stopped when run again."""
    from scomm.biometrics.gallery import Gallery
    from scomm.biometrics.synthetic import Population

    if synthetic < 1:
        raise InputError("--synthetic", f"must be at least 1, got {synthetic}")
    g = Gallery.build(
        gallery, Population(first_seed=first_seed), total=synthetic, workers=workers, progress=True
    )
    # One line whatever the terminal's width: a path broken across lines cannot be copied.
    Console().print(
        f"gallery {gallery}: subjects {len(g)}, templates {g.template_count}",
        soft_wrap=True,
        highlight=False,
    )


@biometrics_app.command("inspect")
def inspect_command(
    image: Annotated[
        Path | None,
        typer.Argument(help="Fingerprint image (PNG, TIFF or WSQ); not with --gallery."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the picture (.png), or with --gallery the stages (.json)."),
    ] = None,
    dpi: Annotated[int, typer.Option(help="The image's resolution, pixels per inch.")] = 500,
    panels: Annotated[
        bool, typer.Option(help="Add the enhanced, binary and skeleton stages beside it.")
    ] = False,
    reference: Annotated[
        Path | None,
        typer.Option(help="Also draw this template's minutiae (.iso or scomm template)."),
    ] = None,
    gallery: Annotated[
        Path | None,
        typer.Option(help="Inspect a search of this gallery instead of an extraction."),
    ] = None,
    finger: Annotated[
        list[str] | None,
        typer.Option(help="With --gallery: the probe, POSITION=FILE (0: unknown); repeat."),
    ] = None,
    max_candidates: Annotated[int, typer.Option("--max", help="Candidates to list.")] = 10,
) -> None:
    """Draw what the extractor saw (orientation field, outline, minutiae), or with --gallery
    show each stage of a search: probe, screen, match, fuse, candidates."""
    if gallery is not None:
        if image is not None:
            raise InputError("IMAGE", "give either an image or --gallery with --finger, not both")
        if not finger:
            raise InputError("--finger", "a search needs at least one POSITION=FILE")
        _inspect_search(gallery, finger, max_candidates, out)
        return
    if image is None:
        raise InputError("IMAGE", "give an image to inspect, or --gallery DIR --finger POS=FILE")
    if out is None:
        raise InputError("--out", "give the picture's path (.png)")
    from scomm.biometrics.images import read_image
    from scomm.biometrics.inspect import draw_stages

    if out.suffix.lower() != ".png":
        raise InputError("--out", f"{out}: the picture is a PNG, give a path ending in .png")
    if not out.parent.is_dir():
        raise InputError("--out", f"{out.parent}: no such directory")
    if dpi < 100 or dpi > 2000:
        raise InputError("--dpi", f"{dpi} is not a fingerprint resolution (100-2000 ppi)")
    picture = read_image(image)
    drawn = None if reference is None else _read_template_file(reference, extract_images=False)
    template = draw_stages(picture, out, dpi=dpi, reference=drawn, panels=panels, where=str(image))
    Console().print(f"{image}: {len(template)} minutiae; wrote {out}")


def _inspect_search(
    gallery_dir: Path, fingers: list[str], max_candidates: int, out: Path | None
) -> None:
    """Run one search with an observer; print each stage, and write them all as JSON."""
    from scomm.biometrics.gallery import Gallery

    if out is not None and out.suffix.lower() != ".json":
        raise InputError("--out", f"{out}: a search's stages are JSON, give a path ending .json")
    g = Gallery.open(gallery_dir)
    probe = dict(_read_template(spec) for spec in fingers)
    stages: list[dict[str, object]] = []
    g.search(probe, max_candidates, observer=lambda name, data: stages.append({name: data}))
    console = Console()
    for entry in stages:
        ((name, data),) = entry.items()
        console.rule(name)
        console.print_json(json.dumps(data))
    if out is not None:
        _write_json_atomic(out, {"gallery": str(gallery_dir), "stages": stages})
        console.print(f"wrote {out}")


@biometrics_app.command("operating-point")
def operating_point_command(
    gallery_size: Annotated[
        int, typer.Option(help="Ten-print people enrolled; each is searched once.")
    ] = 3000,
    impostors: Annotated[
        int, typer.Option(help="Non-mates each search's probe is compared with (impostor trials).")
    ] = 80,
    seed: Annotated[int, typer.Option(help="Seed of every synthetic print.")] = 2008,
    out: Annotated[
        Path | None, typer.Option(help="Write here (default: the package's operating_point.json).")
    ] = None,
) -> None:
    """Measure the engine's miss rate and per-subject false match rate on synthetic ten-prints."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from scomm.biometrics import operating_point as op

    if gallery_size < 2:
        raise InputError("--gallery-size", f"{gallery_size}: at least 2 people are needed")
    if not 0 < impostors < gallery_size:
        raise InputError("--impostors", f"{impostors}: must be 1 to {gallery_size - 1}")
    command = (
        f"scomm biometrics operating-point --gallery-size {gallery_size} "
        f"--impostors {impostors} --seed {seed}"
    )
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, object] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        point = op.measure(gallery_size, impostors, seed, command=command, progress=progress)
    table = Table(title=f"ten-print identification at threshold {point.threshold}")
    for column in ("measure", "events", "trials", "rate"):
        table.add_column(column, justify="right")
    bound = " (95% upper bound)"
    table.add_row(
        "miss (FNIR)",
        str(point.misses),
        f"{point.genuine_searches:,}",
        f"{point.miss_rate:.2e}" + (bound if point.miss_rate_is_upper_bound else ""),
    )
    table.add_row(
        "false match (per subject)",
        str(point.false_matches),
        f"{point.impostor_trials:,}",
        f"{point.false_match_rate:.2e}" + (bound if point.false_match_rate_is_upper_bound else ""),
    )
    console.print(table)
    console.print(
        f"gallery {point.gallery_size:,} people; impostor scores mean "
        f"{point.impostor_score_mean}, sd {point.impostor_score_sd}, max "
        f"{point.impostor_score_max}; mates' median {point.genuine_score_median}; "
        f"{point.seconds} s"
    )
    target = op.DATA if out is None else out
    op.write(point, target)
    console.print(f"wrote {target}")


@biometrics_app.command("common-buckets")
def common_buckets_command(
    templates: Annotated[
        int, typer.Option(help="Generated templates whose index codes are counted.")
    ] = 20_000,
    first_seed: Annotated[
        int, typer.Option(help="Seed of the first (past any gallery's distractors).")
    ] = 100_000_000,
    share: Annotated[float, typer.Option(help="Share of all buckets left out.")] = 0.05,
    out: Annotated[
        Path | None,
        typer.Option(help="Write here (default: the package's screen_common_buckets.json)."),
    ] = None,
) -> None:
    """Find the index buckets the screen leaves out: the most common among generated templates."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from scomm.biometrics import common_buckets, screen

    if templates < 1:
        raise InputError("--templates", f"{templates}: at least 1 template is needed")
    if not 0.0 <= share < 1.0:
        raise InputError("--share", f"{share}: must be at least 0 and below 1")
    console = Console()
    columns = (TextColumn("index codes"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("codes", total=templates)
        found = common_buckets.measure(
            templates,
            first_seed,
            share,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    target = screen.COMMON_BUCKETS_FILE if out is None else out
    common_buckets.write(found, target)
    common = found["common"]
    assert isinstance(common, list)
    console.print(f"{len(common)} common buckets of {screen.CODE_WORDS * 64}; wrote {target}")
