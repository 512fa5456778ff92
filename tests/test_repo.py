"""The repository's promises: layout, README commands, CI script."""

import json
import re
import subprocess

from tests.conftest import REPO


def _bash_blocks():
    return re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_readme_opens_with_the_two_commands():
    text = (REPO / "README.md").read_text()
    first_blocks = re.findall(r"```(\w*)\n(.*?)```", text, re.S)[:2]
    assert [lang for lang, _ in first_blocks] == ["bash", "bash"]
    run_cmd, test_cmd = (body.strip() for _, body in first_blocks)
    assert "\n" not in run_cmd and "\n" not in test_cmd
    assert "torch==2.13.0" in run_cmd and run_cmd.endswith("workbench run search/quickstart.yaml")
    assert "torch==2.13.0" in test_cmd and "pytest" in test_cmd
    # nothing but the title comes before the two commands
    head = text.split("```", 1)[0].strip()
    assert head.startswith("# ") and "\n" not in head


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "blocks[1]" in ci and 'bash -c "$TEST_CMD"' in ci
    assert '"$rc" -eq 5' in ci
    out = subprocess.run(["bash", "-n", str(REPO / ".ci" / "run")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_layout():
    for d in (
        "workbench",
        "notebooks",
        "search",
        "hwprofiles",
        "extensions",
        "tests",
        "benchmarks",
    ):
        assert (REPO / d).is_dir(), d
    assert (REPO / "search" / "quickstart.yaml").exists()
    assert (REPO / "hwprofiles" / "host-cpu.yaml").exists()
    assert (REPO / "workbench" / "py.typed").exists()


def test_ci_runs_the_lint_and_type_gates_before_the_tests():
    ci = (REPO / ".ci" / "run").read_text()
    gates = (
        "ruff check .",
        "ruff format --check .",
        "\nmypy\n",
        "jlpm install --immutable",
        "jlpm lint:check",
    )
    where = [ci.find(g) for g in gates]
    assert all(i > 0 for i in where), dict(zip(gates, where))
    assert max(where) < ci.index('bash -c "$TEST_CMD"')
    assert "set -euo pipefail" in ci and ". .venv/bin/activate" in ci


def test_the_gates_tools_are_pinned_and_the_extension_has_its_lint_scripts():
    pyproject = (REPO / "pyproject.toml").read_text()
    lint = re.search(r"^lint = \[(.*)\]$", pyproject, re.M)
    assert lint and re.search(r'"ruff==[\d.]+"', lint[1]) and re.search(r'"mypy==[\d.]+"', lint[1])
    assert re.search(r'^dev = \["workbench-nas\[[a-z,]*lint[a-z,]*\]"', pyproject, re.M)
    ext = REPO / "extensions" / "jupyterlab-workbench"
    scripts = json.loads((ext / "package.json").read_text())["scripts"]
    assert "eslint" in scripts["eslint:check"] and "--check" in scripts["prettier:check"]
    assert {"lint", "lint:check"} <= set(scripts)
    assert (ext / "yarn.lock").exists() and (ext / "eslint.config.mjs").exists()
