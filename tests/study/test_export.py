"""Artifact export: one extension table and one manifest shape for run_study and the widgets."""

from __future__ import annotations

import io
import json
from pathlib import Path

import optuna
import pytest

from workbench.bench import LatencyStats, Measurement
from workbench.study import load_results
from workbench.study._export import (
    MANIFEST_SCHEMA,
    artifact_extension,
    artifact_name,
    read_points,
)
from workbench.study._run import export_pareto


def test_extension_table():
    assert artifact_extension("keras-xla") == ".keras" == artifact_extension("keras")
    assert artifact_extension("onnxruntime") == ".onnx"
    assert artifact_extension("litert") == ".tflite"
    assert artifact_extension("torch") == ".pt2"
    assert artifact_extension("torch", "pickled state dict") == ".pt"
    assert artifact_extension("some-new-compiler") == ".bin"
    m = {"backend": "keras-xla", "meta": {"format": "keras"}}
    assert artifact_name(3, "host-cpu/keras/keras-xla-fp32", m) == (
        "trial3-host-cpu-keras-keras-xla-fp32.keras"
    )


def _measurement(acc: float, p50: float, artifact_id: str | None) -> Measurement:
    lat = LatencyStats(p50, p50 * 1.1, p50 * 1.2, p50, 0.01, p50 * 0.9, 50, p50 * 0.95, p50 * 1.05)
    meta = {"format": "keras", "int8_scheme": {"label": "none"}}
    if artifact_id is not None:
        meta["artifact_id"] = artifact_id
    return Measurement(
        profile="host-cpu",
        framework="keras",
        backend="keras-xla",
        precision="fp32",
        latency=lat,
        accuracy=acc,
        size_bytes=1234,
        receipt={"host": "this host", "threads": 1},
        meta=meta,
    )


@pytest.fixture
def keras_xla_study(tmp_path: Path):
    """A real SQLite study with a real artifact store: three keras-xla points on the front,
    two with a stored file and one whose file is gone from the store."""
    url = f"sqlite:///{tmp_path / 'exp.db'}"
    store_dir = tmp_path / "artifacts"
    store_dir.mkdir()
    store = optuna.artifacts.FileSystemArtifactStore(str(store_dir))
    study = optuna.create_study(study_name="exp", storage=url, directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "latency_p50_ms"])
    study.set_user_attr("artifact_store", str(store_dir))
    key = "host-cpu/keras/keras-xla-fp32"
    for n, (acc, p50, stored) in enumerate(
        [(0.8, 1.0, True), (0.9, 2.0, True), (0.95, 3.0, False)]
    ):
        aid = f"artifact-{n}"
        if stored:
            store.write(aid, io.BytesIO(b"model bytes %d" % n))
        m = _measurement(acc, p50, aid)
        study.add_trial(
            optuna.trial.create_trial(
                values=[acc, p50],
                user_attrs={
                    "spec": {"blocks": n},
                    "arch": f"arch{n}",
                    f"measure:{key}": m.to_dict(),
                },
            )
        )
    return url, study, store, key


def test_run_study_and_widget_export_the_same_names_and_manifest(keras_xla_study, tmp_path):
    from workbench.widgets._export import export_points
    from workbench.widgets._source import resolve_study

    url, study, store, key = keras_xla_study
    results = load_results(study)
    assert results.fronts()[key].trials == [0, 1, 2]
    pareto = export_pareto(results, store, tmp_path / "pareto")
    ours = json.loads((pareto / "manifest.json").read_text())

    ref = resolve_study("exp", url)
    records = [{"trial": n, "key": key} for n in (0, 1, 2)]
    res = export_points(ref, records, tmp_path / "sel")
    theirs = json.loads(res.manifest.read_text())

    assert ours["schema"] == theirs["schema"] == MANIFEST_SCHEMA
    assert ours["study"] == theirs["study"] == "exp"
    assert ours["points"] == theirs["points"]  # same entries, field for field
    files = [p.get("file") for p in ours["points"]]
    assert files == [
        "trial0-host-cpu-keras-keras-xla-fp32.keras",
        "trial1-host-cpu-keras-keras-xla-fp32.keras",
        None,
    ]
    assert sorted(f.name for f in res.files) == files[:2]
    assert (pareto / files[0]).read_bytes() == b"model bytes 0"
    first, gone = ours["points"][0], ours["points"][2]
    assert (first["trial"], first["key"], first["spec"]) == (0, key, {"blocks": 0})
    assert first["receipt"] == {"host": "this host", "threads": 1}
    assert first["measurement"]["meta"]["artifact_id"] == "artifact-0"
    assert first["accuracy"] == 0.8 and first["latency_p50_ms"] == 1.0
    assert "artifact artifact-2 is missing" in gone["error"]
    assert res.missing == [f"trial 2 {key}: {gone['error']}"]


