"""The server's profile listing is workbench.hw's profile search, rooted at the server's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench._errors import UnknownNameError
from workbench.hw import find_profile, list_profiles, profile_dirs, profile_files
from workbench.server._views import list_profiles as server_profiles

BOARD = (
    "name: my-board\nkind: simulated\ndevice: cpu\nthreads: 4\nprecisions: [fp32]\n"
    "cores: {value: 4, source: datasheet}\npeak_gops: {fp32: {value: 20, source: datasheet}}\n"
    "memory_bandwidth_gbs: {value: 4, source: datasheet}\n"
)


def test_server_lists_what_hw_finds_under_its_root(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_PROFILE_PATH", raising=False)
    monkeypatch.chdir(tmp_path)  # the working directory has no hwprofiles/ of its own
    root = tmp_path / "root"
    (root / "hwprofiles").mkdir(parents=True)
    (root / "hwprofiles" / "my-board.yaml").write_text(BOARD)
    assert (root / "hwprofiles") in profile_dirs(root)
    assert (root / "hwprofiles") not in profile_dirs()
    assert profile_files(root)["my-board"] == root / "hwprofiles" / "my-board.yaml"
    assert find_profile("my-board", root=root) == root / "hwprofiles" / "my-board.yaml"
    with pytest.raises(UnknownNameError, match="unknown hardware profile 'my-board'"):
        find_profile("my-board")
    listed = server_profiles(root)
    assert listed["errors"] == []
    assert [p["name"] for p in listed["profiles"]] == [p.name for p in list_profiles(root)]
    by_name = {p["name"]: p for p in listed["profiles"]}
    assert by_name["my-board"]["file"] == "hwprofiles/my-board.yaml"
    assert all(p["file"] == "(built in)" for n, p in by_name.items() if n != "my-board")
