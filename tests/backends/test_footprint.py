"""Runtime footprint: installed sizes read from package metadata, with dependencies."""

import pytest

from workbench.backends import get_backend
from workbench.backends._footprint import (
    FRAMEWORK_PACKAGES,
    footprint_of,
    installed_size,
    runtime_footprint,
)


def _fake_dist(root, name, files, requires=()):
    """An installed distribution on ``root``: its files, a RECORD listing them, its requirements."""
    pkg = root / name.replace("-", "_")
    pkg.mkdir()
    record = []
    for fname, size in files.items():
        (pkg / fname).write_bytes(b"x" * size)
        record.append(f"{pkg.name}/{fname},,{size}")
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    (info / "METADATA").write_text(meta)
    record += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")
    return len(meta.encode()) + len(("\n".join(record) + "\n").encode())


def test_installed_size_sums_the_recorded_files_and_walks_requirements(tmp_path, monkeypatch):
    base_meta = _fake_dist(tmp_path, "wb-fp-base", {"a.bin": 1000, "b.so": 5000})
    top_meta = _fake_dist(
        tmp_path,
        "wb-fp-top",
        {"c.bin": 300},
        requires=["wb-fp-base>=1", "wb-fp-absent", "wb-fp-opt; extra == 'x'"],
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert installed_size("wb-fp-base") == 6000 + base_meta
    assert installed_size("wb-fp-absent") is None
    f = footprint_of(("wb-fp-top", "wb-fp-not-installed-alternative"))
    assert f["bytes"] == 300 + top_meta
    assert (
        f["with_dependencies_bytes"] == 300 + top_meta + 6000 + base_meta
    )  # absent and optional ones skipped
    assert f["dependencies"] == ["wb-fp-base"]
    assert f["label"] == "installed size of wb-fp-top 1.0"
    assert footprint_of(("wb-fp-nothing",)) is None


def test_runtimes_beside_their_frameworks():
    pytest.importorskip("onnxruntime")
    foot = runtime_footprint(get_backend("onnxruntime"), "onnx")
    rt = foot["runtime"]
    assert rt["label"].startswith("installed size of onnxruntime ") and rt["bytes"] > 1_000_000
    assert rt["with_dependencies_bytes"] > rt["bytes"] and "numpy" in rt["dependencies"]
    assert foot["framework"]["label"].startswith("installed size of onnx ")
    assert set(FRAMEWORK_PACKAGES) == {"torch", "keras", "onnx"}


def test_the_report_states_each_deployments_footprint():
    from workbench.bench import Measurement
    from workbench.report import footprint_info, render_report
    from workbench.study._results import MEASURE_PREFIX, StudyResults, TrialRecord

    foot = {
        "runtime": {
            "label": "installed size of ai-edge-litert 2.3.0",
            "bytes": 60 * 2**20,
            "with_dependencies_bytes": 130 * 2**20,
        },
        "framework": {
            "label": "installed size of tensorflow-cpu 2.21.0 + keras 3.15.1",
            "bytes": 1250 * 2**20,
            "with_dependencies_bytes": 1400 * 2**20,
        },
    }
    m = Measurement("host", "keras", "litert", "int8-static", meta={"runtime_footprint": foot})
    trial = TrialRecord(0, "COMPLETE", None, {}, {MEASURE_PREFIX + m.key: m.to_dict()}, None)
    res = StudyResults("s", ["maximize", "minimize"], ["accuracy", "latency_p50_ms"], [trial])
    (row,) = footprint_info(res)
    assert row.key == "keras/litert-int8-static" and row.runtime_bytes == 60 * 2**20
    html = render_report(res)
    assert "Runtime footprint" in html and "installed size of ai-edge-litert 2.3.0" in html
    assert ">60.0<" in html and ">1250.0<" in html