def test_read_points_through_the_storage_api(keras_xla_study):
    url, _, _, key = keras_xla_study
    storage = optuna.storages.RDBStorage(url)
    sid = storage.get_study_id_from_name("exp")
    got = read_points(storage, sid, [(1, key), (1, "host-cpu/keras/none-fp32"), (7, key)])
    assert list(got.measurements) == [(1, key)] and got.specs == {1: {"blocks": 1}}
    assert got.measurements[(1, key)]["accuracy"] == 0.9


def test_widget_exports_one_artifact_with_a_manifest_entry(keras_xla_study, tmp_path):
    from workbench.widgets._export import export_artifact
    from workbench.widgets._source import resolve_study

    url, _, _, key = keras_xla_study
    ref = resolve_study("exp", url)
    path = export_artifact(ref, ref.trial(1), key, tmp_path / "one")
    assert path.name == "trial1-host-cpu-keras-keras-xla-fp32.keras"
    side = json.loads(path.with_name(path.name + ".json").read_text())
    assert side["schema"] == MANIFEST_SCHEMA and side["file"] == path.name
    assert (side["trial"], side["key"], side["arch"], side["spec"]) == (
        1,
        key,
        "arch1",
        {"blocks": 1},
    )
    assert side["measurement"]["accuracy"] == 0.9 and side["receipt"]["threads"] == 1


def test_a_folder_artifact_is_stored_as_one_zip_and_unpacked_whole(tmp_path):
    """OpenVINO's model.xml + model.bin travel as one stored zip and come back as the folder."""
    import zipfile

    from optuna.artifacts import FileSystemArtifactStore

    from workbench import StorageError
    from workbench.study._export import (
        FOLDER_LAYOUT,
        download_artifact,
        pack_folder,
        stored_as_folder,
    )

    src = tmp_path / "m.openvino"
    (src / "sub").mkdir(parents=True)
    (src / "model.xml").write_text("<net/>")
    (src / "model.bin").write_bytes(b"\x00\x01" * 100)
    (src / "sub" / "extra.txt").write_text("x")
    a, b = pack_folder(src, tmp_path / "a.zip"), pack_folder(src, tmp_path / "b.zip")
    assert a.read_bytes() == b.read_bytes()  # same files, same bytes
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    store = FileSystemArtifactStore(str(store_dir))
    store.write("art1", io.BytesIO(Path(a).read_bytes()))
    out = download_artifact(store, "art1", tmp_path / "out" / "m.openvino", folder=True)
    assert out.is_dir() and (out / "model.bin").read_bytes() == b"\x00\x01" * 100
    assert (out / "sub" / "extra.txt").read_text() == "x"
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.openvino"]  # no part left
    assert stored_as_folder({"meta": {"artifact_layout": FOLDER_LAYOUT}})
    assert not stored_as_folder({"meta": {}}) and not stored_as_folder(None)

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escaped.txt", "no")
    store.write("art2", io.BytesIO(Path(evil).read_bytes()))
    with pytest.raises(StorageError, match="unsafe path"):
        download_artifact(store, "art2", tmp_path / "out2" / "m.openvino", folder=True)
    assert not (tmp_path / "escaped.txt").exists() and not list((tmp_path / "out2").glob("*.part*"))
    store.write("art3", io.BytesIO(Path(src / "model.bin").read_bytes()))
    with pytest.raises(StorageError, match="not the zip of a folder"):
        download_artifact(store, "art3", tmp_path / "out3" / "m.openvino", folder=True)
