"""Model files handed to ``workbench bench``: a corrupt or truncated ONNX file and a ``.pt``
pickle without ``--trust-pickle`` are refused in one line (exit 2); a trusted pickle loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench import ConfigError

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime]


def _bench(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "bench", *args, "--no-memory"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    torch = pytest.importorskip("torch")
    d = tmp_path_factory.mktemp("models")
    model = torch.nn.Sequential(torch.nn.Linear(8, 4))
    torch.onnx.export(model, torch.zeros(1, 8), str(d / "good.onnx"), dynamo=False)
    raw = (d / "good.onnx").read_bytes()
    (d / "truncated.onnx").write_bytes(raw[: len(raw) // 2])
    (d / "garbage.onnx").write_bytes(b"\x08\x07not a protobuf at all" * 10)
    (d / "empty.onnx").write_bytes(b"")
    torch.save(model, str(d / "model.pt"))
    return d


@pytest.mark.parametrize("name", ["truncated.onnx", "garbage.onnx", "empty.onnx"])
def test_a_broken_onnx_file_exits_2_in_one_line(files, name):
    r = _bench(name, cwd=files)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert name in lines[0] and "not a valid ONNX model" in lines[0]


def test_a_pickle_needs_the_trust_flag(files):
    r = _bench("model.pt", cwd=files)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "--trust-pickle" in lines[0], r.stderr
    from workbench._api import load_model

    with pytest.raises(ConfigError, match="is a pickle and loading it runs its code"):
        load_model(files / "model.pt")
    framework, module = load_model(files / "model.pt", trust_pickle=True)
    assert framework == "torch" and module[0].in_features == 8
