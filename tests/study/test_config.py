"""A study config is validated completely before anything runs; errors are one line."""

import pytest
import yaml

from tests.conftest import REPO, tiny_config_dict
from workbench import ConfigError
from workbench.study import load_config


def _write(tmp_path, data, name="study.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return p


def test_shipped_configs_validate():
    for path in sorted((REPO / "search").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.deployments and cfg.hardware


def test_quickstart_defaults():
    cfg = load_config(REPO / "search" / "quickstart.yaml")
    assert cfg.name == "quickstart" and cfg.sampler == "nsga2"
    assert [d.name for d in cfg.deployments] == [
        "torch-fp32",
        "onnxruntime-fp32",
        "onnxruntime-int8-dynamic",
        "onnxruntime-int8-static",
    ]
    assert cfg.directions() == ["maximize", "minimize"]
    assert cfg.storage_url() == "sqlite:///runs/workbench.db"


def test_overrides_are_yaml_values(tmp_path):
    p = _write(tmp_path, tiny_config_dict())
    cfg = load_config(
        p,
        overrides=[
            "train.epochs=7",
            "study.sampler=tpe",
            "measure.max_time_s=0.5",
            "hardware=[host-cpu]",
        ],
    )
    assert cfg.train.epochs == 7 and cfg.sampler == "tpe" and cfg.measure.max_time_s == 0.5
    with pytest.raises(ConfigError, match="--set expects key=value"):
        load_config(p, overrides=["train.epochs"])


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["train"].update(epochs="three"),
            "study.yaml:{line}: train.epochs: expected an integer in [1, 10000], got 'three'",
        ),
        (lambda c: c.update(trian={"epochs": 1}), "trian: unknown key; expected one of:"),
        (
            lambda c: c.update(hardware=["raspberry-pi-9"]),
            "hardware[0]: unknown hardware profile 'raspberry-pi-9'; known: ",
        ),
        (
            lambda c: c.update(deployments=["tensorrt-fp16"]),
            "deployments[0]: expected <backend>-<precision> with a known backend",
        ),
        (
            lambda c: c.update(deployments=["torch-int8-static"]),
            "deployments[0]: backend 'torch' does not support precision 'int8-static'; "
            "it supports: fp32",
        ),
        (
            lambda c: c.update(
                deployments=[
                    {
                        "backend": "onnxruntime",
                        "precision": "int8-static",
                        "options": {"calibrate_method": "vibes"},
                    }
                ]
            ),
            "deployments[0]: calibrate_method must be one of",
        ),
        (
            lambda c: c["study"].update(sampler="cmaes"),
            "study.sampler: expected one of nsga2, tpe, random, got 'cmaes'",
        ),
        (
            lambda c: c["study"].update(objectives=["latency", "size"]),
            "study.objectives: objectives must include accuracy",
        ),
        (
            lambda c: c["study"].update(objective_deployment="torch-fp16"),
            "study.objective_deployment: expected 'fastest' or one of the deployments",
        ),
        (
            lambda c: c["space"].update(family="transformer"),
            "space.family: expected one of mlp, mobilenet, resnet",
        ),
        (
            lambda c: c["space"].update(units=[16, "wide"]),
            "space.units: expected integers, got 'wide'",
        ),
        (
            lambda c: c["space"].update(layers={"min": 3, "max": 1}),
            "space.layers: min (3) is greater than max (1)",
        ),
        (
            lambda c: c.update(
                space={"family": "mobilenet"}, data={"source": "synthetic", "shape": [16]}
            ),
            "space.family: the mobilenet family needs image input",
        ),
        (
            lambda c: c.update(space={"callable": "no_such_module:space"}),
            "space.callable: cannot import 'no_such_module:space'",
        ),
        (lambda c: c.update(framework="jax"), "framework: expected one of torch"),
        (lambda c: c["data"].update(source="npz", path="missing.npz"), "data: "),
        (
            lambda c: c.update(measure={"block": 0}),
            "measure.block: expected an integer in [1, 10000], got 0",
        ),
    ],
)
def test_bad_configs_fail_with_one_line(tmp_path, mutate, expected):
    cfg = tiny_config_dict()
    mutate(cfg)
    p = _write(tmp_path, cfg)
    with pytest.raises(ConfigError) as info:
        load_config(p, display="study.yaml")
    msg = str(info.value)
    assert "\n" not in msg
    if "{line}" in expected:
        line = next(
            i
            for i, t in enumerate(p.read_text().splitlines(), 1)
            if t.strip().startswith("epochs:")
        )
        expected = expected.format(line=line)
        assert msg == expected
    else:
        assert expected in msg, msg
    assert msg.startswith("study.yaml"), msg


def test_malformed_yaml_names_the_line(tmp_path):
    p = _write(tmp_path, "study:\n  name: x\n  trials: [3\ntrain: {}\n")
    with pytest.raises(ConfigError, match=r"^study.yaml:\d+: malformed YAML"):
        load_config(p, display="study.yaml")


def test_unknown_backend_in_a_profile_is_refused_by_the_config(tmp_path, monkeypatch):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tiny.yaml").write_text(
        "kind: measured\nbackends: [onnxruntime]\nprecisions: [fp32]\n"
    )
    monkeypatch.setenv("WORKBENCH_PROFILE_PATH", str(tmp_path / "profiles"))
    cfg = tiny_config_dict(hardware=["tiny"])
    p = _write(tmp_path, cfg)
    with pytest.raises(
        ConfigError, match="profile 'tiny' does not list backend 'torch'; it lists: onnxruntime"
    ):
        load_config(p)


def test_the_check_section_names_the_gates_thresholds_and_timing(tmp_path):
    cfg = load_config(
        _write(tmp_path, {**tiny_config_dict(), "check": {"fail": "latency:+3%", "time_s": 2}})
    )
    assert (cfg.check_fail, cfg.check_time_s) == ("latency:+3%", 2.0)
    plain = load_config(_write(tmp_path, tiny_config_dict(), "plain.yaml"))
    assert (plain.check_fail, plain.check_time_s) == (None, None)
    assert plain.search_fingerprint() == cfg.search_fingerprint()  # a resume is not refused
    for section, field, message in (
        ({"fail": "latency:5ms"}, "check.fail", "expected METRIC"),
        ({"fail": "speed:+5%"}, "check.fail", "unknown metric"),
        ({"time_s": 0}, "check.time_s", r"expected a number in \(0"),
        ({"gate": 1}, "check.gate", "unknown key"),
    ):
        with pytest.raises(ConfigError, match=message) as err:
            load_config(_write(tmp_path, {**tiny_config_dict(), "check": section}, "bad.yaml"))
        assert err.value.field == field and "\n" not in str(err.value)
