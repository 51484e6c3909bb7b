"""Command-line interface: thin commands that validate their input and call one library function."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.logging import RichHandler

from anomsearch import __version__
from anomsearch.exceptions import AnomsearchError
from anomsearch.progress import console as progress_console
from anomsearch.progress import format_bytes, terminal_progress

if TYPE_CHECKING:
    from anomsearch.data import EventTable

__all__ = ["app"]

log = logging.getLogger(__name__)

app = typer.Typer(
    help="anomsearch: model-independent searches for new physics at the LHC.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
generate_app = typer.Typer(
    help="Generate datasets in the LHC Olympics formats.", no_args_is_help=True
)
app.add_typer(generate_app, name="generate")
data_app = typer.Typer(
    help="Fetch and convert LHC Olympics datasets (download, list, raw -> features).",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
cache_app = typer.Typer(
    help="Look after a unit cache (compute.cache_dir): its size, and pruning it.",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    logger = logging.getLogger("anomsearch")
    if not any(getattr(h, "_anomsearch_cli", False) for h in logger.handlers):
        handler: logging.Handler
        if terminal_progress():  # log lines print above the progress bars, not through them
            handler = RichHandler(
                console=progress_console(), show_path=False, log_time_format="%H:%M:%S"
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
            )
        handler._anomsearch_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


@contextlib.contextmanager
def _interrupts() -> Iterator[list[int]]:
    """Record Ctrl-C (SIGINT) while the block runs, raising KeyboardInterrupt as usual: Lightning
    turns a KeyboardInterrupt during training into ``sys.exit(1)``, so the record tells an
    interrupt from a plain exit."""
    seen: list[int] = []

    def on_sigint(signum: int, frame: Any) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: leave the signals alone
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]
ExtraFeatures = Annotated[
    str | None,
    typer.Option(
        "--extra-features",
        help="Extra per-jet columns from the constituents: a feature set (subjettiness, efp, "
        "kitchen_sink) or comma-separated fields (tau4_b05,efp3_2).",
    ),
]


def _extra_features(value: str | None) -> str | list[str] | None:
    """``--extra-features``: a feature-set name, or comma-separated field names as a list."""
    if value is None or "," not in value:
        return value
    return [part.strip() for part in value.split(",") if part.strip()]


def _write_events(events: EventTable, output: Path, *, master_key: Path | None) -> None:
    """Write generated events in the LHCO features layout: with a ``label`` column (R&D layout), or,
    in black-box mode, without it and with the labels in a master-key file."""
    from anomsearch.data import write_features_h5, write_master_key

    write_features_h5(events, output, include_label=master_key is None)
    if master_key is not None:
        write_master_key(events.label, master_key)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"anomsearch {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """anomsearch: model-independent searches for new physics at the LHC."""


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML search configuration.")],
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", "-o", help="Overrides output.dir.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Recompute every unit (scan windows, folds), ignoring and overwriting the "
            "unit cache (compute.cache_dir).",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace the output directory even if it is not a results directory of an "
            "earlier run (never the working directory, its parents, or a folder holding an input).",
        ),
    ] = False,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run the search of CONFIG and write report.json, the pyhf workspace and plots.

    The output directory is replaced as a whole: only a results directory of an earlier run is
    replaced unless --overwrite is given. Finished units are cached (compute.cache: true, the
    default): a rerun of the same config, or of a run that was killed, loads them instead of
    recomputing them; --force recomputes."""
    _setup_logging(verbose, quiet)
    from anomsearch import workflow

    try:
        with _interrupts() as interrupted:
            result = workflow.run(
                config, output_dir=output_dir, progress=not quiet, force=force, overwrite=overwrite
            )
    except AnomsearchError as exc:
        raise _fail(exc) from None
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and not interrupted:
            raise
        typer.secho(
            "interrupted: no results were written or replaced (finished units stay in the unit "
            "cache: a rerun resumes from them)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=130) from None
    report = result.report
    no_cut = report["reference"]["no_cut"]
    typer.echo(
        f"{report['name']}: local significance Z = {report['significance']:.2f} "
        f"(p0 = {report['p0']:.3g}, fitted signal = {report['mu_hat']:.0f} "
        f"+- {report['mu_hat_error']:.0f} events) at efficiency "
        f"{report['selection']['efficiency']:g}; "
        f"without the score cut Z = {no_cut['significance']:.2f}"
    )
    for line in _summary_lines(report):
        typer.echo(f"  {line}")
    typer.echo(f"  results: {result.output_dir / 'report.json'}")


def _summary_lines(report: dict[str, Any]) -> list[str]:
    """The run summary after the headline line: scan, limit and score performance."""
    lines = []
    glob, headline = report.get("global"), report.get("headline") or {}
    if glob:
        low, high = headline.get("signal_region", [float("nan")] * 2)
        lines.append(
            f"scan: most significant SR [{low:.2f}, {high:.2f}] TeV at efficiency "
            f"{headline.get('efficiency', float('nan')):g} (the headline above); global Z = "
            f"{glob['significance']:.2f} (p = {glob['p_value']:.3g}, {glob['method']})"
        )
    limit = report.get("limit")
    if limit:
        band = limit["expected"]
        expected = "" if band[2] is None else f" (expected {band[2]:.0f}"
        if expected and band[1] is not None and band[3] is not None:
            expected += f", 68% band {band[1]:.0f}-{band[3]:.0f}"
        lines.append(
            f"{100 * limit['cl']:g}% CL upper limit on the signal events: "
            f"{limit['observed']:.0f}{expected}{')' if expected else ''}"
        )
    if report.get("metrics"):
        lines.append(
            f"max SIC = {report['metrics']['max_sic']:.2f}, AUC = {report['metrics']['auc']:.3f}"
        )
    return lines


@generate_app.command("pythia")
def generate_pythia_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Features file to write (.h5).")],
    process: Annotated[
        str,
        typer.Option(
            help="qcd, wprime, wprime_3prong, wprime_3prong_both, wprime_qq or qstar "
            "(anomsearch.data.generate.pythia.PROCESSES)."
        ),
    ] = "qcd",
    n: Annotated[int, typer.Option("--n", min=1, help="Events passing the trigger.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Run seed (each chunk derives its own).")] = 0,
    variant: Annotated[str, typer.Option(help="data or simulation (other tune).")] = "data",
    master_key: Annotated[
        Path | None,
        typer.Option(help="Black-box mode: no label column; labels go to this master-key file."),
    ] = None,
    raw: Annotated[
        Path | None,
        typer.Option(help="Also write the raw-particle file (700 x (pT, eta, phi)) here."),
    ] = None,
    n_jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    chunk_size: Annotated[int, typer.Option(min=1, help="Events per resumable chunk.")] = 1000,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Chunk directory (default OUTPUT.chunks); a rerun resumes from it."),
    ] = None,
    extra_features: ExtraFeatures = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Generate events with Pythia 8 + fastjet in resumable chunks, written in the LHC Olympics
    formats (features file; optionally the raw-particle file)."""
    _setup_logging(verbose, quiet)
    from anomsearch.data.generate.pythia import PythiaConfig
    from anomsearch.data.generate.pythia_chunks import generate_pythia_chunks, merge_chunks

    chunks = work_dir if work_dir is not None else output.with_name(output.name + ".chunks")
    try:
        config = PythiaConfig(process=process, variant=variant)
        run = generate_pythia_chunks(
            n,
            config=config,
            seed=seed,
            out_dir=chunks,
            chunk_size=chunk_size,
            n_jobs=n_jobs,
            progress=not quiet,
            raw=raw is not None,
            extra_features=_extra_features(extra_features),
        )
        merge_chunks(chunks, output, raw_path=raw, master_key=master_key)
    except AnomsearchError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"wrote {run.n_events} {process} events to {output}"
        + (f" and {raw}" if raw is not None else "")
        + f" ({run.events_per_s:.1f} events/s, {len(run.skipped)} chunk(s) resumed, "
        f"sigma = {run.sigma_gen_pb:.3g} pb); chunks kept in {chunks}"
    )


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="YAML search configuration.")]) -> None:
    """Validate CONFIG against the schema and the semantic checks, without running it."""
    from anomsearch.config import load_config

    try:
        load_config(config)
    except AnomsearchError as exc:
        raise _fail(exc) from None
    typer.echo(f"{config}: valid")


@app.command("config-reference")
def config_reference_command(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Markdown file to write (default: standard output)."),
    ] = None,
) -> None:
    """Render the configuration reference (docs/config.md) from the config schema."""
    from anomsearch.config.reference import render_config_reference

    text = render_config_reference()
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


@app.command()
def report(
    results_dir: Annotated[Path, typer.Argument(help="A results directory with report.json.")],
) -> None:
    """Re-render RESULTS_DIR/report.html from report.json and the plots, without rerunning."""
    from anomsearch.report.html import write_html_report

    try:
        out = write_html_report(results_dir)
    except AnomsearchError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {out}")


@app.command()
def submit(
    results_dir: Annotated[Path, typer.Argument(help="A results directory of `anomsearch run`.")],
    threshold: Annotated[
        float, typer.Option(help="Claim a signal only above this significance (Z).")
    ] = 3.0,
    signal_efficiency: Annotated[
        float,
        typer.Option(
            help="Signal efficiency of the score cut, to turn the fitted yield into n_signal."
        ),
    ] = 1.0,
    jet_mass_scale: Annotated[
        float | None,
        typer.Option(
            help="Relative jet-mass-scale uncertainty added to the daughter masses' errors "
            "(default: 0.01, what remains after the response correction on the package's Pythia "
            "chain -- set your detector's --, and 0 for the toy generator)."
        ),
    ] = None,
    jet_mass_response: Annotated[
        tuple[float, float, float] | None,
        typer.Option(
            help="Jet-mass response SCALE OFFSET OFFSET_ERROR (offsets in GeV^2): a daughter of "
            "mass m peaks at sqrt(SCALE^2 m^2 + OFFSET) and the answer inverts that (default: "
            "0.996 690 120, the package's Pythia chain with R = 1 jets; 1 0 0 -- no correction "
            "-- for the toy generator)."
        ),
    ] = None,
    min_daughter_significance: Annotated[
        float,
        typer.Option(
            help="Answer a daughter mass only when its jet-mass peak holds an excess of at "
            "least this many standard deviations..."
        ),
    ] = 3.0,
    max_daughter_relative_error: Annotated[
        float,
        typer.Option(help="... its total error is at most this fraction of the mass..."),
    ] = 0.1,
    max_daughter_relative_width: Annotated[
        float,
        typer.Option(help="... and its peak's width is at most this fraction of the mass."),
    ] = 0.25,
) -> None:
    """Write the LHC Olympics answer (answer.json, answer_details.json, answer.txt) of a run."""
    from anomsearch.answer import submit as submit_answer

    try:
        files = submit_answer(
            results_dir,
            significance_threshold=threshold,
            signal_efficiency=signal_efficiency,
            jet_mass_scale=jet_mass_scale,
            jet_mass_response=_jet_mass_response(jet_mass_response),
            min_daughter_significance=min_daughter_significance,
            max_daughter_relative_error=max_daughter_relative_error,
            max_daughter_relative_width=max_daughter_relative_width,
        )
    except AnomsearchError as exc:
        raise _fail(exc) from None
    typer.echo(files.text.read_text(encoding="utf-8").rstrip())
    typer.echo(f"wrote {files.answer}")


def _jet_mass_response(values: tuple[float, float, float] | None) -> Any:
    """``--jet-mass-response`` (GeV^2 offsets) as the answer's response (TeV^2), or None."""
    if values is None:
        return None
    from anomsearch.answer.daughter_systematics import JetMassResponse

    scale, offset, error = values
    return JetMassResponse(scale=scale, offset=offset * 1e-6, offset_error=error * 1e-6)


