"""Tests of the parallel, resumable Pythia chunks (``anomsearch.data.generate.pythia_chunks``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import numpy as np
import pandas as pd
import pytest

from anomsearch.data.features.raw_to_features import raw_to_features
from anomsearch.data.generate.pythia import PythiaConfig, generate_pythia
from anomsearch.data.generate.pythia_chunks import (
    chunk_path,
    chunk_seed,
    chunk_sizes,
    generate_pythia_chunks,
    merge_chunks,
)
from anomsearch.data.io.lhco import FEATURE_COLUMNS, read_features_h5, read_master_key
from anomsearch.data.io.lhco_raw import N_PARTICLE_COLUMNS, raw_h5_info, read_raw_h5
from anomsearch.exceptions import ConfigError, DataFormatError

N, CHUNK = 16, 8  # two chunks of 8 QCD events
CFG = PythiaConfig(process="qcd")


# ---------------------------------------------------------------- no Pythia
def test_chunk_seeds_and_sizes() -> None:
    seeds = [chunk_seed(5, i) for i in range(50)]
    assert len(set(seeds)) == 50
    assert all(0 <= s <= 900_000_000 for s in seeds)
    assert chunk_seed(5, 3) == chunk_seed(5, 3) != chunk_seed(6, 3)
    assert chunk_sizes(16, 8) == [8, 8] and chunk_sizes(17, 8) == [8, 8, 1]
    assert chunk_path("/w", 12).name == "chunk_00012.h5"


def test_the_chunks_of_a_run_never_share_a_seed() -> None:
    """Run seed 9100 (the package's QCD benchmark production): chunks 327 and 748 hash to the
    same Pythia seed and held the same 1000 events; 748 now draws another, the rest keep theirs."""

    def hashed(i: int) -> int:
        word = np.random.SeedSequence([9100, i]).generate_state(1, dtype=np.uint64)[0]
        return int(word) % 900_000_001

    assert hashed(327) == hashed(748)
    seeds = [chunk_seed(9100, i) for i in range(1000)]
    assert len(set(seeds)) == 1000 and all(0 <= s <= 900_000_000 for s in seeds)
    assert [i for i in range(1000) if seeds[i] != hashed(i)] == [748]


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"n": 0}, "n"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"seed": -1}, "seed"),
        ({"raw": "yes"}, "raw"),
        ({"config": {"process": "qcd"}}, "config"),
    ],
)
def test_bad_options(tmp_path: Path, kwargs: dict[str, object], option: str) -> None:
    args: dict[str, object] = {"n": 4, "seed": 1, "out_dir": tmp_path, "progress": False}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=f"generate_pythia_chunks.{option}"):
        generate_pythia_chunks(**args)  # type: ignore[arg-type]


def test_merge_needs_a_finished_run(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"run\.json"):
        merge_chunks(tmp_path, tmp_path / "f.h5")
    (tmp_path / "run.json").write_text(
        json.dumps({"n": 4, "chunk_size": 2, "raw": False}), encoding="utf-8"
    )
    with pytest.raises(DataFormatError, match=r"chunk\(s\) \[0, 1\] not finished"):
        merge_chunks(tmp_path, tmp_path / "f.h5")
    with pytest.raises(DataFormatError, match="no raw particles"):
        merge_chunks(tmp_path, tmp_path / "f.h5", raw_path=tmp_path / "r.h5")


def test_failed_chunk_leaves_no_chunk_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import anomsearch.data.generate.pythia_chunks as mod

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(mod, "generate_pythia", boom)
    (tmp_path / ".chunk_00001.h5.abc.tmp").write_bytes(b"half")  # left by a killed run
    chunk_path(tmp_path, 0).write_bytes(b"data without manifest")  # died before the manifest
    with pytest.raises(RuntimeError, match="killed"):
        generate_pythia_chunks(4, seed=1, out_dir=tmp_path, chunk_size=2, n_jobs=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "run.json"]


# ---------------------------------------------------------------- Pythia runs
#: The options of ``serial_run``: the runs compared with it use the same config, seed and chunks.
SERIAL: dict[str, Any] = {
    "config": CFG,
    "seed": 4,
    "chunk_size": CHUNK,
    "n_jobs": 1,
    "progress": False,
}


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    out = tmp_path_factory.mktemp("serial")
    run = generate_pythia_chunks(N, out_dir=out, raw=True, **SERIAL)
    assert run.generated == (0, 1) and run.skipped == ()
    assert run.n_events == N and run.sigma_gen_pb > 0 and 0 < run.efficiency <= 1
    assert run.events_per_s > 0
    return out


def test_chunks_are_generate_pythia_with_derived_seeds(serial_run: Path) -> None:
    merged = merge_chunks(serial_run, serial_run / "features.h5")
    events = read_features_h5(merged.features_path)
    assert len(events) == N and np.all(events.label == 0)
    direct, _ = generate_pythia(CHUNK, config=CFG, seed=chunk_seed(4, 1))
    np.testing.assert_array_equal(events.jets[CHUNK:], direct.jets)
    manifest = json.loads((serial_run / "chunk_00001.json").read_text(encoding="utf-8"))
    assert manifest["chunk_seed"] == chunk_seed(4, 1) and manifest["n_events"] == CHUNK
    assert manifest["seed"] == 4 and manifest["config"]["process"] == "qcd"
    assert manifest["sigma_gen_pb"] > 0 and manifest["events_per_s"] > 0


def test_raw_file_layout_and_reclustering(serial_run: Path) -> None:
    merged = merge_chunks(serial_run, serial_run / "f.h5", raw_path=serial_run / "raw.h5")
    info = raw_h5_info(merged.raw_path)  # type: ignore[arg-type]
    assert info.n_events == N and info.has_labels and info.key == "df"
    frame = pd.read_hdf(merged.raw_path)
    assert frame.shape == (N, N_PARTICLE_COLUMNS + 1)
    assert list(frame.columns) == list(range(N_PARTICLE_COLUMNS + 1))
    assert frame.dtypes.unique().tolist() == [np.dtype("float64")]
    chunk = read_raw_h5(merged.raw_path)  # type: ignore[arg-type]
    pt, eta = chunk.particles[..., 0], chunk.particles[..., 1]
    real = pt > 0
    assert np.all(real.sum(axis=1) > 50)  # hundreds of particles per event
    assert np.all(np.abs(eta[real]) < 2.5)  # detector acceptance
    # Padding is at the end of each event only.
    assert np.all(np.diff(real.astype(int), axis=1) <= 0)
    # Reclustering the raw detector-level particles reproduces the features file.
    refeat = raw_to_features(merged.raw_path, serial_run / "re.h5", progress=False)  # type: ignore[arg-type]
    assert refeat.n_missing_jets == 0
    again = read_features_h5(serial_run / "re.h5")
    orig = read_features_h5(merged.features_path)
    np.testing.assert_allclose(again.jets, orig.jets, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(again.label, orig.label)


def test_black_box_layout(serial_run: Path) -> None:
    merged = merge_chunks(
        serial_run,
        serial_run / "bb.h5",
        raw_path=serial_run / "bb_raw.h5",
        master_key=serial_run / "key.txt",
    )
    assert "label" not in pd.read_hdf(merged.features_path).columns
    assert not raw_h5_info(merged.raw_path).has_labels  # type: ignore[arg-type]
    assert read_master_key(merged.master_key).tolist() == [0] * N  # type: ignore[arg-type]


def test_resume_regenerates_only_missing_chunk(
    serial_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    work = tmp_path / "work"
    shutil.copytree(serial_run, work)
    before = merge_chunks(work, tmp_path / "before.h5", raw_path=tmp_path / "before_raw.h5")
    (work / "chunk_00001.json").unlink()
    (work / "chunk_00001.h5").unlink()
    kept = (work / "chunk_00000.json").read_text(encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="anomsearch.data.generate.pythia_chunks"):
        run = generate_pythia_chunks(N, out_dir=work, raw=True, **SERIAL)
    assert run.generated == (1,) and run.skipped == (0,)
    assert (work / "chunk_00000.json").read_text(encoding="utf-8") == kept  # untouched
    ran = [r.getMessage() for r in caplog.records if r.getMessage().startswith("chunk ")]
    assert len(ran) == 1 and ran[0].startswith("chunk 1:")
    after = merge_chunks(work, tmp_path / "after.h5", raw_path=tmp_path / "after_raw.h5")
    pd.testing.assert_frame_equal(
        pd.read_hdf(after.features_path), pd.read_hdf(before.features_path)
    )
    pd.testing.assert_frame_equal(pd.read_hdf(after.raw_path), pd.read_hdf(before.raw_path))
    # A finished run restarted again generates nothing.
    again = generate_pythia_chunks(
        N, config=CFG, seed=4, out_dir=work, chunk_size=CHUNK, n_jobs=1, progress=False, raw=True
    )
    assert again.generated == () and again.skipped == (0, 1)


def test_a_chunk_with_an_earlier_chunks_seed_is_generated_again(
    serial_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A chunk made before the seeds of a run were made distinct, with its predecessor's seed
    (and events): resumed, the run generates it again with its own seed."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(serial_run, work)
    manifest_path = work / "chunk_00001.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["chunk_seed"] = chunk_seed(4, 0)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="anomsearch.data.generate.pythia_chunks"):
        run = generate_pythia_chunks(N, out_dir=work, raw=True, **SERIAL)
    assert run.generated == (1,) and run.skipped == (0,)
    assert any("an earlier chunk of this run has too" in r.getMessage() for r in caplog.records)
    redone = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert redone["chunk_seed"] == chunk_seed(4, 1)
    pd.testing.assert_frame_equal(
        pd.read_hdf(work / "chunk_00001.h5", "features"),
        pd.read_hdf(serial_run / "chunk_00001.h5", "features"),
    )


def test_a_run_grows_and_shrinks_reusing_its_chunks(serial_run: Path, tmp_path: Path) -> None:
    """Chunk i is the start of its seed's event sequence: another n reuses what is there."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(serial_run, work)
    args: dict[str, object] = {"config": CFG, "seed": 4, "out_dir": work, "chunk_size": CHUNK}
    args.update(n_jobs=1, progress=False, raw=True)
    full = read_features_h5(merge_chunks(work, tmp_path / "16.h5", n=N).features_path)

    grown = generate_pythia_chunks(N + 4, **args)  # type: ignore[arg-type]
    assert grown.generated == (2,) and grown.skipped == (0, 1)
    merged = read_features_h5(merge_chunks(work, tmp_path / "20.h5").features_path)
    np.testing.assert_array_equal(merged.jets[:N], full.jets)

    shrunk = generate_pythia_chunks(N - 4, **args)  # type: ignore[arg-type]
    assert shrunk.generated == () and shrunk.n_events == N - 4
    part = read_features_h5(merge_chunks(work, tmp_path / "12.h5", n=N - 4).features_path)
    np.testing.assert_array_equal(part.jets, full.jets[: N - 4])

    # the 4-event chunk 2 is too short for 24 events: generated again in full, and its first
    # 4 events are the ones it had (Pythia's sequence from the chunk seed)
    again = generate_pythia_chunks(N + CHUNK, **args)  # type: ignore[arg-type]
    assert again.generated == (2,) and again.skipped == (0, 1)
    longer = read_features_h5(merge_chunks(work, tmp_path / "24.h5", n=N + CHUNK).features_path)
    np.testing.assert_array_equal(longer.jets[: N + 4], merged.jets)
    assert len(longer) == N + CHUNK
    with pytest.raises(ConfigError, match=r"merge_chunks\.n"):
        merge_chunks(work, tmp_path / "x.h5", n=0)
    with pytest.raises(DataFormatError, match=r"chunk\(s\) \[3\] not finished"):
        merge_chunks(work, tmp_path / "x.h5", n=N + CHUNK + 1)


def test_readers_write_nothing_and_two_generators_do_not_race(
    serial_run: Path, tmp_path: Path
) -> None:
    import fcntl
    import shutil

    work = tmp_path / "work"
    shutil.copytree(serial_run, work)
    before = {p.name: p.stat().st_mtime_ns for p in work.iterdir()}
    args: dict[str, object] = {"config": CFG, "seed": 4, "out_dir": work, "chunk_size": CHUNK}
    args.update(n_jobs=1, progress=False, raw=True)
    with open(work / ".lock", "a", encoding="utf-8") as other:  # another process generating
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        (work / ".chunk_00002.h5.xyz.tmp").write_bytes(b"being written by the other process")
        run = generate_pythia_chunks(N, **args)  # type: ignore[arg-type]
        assert run.generated == () and run.skipped == (0, 1)
        after = {p.name: p.stat().st_mtime_ns for p in work.iterdir()}
        assert after == {**before, ".lock": after[".lock"], ".chunk_00002.h5.xyz.tmp": ANY}
        with pytest.raises(ConfigError, match=r"another process is generating chunks"):
            generate_pythia_chunks(N + 1, **args)  # type: ignore[arg-type]
        assert (work / ".chunk_00002.h5.xyz.tmp").exists()  # the other's file is left alone


def test_mismatched_manifest_is_a_clear_error(serial_run: Path, tmp_path: Path) -> None:
    import shutil

    work = tmp_path / "work"
    shutil.copytree(serial_run, work)
    args: dict[str, object] = {"out_dir": work, "chunk_size": CHUNK, "n_jobs": 1, "raw": True}
    with pytest.raises(ConfigError, match=r"different settings: seed=4 \(requested 5\)"):
        generate_pythia_chunks(N, config=CFG, seed=5, progress=False, **args)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"config.variant='data' \(requested 'simulation'\)"):
        generate_pythia_chunks(
            N,
            config=PythiaConfig(variant="simulation"),
            seed=4,
            progress=False,
            **args,  # type: ignore[arg-type]
        )
    # A chunk manifest that disagrees with the run (e.g. copied from another run) is caught too.
    manifest_path = work / "chunk_00001.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["seed"] = 99
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"chunk_00001\.json: chunk 1 .* different settings: seed=99"
    ):
        generate_pythia_chunks(N, config=CFG, seed=4, progress=False, **args)  # type: ignore[arg-type]


