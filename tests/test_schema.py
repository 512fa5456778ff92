"""Config errors are one line naming file, line, field and what was expected."""

import pytest

from workbench import ConfigError
from workbench._schema import Float, Int, ListOf, Reader, load_yaml


def test_yaml_errors_name_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("study:\n  name: x\n  trials: [1, 2\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(p, display="bad.yaml")
    msg = str(info.value)
    assert msg.startswith("bad.yaml:") and "malformed YAML" in msg
    assert "\n" not in msg


def test_reader_reports_line_of_the_field(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  epochs: three\n  lr: 0.1\n")
    data, smap = load_yaml(p, display="c.yaml")
    r = Reader(data["train"], field="train", source=smap)
    with pytest.raises(ConfigError) as info:
        r.get("epochs", Int(min=1))
    assert str(info.value) == "c.yaml:2: train.epochs: expected an integer >= 1, got 'three'"


def test_unknown_keys_list_the_known_ones():
    r = Reader({"epochs": 1, "epoch": 2}, field="train")
    r.get("epochs", Int())
    r.get("lr", Float(), 0.1)
    with pytest.raises(ConfigError, match=r"train.epoch: unknown key; expected one of: epochs, lr"):
        r.finish()


def test_list_items_are_checked_with_their_index():
    r = Reader({"shape": [1, 0, 3]}, field="data")
    with pytest.raises(ConfigError, match=r"data.shape\[1\]: expected an integer >= 1, got 0"):
        r.get("shape", ListOf(Int(min=1)))


def test_missing_and_wrong_section_types():
    with pytest.raises(ConfigError, match="train: expected a mapping, got 5"):
        Reader(5, field="train")
    with pytest.raises(ConfigError, match="study.name: missing; expected a non-empty string"):
        from workbench._schema import Str

        Reader({}, field="study").get("name", Str())
    assert Int()(3.0) == 3
    with pytest.raises(ConfigError):
        Int()(True)
