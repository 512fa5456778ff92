"""Hostile configs and profiles: every one is refused with a one-line ConfigError (the CLI's
exit 2), never a traceback.

The corpus: hand-made bombs (recursive and exponential aliases, deep nesting, binary, non-UTF-8,
huge files, duplicate keys) plus seeded mutations of every shipped config and profile (values
swapped for wrong types, keys renamed or dropped, lines cut, bytes flipped). A mutation may
still be a valid file; then it must load.
"""

from __future__ import annotations

import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from workbench import ConfigError
from workbench._schema import MAX_YAML_BYTES, MAX_YAML_DEPTH
from workbench.hw import load_profile
from workbench.study import load_config

BOMBS: dict[str, bytes] = {
    "recursive_alias.yaml": b"a: &a [*a]\n",
    "recursive_mapping.yaml": b"study: &s {inner: *s}\n",
    "laughs.yaml": b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n".encode()
        for p, c in zip("abcdefgh", "bcdefghi")
    ),
    "deep_lists.yaml": b"a: " + b"[" * 500 + b"]" * 500 + b"\n",
    "deep_maps.yaml": b"".join(b"  " * i + f"k{i}:\n".encode() for i in range(200)) + b"x\n",
    "binary.yaml": bytes(range(256)) * 4,
    "latin1.yaml": "study: {name: caf\xe9}\n".encode("latin-1"),
    "huge.yaml": b"a: " + b"x" * (MAX_YAML_BYTES + 10) + b"\n",
    "duplicate_keys.yaml": b"schema: 1\nstudy: {name: a}\nstudy: {name: b}\n",
    "tabs.yaml": b"schema: 1\nstudy:\n\tname: x\n",
    "a_list.yaml": b"- 1\n- 2\n",
    "empty.yaml": b"",
    "not_yaml.yaml": b"{{{{ ::: ]]\n",
    "nul.yaml": b"schema: 1\x00\n",
    "negative.yaml": b"schema: 1\nstudy: {name: n, trials: -5}\n",
    "huge_number.yaml": b"schema: 1\nstudy: {name: n, trials: 1e400}\n",
}
SHIPPED_CONFIGS = sorted((REPO / "search").glob("*.yaml"))
SHIPPED_PROFILES = sorted((REPO / "hwprofiles").glob("*.yaml"))
WRONG_VALUES = [None, -1, 0, 1e308, "x" * 300, [], {}, [1, [2]], True, "", "1;rm", {"a": None}]


def _one_line_refusal(load, path: Path) -> None:
    try:
        load(path)
    except ConfigError as err:
        text = str(err)
        assert text and "\n" not in text and "Traceback" not in text, text
    # a mutation that is still valid loads; any other exception fails the test


def _mutations(text: str, seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    data = yaml.safe_load(text)
    out = []

    def leaves(d, path=()):
        if isinstance(d, dict):
            for k, v in d.items():
                yield from leaves(v, (*path, k))
        elif isinstance(d, list):
            for i, v in enumerate(d):
                yield from leaves(v, (*path, i))
        yield path

    paths = [p for p in leaves(data) if p]
    for _ in range(n):
        kind = rng.randrange(5)
        if kind <= 1 and paths:  # a value of the wrong type or range
            doc = yaml.safe_load(text)
            *head, last = rng.choice(paths)
            node = doc
            for k in head:
                node = node[k]
            node[last] = rng.choice(WRONG_VALUES)
            out.append(yaml.safe_dump(doc))
        elif kind == 2 and paths:  # a key renamed (unknown) or dropped (missing)
            doc = yaml.safe_load(text)
            *head, last = rng.choice(paths)
            node = doc
            for k in head:
                node = node[k]
            if isinstance(node, dict):
                value = node.pop(last)
                if rng.random() < 0.5:
                    node[f"{last}_typo"] = value
            out.append(yaml.safe_dump(doc))
        elif kind == 3:  # cut at a random line
            lines = text.splitlines(keepends=True)
            out.append("".join(lines[: rng.randrange(len(lines) + 1)]))
        else:  # a character flipped
            i = rng.randrange(len(text))
            out.append(text[:i] + rng.choice(":[]{}&*!|>-#'\"\t ") + text[i + 1 :])
    return out


def _corpus(tmp_path: Path) -> list[tuple[str, Path]]:
    items = []
    for name, raw in BOMBS.items():
        (tmp_path / name).write_bytes(raw)
        items.append(("config", tmp_path / name))
        items.append(("profile", tmp_path / name))
    for src in SHIPPED_CONFIGS + SHIPPED_PROFILES:
        kind = "config" if src.parent.name == "search" else "profile"
        for i, text in enumerate(
            _mutations(src.read_text(), seed=zlib.crc32(src.name.encode()), n=10)
        ):
            path = tmp_path / f"{src.stem}.m{i}.yaml"
            path.write_text(text)
            items.append((kind, path))
    return items


def test_at_least_100_hostile_inputs_each_refused_in_one_line_or_loaded(tmp_path):
    corpus = _corpus(tmp_path)
    assert len(corpus) >= 100
    for kind, path in corpus:
        _one_line_refusal(load_config if kind == "config" else load_profile, path)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("recursive_alias.yaml", "recursive alias"),
        ("recursive_mapping.yaml", "recursive alias"),
        ("laughs.yaml", "once its aliases are expanded"),
        ("deep_lists.yaml", f"nested more than {MAX_YAML_DEPTH} levels"),
        ("deep_maps.yaml", f"nested more than {MAX_YAML_DEPTH} levels"),
        ("binary.yaml", "NUL bytes"),
        ("latin1.yaml", "not UTF-8"),
        ("huge.yaml", "too large"),
        ("duplicate_keys.yaml", "duplicate key 'study' (also on line 2)"),
    ],
)
def test_each_bomb_says_what_it_is(tmp_path, name, words):
    path = tmp_path / name
    path.write_bytes(BOMBS[name])
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert words in str(err.value) and str(err.value).startswith(str(path))


def test_the_cli_exits_2_with_one_line_on_bombs(tmp_path):
    for name in ("recursive_alias.yaml", "deep_lists.yaml", "laughs.yaml", "binary.yaml"):
        (tmp_path / name).write_bytes(BOMBS[name])
        r = subprocess.run(
            [sys.executable, "-m", "workbench.cli", "run", name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr


def test_set_overrides_refuse_a_bomb_and_keep_malformed_text_as_a_string(tmp_path):
    from tests.conftest import tiny_config_dict

    with pytest.raises(ConfigError, match="recursive alias"):
        load_config(tiny_config_dict(), overrides=["study.name=&a [*a]"])
    cfg = load_config(tiny_config_dict(), overrides=["study.name=a: b: c"])
    assert cfg.name == "a: b: c"