@pytest.mark.slow
def test_parallel_run_is_identical_to_serial(serial_run: Path, tmp_path: Path) -> None:
    run = generate_pythia_chunks(
        N,
        config=CFG,
        seed=4,
        out_dir=tmp_path,
        chunk_size=CHUNK,
        n_jobs=2,
        progress=False,
        raw=True,
    )
    assert run.generated == (0, 1)
    par = merge_chunks(tmp_path, tmp_path / "p.h5", raw_path=tmp_path / "p_raw.h5")
    ser = merge_chunks(serial_run, serial_run / "s.h5", raw_path=serial_run / "s_raw.h5")
    pd.testing.assert_frame_equal(pd.read_hdf(par.features_path), pd.read_hdf(ser.features_path))
    pd.testing.assert_frame_equal(pd.read_hdf(par.raw_path), pd.read_hdf(ser.raw_path))


# ---------------------------------------------------------------- extra (constituent) features
def test_bad_extra_features_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"generate_pythia_chunks\.extra_features: unknown"):
        generate_pythia_chunks(4, seed=1, out_dir=tmp_path / "w", extra_features="everything")
    assert not (tmp_path / "w").exists()  # refused before touching the directory


@pytest.fixture(scope="module")
def extra_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The events of ``serial_run`` (same config, seed and chunks) with every extra feature."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    out = tmp_path_factory.mktemp("extra")
    run = generate_pythia_chunks(N, out_dir=out, extra_features="kitchen_sink", **SERIAL)
    assert run.generated == (0, 1)
    return out


