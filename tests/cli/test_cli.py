"""The CLI as users run it: a real subprocess, real exit codes, real SIGINT."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests._runs import endless_study, killable_point, trials_so_far, wb, write_cfg
from tests.conftest import REPO

pytestmark = [pytest.mark.torch, pytest.mark.onnxruntime]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "study: {name: x}\ntrain:\n  epochs: three\nspace: {family: mlp}\n",
            "bad.yaml:3: train.epochs: expected an integer",
        ),
        (
            "study: {name: x}\nspace: {family: mlp}\nhardware: [raspberry-pi-9]\n",
            "bad.yaml:3: hardware[0]: unknown hardware profile",
        ),
        (
            "study: {name: x}\nspace: {family: mlp}\ndeployments: [tensorrt-fp16]\n",
            "bad.yaml:3: deployments[0]:",
        ),
        (
            "study: {name: x}\nspace: {family: mlp}\nsurprise: 1\n",
            "bad.yaml:3: surprise: unknown key",
        ),
        ("study: [unclosed\n", "bad.yaml:2: malformed YAML"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, content, expected):
    (tmp_path / "bad.yaml").write_text(content)
    r = wb("run", "bad.yaml", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], r.stderr
    assert not (tmp_path / "runs").exists()  # nothing created for a rejected config


def test_missing_file_and_bad_arguments_exit_2(tmp_path):
    r = wb("run", "nope.yaml", cwd=tmp_path)
    assert (
        r.returncode == 2
        and "nope.yaml: file not found" in r.stderr
        and "Traceback" not in r.stderr
    )
    r = wb("run", "nope.yaml", "--trials", "zero", cwd=tmp_path)
    assert r.returncode == 2 and "invalid int value" in r.stderr
    r = wb("frobnicate", cwd=tmp_path)
    assert r.returncode == 2


@pytest.mark.slow
def test_run_show_and_studies(tmp_path):
    write_cfg(tmp_path / "tiny.yaml")
    r = wb("run", "tiny.yaml", "--set", "study.trials=1", "--no-memory", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Pareto front" in r.stdout and "report:   runs/tiny/report.html" in r.stdout
    assert "trial 0 complete" in r.stderr  # progress lines in a non-terminal
    assert (tmp_path / "runs" / "tiny" / "report.html").exists()
    s = wb("show", "tiny", cwd=tmp_path)
    assert s.returncode == 0 and "host-cpu/torch/onnxruntime-fp32" in s.stdout
    j = wb("show", "tiny", "--json", cwd=tmp_path)
    assert json.loads(j.stdout)["n_complete"] == 1
    ls = wb("studies", cwd=tmp_path)
    assert "tiny" in ls.stdout and "latency_p50_ms" in ls.stdout
    row = next(line for line in ls.stdout.splitlines() if line.startswith("tiny"))
    assert row.split()[1:3] == ["1", "finished"]  # trials and the library's status rule
    unknown = wb("show", "nosuch", cwd=tmp_path)
    assert unknown.returncode == 2 and "known: tiny" in unknown.stderr
    # --storage and --out move everything
    r2 = wb(
        "run",
        "tiny.yaml",
        "--trials",
        "1",
        "--no-memory",
        "--out",
        "elsewhere",
        "--storage",
        "sqlite:///other.db",
        "--quiet",
        cwd=tmp_path,
    )
    assert r2.returncode == 0, r2.stderr
    assert (tmp_path / "other.db").exists() and (
        tmp_path / "elsewhere" / "tiny" / "results.json"
    ).exists()


def test_profiles_commands(tmp_path):
    r = wb("profiles", cwd=REPO)
    assert r.returncode == 0 and "host-cpu" in r.stdout and "measured" in r.stdout
    s = wb("profiles", "show", "host-cpu", cwd=REPO)
    assert s.returncode == 0 and "this host:" in s.stdout and "threads: intra-op auto" in s.stdout
    u = wb("profiles", "show", "nosuch", cwd=REPO)
    assert u.returncode == 2 and "known: " in u.stderr


def _start_endless_run(tmp_path, *, capture: bool):
    """``workbench run`` of a budget it cannot finish before the test interrupts it, however
    slow the test's polling is; in its own session, so a signal reaches the whole group."""
    cfg = write_cfg(tmp_path / "tiny.yaml", study=endless_study())
    # not captured: the output goes to run.log (a pipe nobody reads could fill and block the run)
    out = subprocess.PIPE if capture else (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", str(cfg), "--no-memory"],
        cwd=tmp_path,
        stdout=out,
        stderr=out,
        text=True,
        start_new_session=True,
    )
    return cfg, proc


