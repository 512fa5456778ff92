import pytest

from workbench import ConfigError, UnknownNameError
from workbench.hw import HardwareProfile, host_info, list_profiles, load_profile


def test_host_profile_loads_and_resolves_threads():
    p = load_profile("host-cpu")
    assert p.measured and p.device == "cpu"
    assert p.resolved_threads() == host_info().available_cpus
    assert "onnxruntime" in p.backends and "int8-static" in p.precisions
    assert HardwareProfile.from_dict(p.to_dict()).to_dict() == p.to_dict()


def test_host_fingerprint_reads_the_cpu():
    h = host_info()
    assert h.cpu_model and h.logical_cpus >= 1
    with open("/proc/cpuinfo") as f:
        flags = f.read()
    assert ("avx2" in h.isa_flags) == (" avx2" in flags)
    assert h.has_vnni == any(f in flags for f in ("avx512_vnni", "avx_vnni"))
    assert "onnxruntime" in h.versions


def test_the_last_level_cache_is_the_largest_data_cache_sysfs_lists(tmp_path):
    from workbench._host import last_level_cache_bytes

    for i, (kind, size) in enumerate(
        (("Data", "32K"), ("Instruction", "64M"), ("Unified", "1024K"), ("Unified", "16384K"))
    ):
        (tmp_path / f"index{i}").mkdir()
        (tmp_path / f"index{i}" / "type").write_text(kind + "\n")
        (tmp_path / f"index{i}" / "size").write_text(size + "\n")
    assert (
        last_level_cache_bytes(str(tmp_path)) == 16 * 2**20
    )  # the instruction cache does not count
    assert (
        last_level_cache_bytes(str(tmp_path / "missing")) == 32 * 2**20
    )  # the default where sysfs says nothing
    (tmp_path / "index3" / "size").write_text("96M\n")
    assert (
        last_level_cache_bytes(str(tmp_path) + "/") == 96 * 2**20
    )  # (a fresh path: the reading is cached per path)
    assert last_level_cache_bytes() >= 2**20


def _write(tmp_path, text, name="mine.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_user_profiles_are_found_and_validated(tmp_path, monkeypatch):
    _write(
        tmp_path,
        "kind: measured\nthreads: 1\nbackends: [onnxruntime]\nprecisions: [fp32]\n"
        "memory_bandwidth_gbs: {value: 12.5, source: datasheet}\n",
        name="laptop.yaml",
    )
    monkeypatch.setenv("WORKBENCH_PROFILE_PATH", str(tmp_path))
    p = load_profile("laptop")
    assert p.name == "laptop" and p.threads == 1
    assert (
        p.memory_bandwidth_gbs.value == 12.5 and p.sources()["memory_bandwidth_gbs"] == "datasheet"
    )
    assert "laptop" in [q.name for q in list_profiles()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: measured\ncolour: red\n", "mine.yaml:2: colour: unknown key"),
        (
            "kind: guessed\n",
            "mine.yaml:1: kind: expected one of measured, simulated, got 'guessed'",
        ),
        (
            "kind: measured\nthreads: 0\n",
            "mine.yaml:2: threads: expected 'auto' or an integer in [1, 1024], got 0",
        ),
        (
            "kind: measured\nbackends: [tensorrt]\n",
            "mine.yaml:2: backends[0]: expected a backend name",
        ),
        (
            "kind: measured\nprecisions: [int3]\n",
            "mine.yaml:2: precisions[0]: expected one of fp32",
        ),
        (
            "kind: simulated\nram_mb: -4\n",
            "mine.yaml:2: ram_mb: expected a positive number or {value: number, source: text}",
        ),
        (
            "kind: measured\nbackends: [torch]\ndeploy: {backend: onnxruntime, precision: fp32, "
            "format: onnx}\n",
            "deploy: backend 'onnxruntime' is not in this profile's backends",
        ),
        ("name: x\n", "mine.yaml: kind: missing"),
    ],
)
def test_bad_profiles_fail_with_one_line(tmp_path, text, expected):
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(str(p).replace(str(tmp_path), str(tmp_path)))
    msg = str(info.value)
    assert expected.split(": ", 1)[1] in msg, msg
    assert "\n" not in msg


def test_unknown_profile_lists_known():
    with pytest.raises(UnknownNameError) as info:
        load_profile("raspberry-pi-9")
    assert "host-cpu" in str(info.value)