def test_chunks_and_merge_carry_the_extra_columns(
    extra_run: Path, serial_run: Path, tmp_path: Path
) -> None:
    from anomsearch.data.features.sets import EXTRA_JET_FIELDS, file_column

    frame = pd.read_hdf(chunk_path(extra_run, 0), key="features")
    extra_cols = [file_column(f, j) for j in (1, 2) for f in EXTRA_JET_FIELDS]
    assert list(frame.columns) == [*FEATURE_COLUMNS, *extra_cols, "label"]
    assert len(frame) == CHUNK
    for name in ("run.json", "chunk_00000.json", "chunk_00001.json"):
        manifest = json.loads((extra_run / name).read_text(encoding="utf-8"))
        assert manifest["extra_features"] == "kitchen_sink"
    merged = read_features_h5(merge_chunks(extra_run, tmp_path / "f.h5").features_path)
    plain = read_features_h5(merge_chunks(serial_run, tmp_path / "plain.h5").features_path)
    assert np.array_equal(merged.jets, plain.jets)  # the same events as without the option
    assert merged.extra_fields == EXTRA_JET_FIELDS and plain.extra_fields == ()
    # the chain's columns equal those computed from the raw particles it wrote
    merge_chunks(serial_run, tmp_path / "s.h5", raw_path=tmp_path / "raw.h5")
    raw_to_features(
        tmp_path / "raw.h5", tmp_path / "r.h5", extra_features="kitchen_sink", progress=False
    )
    from_raw = read_features_h5(tmp_path / "r.h5")
    np.testing.assert_allclose(merged.extra, from_raw.extra, rtol=1e-9, atol=1e-12)
    with pytest.raises(DataFormatError, match="no raw particles"):
        merge_chunks(extra_run, tmp_path / "x.h5", raw_path=tmp_path / "x_raw.h5")