@pytest.mark.slow
def test_sigint_keeps_finished_trials_and_the_same_command_resumes(tmp_path):
    cfg, proc = _start_endless_run(tmp_path, capture=True)
    import optuna

    db = tmp_path / "runs" / "workbench.db"
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and done < 2:
        time.sleep(0.5)
        done = sum(t.state.name == "COMPLETE" for t in trials_so_far(db))
    if done < 2:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"no trial finished in time (exit {proc.returncode})\n{out[-2000:]}\n{err[-2000:]}"
        )
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-2000:] + err
    assert "run the same command to resume" in err
    assert "stopping: the current trial ends at its next step" in err  # one Ctrl-C stops gracefully
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    complete = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert len(complete) >= 2
    others = [t for t in study.get_trials() if t.state.name != "COMPLETE"]
    assert all(
        t.state.name == "FAIL" and t.user_attrs.get("status") == "interrupted" for t in others
    )
    # the same command with a smaller budget resumes and finishes cleanly
    total = len(complete) + 1
    r = wb("run", str(cfg), "--no-memory", "--trials", str(total), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    assert sum(t.state.name == "COMPLETE" for t in study.get_trials()) == total


@pytest.mark.slow
def test_bench_an_onnx_file_and_a_python_module(tmp_path):
    import torch

    from workbench.arch import build_torch, mlp

    model = build_torch(mlp((1, 8, 8), 10, (32,)), seed=0).eval()
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, 8, 8),),
        str(tmp_path / "m.onnx"),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "b"}},
    )
    r = wb("bench", "m.onnx", "--data", "digits", "--no-memory", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (
        "onnxruntime-int8-static" in r.stdout
        and "ratio" in r.stdout
        and "latency measured" in r.stdout
    )
    assert (tmp_path / "runs" / "bench" / "m" / "report.html").exists()
    (tmp_path / "net.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()\n"
    )
    j = wb(
        "bench",
        "net.py:make",
        "--input-shape",
        "1,8,8",
        "--json",
        "--no-memory",
        "--deploy",
        "torch-fp32",
        "--deploy",
        "onnxruntime-fp32",
        cwd=tmp_path,
    )
    assert j.returncode == 0, j.stderr
    data = json.loads(j.stdout)
    assert [m["deployment"] for m in data["measurements"]] == ["torch-fp32", "onnxruntime-fp32"]
    assert all(
        m["status"] == "ok" and m["latency"]["n"] > 0 and m["accuracy"] is None
        for m in data["measurements"]
    )
    bad = wb("bench", "m.onnx", "--deploy", "torch-fp32", cwd=tmp_path)
    assert bad.returncode == 2 and "cannot deploy onnx models" in bad.stderr


@pytest.mark.slow
def test_sigkill_mid_trial_keeps_finished_trials_and_the_resume_fails_the_killed_one(tmp_path):
    """kill -9 gives the run no chance to record anything: the trial it was running stays
    RUNNING in the database. The resumed run sees that trial's process is dead on this machine
    and fails it at once (not after the heartbeat's grace period), keeps every finished trial,
    and runs the killed trial's share of the budget again."""
    import optuna

    cfg, proc = _start_endless_run(tmp_path, capture=False)
    db = f"sqlite:///{tmp_path / 'runs' / 'workbench.db'}"
    deadline = time.time() + 240
    states: list[str] = []
    while time.time() < deadline:  # two trials finished, a third running and its worker noted
        time.sleep(0.3)
        trials = trials_so_far(tmp_path / "runs" / "workbench.db")
        states = [t.state.name for t in trials]
        if killable_point(trials):
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    log = (tmp_path / "run.log").read_text()[-3000:]
    assert states.count("COMPLETE") >= 2, f"the run did not get that far in time: {states}\n{log}"
    study = optuna.load_study(study_name="tiny", storage=db)
    complete = {t.number for t in study.get_trials() if t.state.name == "COMPLETE"}
    running = [t.number for t in study.get_trials() if t.state.name == "RUNNING"]
    assert len(complete) >= 2 and running, [t.state.name for t in study.get_trials()]

    total = len(complete) + 1
    r = wb("run", str(cfg), "--no-memory", "--trials", str(total), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "their worker died; failed, and run again" in r.stderr
    study = optuna.load_study(study_name="tiny", storage=db)
    by_number = {t.number: t for t in study.get_trials()}
    assert complete <= {n for n, t in by_number.items() if t.state.name == "COMPLETE"}
    for n in running:  # failed, said why, and not counted against the budget
        t = by_number[n]
        assert t.state.name == "FAIL" and t.user_attrs["status"] == "crashed"
        assert "died before it finished" in t.user_attrs["crash"]
    assert not [t for t in by_number.values() if t.state.name == "RUNNING"]
    assert sum(t.state.name == "COMPLETE" for t in by_number.values()) == total