@app.command("score-submission")
def score_submission_command(
    answer: Annotated[Path, typer.Argument(help="answer.json of `anomsearch submit`.")],
    key: Annotated[Path, typer.Argument(help="Master-key JSON (truth; null for no signal).")],
    max_pull: Annotated[float, typer.Option(help="A quantity passes if |pull| <= this.")] = 2.0,
) -> None:
    """Compare an answer with a master key: pulls per quantity; exit code 1 if it fails."""
    from anomsearch.answer import (
        format_submission_score,
        load_answer,
        load_key,
        score_submission,
    )

    try:
        score = score_submission(load_answer(answer), load_key(key), max_pull=max_pull)
    except AnomsearchError as exc:
        raise _fail(exc) from None
    typer.echo(format_submission_score(score))
    if not score.passed:
        raise typer.Exit(code=1)


def _parse_params(params: list[str]) -> dict[str, float]:
    parsed: dict[str, float] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            raise AnomsearchError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            parsed[key.strip()] = float(value)
        except ValueError:
            raise AnomsearchError(f"--param {key}: {value!r} is not a number") from None
    return parsed


@generate_app.command("toy")
def generate_toy_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Features file to write (.h5).")],
    n_background: Annotated[
        int, typer.Option(min=0, help="Number of QCD-like events.")
    ] = 1_000_000,
    n_signal: Annotated[int, typer.Option(min=0, help="Number of W'-like signal events.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    master_key: Annotated[
        Path | None,
        typer.Option(help="Black-box mode: no label column; labels go to this master-key file."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Generator parameter KEY=VALUE (see ToyConfig)."),
    ] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Generate toy LHCO-like events and write them in the LHC Olympics features format."""
    _setup_logging(verbose, quiet)
    from anomsearch.data import ToyConfig, generate_toy

    try:
        toy = ToyConfig.from_dict(_parse_params(param or []), field_prefix="--param")
        events = generate_toy(n_background, n_signal, seed=seed, config=toy)
        _write_events(events, output, master_key=master_key)
    except AnomsearchError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {len(events)} events ({n_signal} signal) to {output}")


CacheDir = Annotated[
    Path | None,
    typer.Option(help="Cache directory (default $ANOMSEARCH_DATA or the user cache dir)."),
]


@data_app.command("list")
def data_list_command(cache_dir: CacheDir = None) -> None:
    """List the datasets `anomsearch data download` knows and whether each is cached."""
    from anomsearch.data.io.download import format_dataset_table, list_datasets

    typer.echo(format_dataset_table(list_datasets(cache_dir=cache_dir)))


@data_app.command("download")
def data_download_command(
    name: Annotated[str, typer.Argument(help="Dataset name (see `anomsearch data list`).")],
    cache_dir: CacheDir = None,
    force: Annotated[bool, typer.Option(help="Download again even if cached.")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="Network timeout in seconds.")] = 60.0,
    mirror: Annotated[
        str | None, typer.Option(help="Base URL replacing https://zenodo.org (a mirror).")
    ] = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Download NAME into the cache (resuming a partial download) and verify its checksum."""
    _setup_logging(verbose, quiet)
    from anomsearch.data.io.download import download_dataset

    try:
        result = download_dataset(
            name,
            cache_dir=cache_dir,
            force=force,
            progress=not quiet,
            timeout=timeout,
            base_url=mirror,
        )
    except AnomsearchError as exc:
        raise _fail(exc) from None
    for path, fetched in zip(result.paths, result.downloaded, strict=True):
        typer.echo(f"{path} ({'downloaded' if fetched else 'cached'})")


@data_app.command("features")
def data_features_command(
    raw: Annotated[Path, typer.Argument(help="LHCO raw-particle file (700 x (pT, eta, phi)).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Features file to write (.h5).")],
    chunk_size: Annotated[int, typer.Option(min=1, help="Raw events per chunk.")] = 10_000,
    jet_radius: Annotated[float, typer.Option(help="Anti-kT radius R.")] = 1.0,
    missing_jets: Annotated[
        str, typer.Option(help="Events with < 2 jets: 'zeros' (keep, as LHCO did) or 'drop'.")
    ] = "zeros",
    start: Annotated[int, typer.Option(min=0, help="First raw event.")] = 0,
    stop: Annotated[int | None, typer.Option(help="One past the last raw event.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    extra_features: ExtraFeatures = None,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Cluster the particles of RAW (anti-kT, fastjet) into the LHCO features file OUTPUT."""
    _setup_logging(verbose, quiet)
    from anomsearch.data.features.raw_to_features import raw_to_features

    try:
        result = raw_to_features(
            raw,
            output,
            chunk_size=chunk_size,
            jet_radius=jet_radius,
            missing_jets=missing_jets,
            start=start,
            stop=stop,
            n_jobs=jobs,
            progress=not quiet,
            extra_features=_extra_features(extra_features),
        )
    except AnomsearchError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"wrote {result.n_written} events to {result.path} ({result.events_per_s:.0f} events/s; "
        f"{result.n_missing_jets} with fewer than two jets)"
    )


UnitCacheDir = Annotated[
    Path,
    typer.Argument(
        help="The cache directory (compute.cache_dir; default results/.anomsearch-cache/<name>)."
    ),
]


@cache_app.command("info")
def cache_info(directory: UnitCacheDir) -> None:
    """Entries and size of a unit cache, per kind of unit."""
    import datetime

    from anomsearch.compute.cache_admin import cache_usage

    try:
        usage = cache_usage(directory)
    except AnomsearchError as exc:
        raise _fail(exc) from None
    typer.echo(f"{directory}: {usage.n_entries} entries, {format_bytes(usage.n_bytes)}")
    for kind, (n, size) in sorted(usage.by_kind.items()):
        typer.echo(f"  {kind:<14} {n:>7} entries  {format_bytes(size):>10}")
    if usage.oldest is not None and usage.newest is not None:
        stamp = [
            datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")
            for t in (usage.oldest, usage.newest)
        ]
        typer.echo(f"  last used between {stamp[0]} and {stamp[1]}")


@cache_app.command("prune")
def cache_prune(
    directory: UnitCacheDir,
    older_than: Annotated[
        float | None, typer.Option(help="Remove entries unused for this many days.")
    ] = None,
    max_size: Annotated[
        str | None,
        typer.Option(help="Then remove the least recently used entries down to this size (2G)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be removed.")] = False,
) -> None:
    """Remove old or least recently used entries of a unit cache (a rerun recomputes them)."""
    from anomsearch.compute.cache_admin import parse_size, prune_cache

    try:
        max_bytes = None if max_size is None else parse_size(max_size)
        if older_than is None and max_bytes is None:
            raise AnomsearchError("give --older-than DAYS and/or --max-size SIZE")
        result = prune_cache(
            directory, older_than_days=older_than, max_bytes=max_bytes, dry_run=dry_run
        )
    except AnomsearchError as exc:
        raise _fail(exc) from None
    verb = "would remove" if dry_run else "removed"
    typer.echo(
        f"{verb} {result.n_removed} entries ({format_bytes(result.bytes_removed)}); "
        f"{result.n_kept} entries ({format_bytes(result.bytes_kept)}) kept"
    )
