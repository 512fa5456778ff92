import sys
import textwrap

import pytest

from workbench import ConfigError, UnknownNameError
from workbench.backends import (
    Backend,
    Deployment,
    _registry,
    backend_names,
    get_backend,
    register_backend,
)


def test_builtins_are_registered():
    assert {"torch", "onnxruntime"} <= set(backend_names())
    ort = get_backend("onnxruntime")
    assert ort.precisions == ("fp32", "int8-dynamic", "int8-static")
    assert get_backend("onnxruntime") is ort


def test_unknown_backend_lists_known():
    with pytest.raises(
        UnknownNameError, match="unknown backend 'tensorrt'; known: .*onnxruntime.*torch"
    ):
        get_backend("tensorrt")


def test_deployment_names_parse_both_ways():
    d = Deployment.parse("onnxruntime-int8-static")
    assert (d.backend, d.precision, d.name) == (
        "onnxruntime",
        "int8-static",
        "onnxruntime-int8-static",
    )
    d2 = Deployment.parse(
        {"backend": "onnxruntime", "precision": "int8-static", "options": {"per_channel": False}}
    )
    assert d2.opts == {"per_channel": False} and d2.name == d.name
    with pytest.raises(ConfigError, match="known backend"):
        Deployment.parse("tensorrt-fp32")
    with pytest.raises(ConfigError, match="unknown key"):
        Deployment.parse({"backend": "torch", "precision": "fp32", "device": "gpu"})


def test_backends_refuse_what_they_cannot_serve():
    with pytest.raises(ConfigError, match="does not support precision 'fp16'; it supports: fp32"):
        get_backend("torch").check(Deployment("torch", "fp16"))
    with pytest.raises(ConfigError, match="cannot deploy onnx models; it accepts: torch"):
        get_backend("torch").check(Deployment("torch", "fp32"), "onnx")
    with pytest.raises(ConfigError, match="has no option 'colour'"):
        get_backend("onnxruntime").check(Deployment("onnxruntime", "fp32", (("colour", 1),)))
    with pytest.raises(ConfigError, match="calibrate_method must be one of"):
        get_backend("onnxruntime").check(
            Deployment("onnxruntime", "int8-static", (("calibrate_method", "magic"),))
        )


def test_third_party_backend_via_entry_point(tmp_path, monkeypatch):
    """A package that declares a ``workbench.backends`` entry point is found without any import."""
    pkg = tmp_path / "wb_echo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent("""
        from workbench.backends import Artifact, Backend

        class EchoBackend(Backend):
            name = "echo"
            frameworks = ("onnx",)
            precisions = ("fp32",)

            def compile(self, source, deployment, ctx):
                return Artifact(deployment, source.framework, None, source.input_shape)

            def load(self, artifact, threads):
                raise NotImplementedError
    """)
    )
    dist = tmp_path / "wb_echo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wb-echo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[workbench.backends]\necho = wb_echo:EchoBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_registry, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.setattr(_registry, "_TARGETS", dict(_registry._BUILTIN))
    monkeypatch.setattr(_registry, "_INSTANCES", {})
    assert "echo" in backend_names()
    b = get_backend("echo")
    assert type(b).__name__ == "EchoBackend" and isinstance(b, Backend)
    sys.modules.pop("wb_echo", None)


def test_register_backend_decorator(monkeypatch):
    monkeypatch.setattr(_registry, "_TARGETS", dict(_registry._TARGETS))
    monkeypatch.setattr(_registry, "_INSTANCES", {})

    @register_backend
    class Null(Backend):
        name = "null"
        frameworks = ("torch",)
        precisions = ("fp32",)

        def compile(self, source, deployment, ctx):
            raise NotImplementedError

        def load(self, artifact, threads):
            raise NotImplementedError

    assert "null" in backend_names()
    with pytest.raises(ValueError, match="already registered"):
        register_backend(type("Other", (Null,), {"name": "null"}))