def test_extra_features_resume_and_must_match(extra_run: Path, serial_run: Path, tmp_path):
    import shutil

    from anomsearch.data.features.sets import EXTRA_JET_FIELDS

    work = tmp_path / "work"
    shutil.copytree(extra_run, work)
    before = pd.read_hdf(merge_chunks(work, tmp_path / "before.h5").features_path)
    (work / "chunk_00001.json").unlink()
    args: dict[str, object] = {"config": CFG, "seed": 4, "out_dir": work, "chunk_size": CHUNK}
    args.update(n_jobs=1, progress=False)
    # the same fields spelled as a list are the same run: only the missing chunk is generated
    run = generate_pythia_chunks(N, extra_features=list(EXTRA_JET_FIELDS), **args)  # type: ignore[arg-type]
    assert run.generated == (1,) and run.skipped == (0,)
    after = pd.read_hdf(merge_chunks(work, tmp_path / "after.h5").features_path)
    pd.testing.assert_frame_equal(after, before)
    with pytest.raises(ConfigError, match=r"extra_features='kitchen_sink' \(requested None\)"):
        generate_pythia_chunks(N, **args)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError, match=r"extra_features='kitchen_sink' \(requested 'subjettiness'\)"
    ):
        generate_pythia_chunks(N, extra_features="subjettiness", **args)  # type: ignore[arg-type]
    plain = tmp_path / "plain"
    shutil.copytree(serial_run, plain)
    with pytest.raises(ConfigError, match=r"extra_features=None \(requested \['tau4_b05'\]\)"):
        generate_pythia_chunks(
            N,
            config=CFG,
            seed=4,
            out_dir=plain,
            chunk_size=CHUNK,
            n_jobs=1,
            progress=False,
            raw=True,
            extra_features=["tau4_b05"],
        )


def test_runs_made_before_the_option_resume_without_it(serial_run: Path, tmp_path: Path) -> None:
    """Manifests without an ``extra_features`` entry are runs without extra features."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(serial_run, work)
    for path in work.glob("*.json"):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest.pop("extra_features", None)
        path.write_text(json.dumps(manifest), encoding="utf-8")
    run = generate_pythia_chunks(
        N, config=CFG, seed=4, out_dir=work, chunk_size=CHUNK, n_jobs=1, progress=False, raw=True
    )
    assert run.generated == () and run.skipped == (0, 1)
    assert read_features_h5(merge_chunks(work, tmp_path / "f.h5").features_path).extra_fields == ()
