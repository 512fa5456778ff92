import optuna
import pytest

from workbench import ConfigError
from workbench._schema import Reader
from workbench.arch import ArchSpec, Dense, InvertedResidual
from workbench.study import Task, compile_space


def _specs(space_dict, task, n=25, seed=0):
    space = compile_space(Reader(space_dict, field="space"), task)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs = []
    for _ in range(n):
        t = study.ask()
        specs.append(space(t))
        study.tell(t, 0.0)
    return specs, study


@pytest.mark.parametrize(
    ("space", "task"),
    [
        (
            {
                "family": "mlp",
                "layers": {"min": 1, "max": 3},
                "units": [8, 16],
                "dropout": {"min": 0.0, "max": 0.5},
            },
            Task((64,), 10),
        ),
        (
            {
                "family": "mobilenet",
                "stages": 3,
                "depth": {"min": 0, "max": 2},
                "width": [8, 16],
                "kernel": [3, 5],
                "expansion": [1, 6],
                "stride": [1, 2],
                "last_channels": [0, 32],
            },
            Task((1, 8, 8), 10),
        ),
        (
            {
                "family": "resnet",
                "block": ["basic", "bottleneck"],
                "stages": 3,
                "depth": {"min": 1, "max": 2},
                "width": [16, 32],
                "stem_pool": [True, False],
            },
            Task((3, 16, 16), 5),
        ),
    ],
    ids=["mlp", "mobilenet", "resnet"],
)
def test_yaml_families_produce_valid_specs_with_a_static_space(space, task):
    specs, study = _specs(space, task)
    assert all(
        isinstance(s, ArchSpec)
        and s.input_shape == task.input_shape
        and s.num_classes == task.num_classes
        for s in specs
    )
    assert len({s.hash for s in specs}) > 5  # the space is really searched
    # every trial samples the same parameters (NSGA-II's crossover needs a static space)
    names = {frozenset(t.params) for t in study.trials}
    assert len(names) == 1


def test_fixed_values_are_not_searched():
    specs, study = _specs({"family": "mlp", "layers": 2, "units": 32}, Task((4,), 3), n=3)
    assert all(len(s.blocks) == 2 and all(b.units == 32 for b in s.blocks) for s in specs)
    assert "layers" not in study.trials[0].params


def test_depth_zero_stages_are_dropped_but_first_stage_kept():
    specs, _ = _specs(
        {
            "family": "mobilenet",
            "stages": 2,
            "depth": 0,
            "width": 8,
            "kernel": 3,
            "expansion": 1,
            "stride": 1,
        },
        Task((1, 8, 8), 10),
        n=2,
    )
    assert sum(isinstance(b, InvertedResidual) for b in specs[0].blocks) == 1


def test_callable_spaces(tmp_path, monkeypatch):
    (tmp_path / "myspaces.py").write_text(
        "from workbench.arch import ArchSpec, Dense\n"
        "def one_arg(trial):\n    return ArchSpec((4,), 3, (Dense(trial.suggest_int('u', 2, "
        "8)),))\n"
        "def two_args(trial, task):\n    return ArchSpec(task.input_shape, task.num_classes, "
        "(Dense(4),))\n"
        "def wrong(trial):\n    return 'not a spec'\n"
    )
    monkeypatch.chdir(tmp_path)
    specs, _ = _specs({"callable": "myspaces:one_arg"}, Task((4,), 3), n=3)
    assert all(isinstance(s.blocks[0], Dense) for s in specs)
    specs, _ = _specs({"callable": "myspaces:two_args"}, Task((7,), 5), n=1)
    assert specs[0].input_shape == (7,) and specs[0].num_classes == 5
    with pytest.raises(ConfigError, match="returned str, expected an ArchSpec"):
        _specs({"callable": "myspaces:wrong"}, Task((4,), 3), n=1)
    with pytest.raises(ConfigError, match="space.callable: expected 'package.module:function'"):
        compile_space(Reader({"callable": "just_a_name"}, field="space"), Task((4,), 3))


def test_a_callable_space_checked_by_form_imports_its_module_only_when_called(
    tmp_path, monkeypatch
):
    import sys

    marker = tmp_path / "imported.txt"
    (tmp_path / "lazyspace.py").write_text(
        "from pathlib import Path\n"
        "from workbench.arch import ArchSpec, Dense\n"
        f"Path({str(marker)!r}).write_text('imported')\n"
        "def space(trial):\n    return ArchSpec((4,), 3, (Dense(4),))\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "lazyspace", raising=False)
    reader = Reader({"callable": "lazyspace:space"}, field="space")
    space = compile_space(reader, Task((4,), 3), import_code=False)
    assert not marker.exists() and "lazyspace" not in sys.modules
    study = optuna.create_study()
    assert isinstance(space(study.ask()), ArchSpec) and marker.exists()
    for bad in ("os.system('x'):y", "a-b:c", "mod:attr.sub", "mod:", ":f", "mod: f"):
        with pytest.raises(ConfigError, match="expected 'package.module:function'"):
            compile_space(
                Reader({"callable": bad}, field="space"), Task((4,), 3), import_code=False
            )
