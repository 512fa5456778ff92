"""Study configs: one YAML file says what to search, how to train, where to run, how to measure.

Validation happens up front and completely — unknown keys, wrong types, unknown profiles,
backends a profile or framework cannot serve — so a study never fails on its config halfway.
Overrides (``--set train.epochs=2``) are applied to the YAML before validation and parsed as
YAML values.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from workbench._errors import ConfigError, UnknownNameError, WorkbenchError
from workbench._imports import is_available
from workbench._schema import (
    Bool,
    Choice,
    Float,
    Int,
    ListOf,
    Optional,
    Reader,
    SourceMap,
    Str,
    load_yaml,
    parse_yaml,
)
from workbench._thresholds import Thresholds
from workbench.backends import Deployment, get_backend
from workbench.bench import MeasureSettings
from workbench.data import DataConfig
from workbench.hw import HardwareProfile, load_profile
from workbench.train import TrainConfig

if TYPE_CHECKING:
    from workbench.study._constraints import Budget

__all__ = ["OBJECTIVES", "SAMPLERS", "StudyConfig", "apply_overrides", "load_config"]

SCHEMA_VERSION = 1
SAMPLERS = ("nsga2", "tpe", "random")
OBJECTIVES = ("accuracy", "latency", "size", "memory")
FRAMEWORKS = ("torch", "keras")
#: modules a framework needs to build and train models, and the extra that installs them
FRAMEWORK_REQUIRES = {"torch": (("torch",), "torch"), "keras": (("tensorflow", "keras"), "keras")}
DEFAULT_DEPLOYMENTS = (
    "torch-fp32",
    "onnxruntime-fp32",
    "onnxruntime-int8-dynamic",
    "onnxruntime-int8-static",
)
#: deployments a study gets when its config names none, per framework
FRAMEWORK_DEFAULT_DEPLOYMENTS = {
    "torch": DEFAULT_DEPLOYMENTS,
    "keras": (
        "keras-fp32",
        "litert-fp32",
        "litert-int8-static",
        "onnxruntime-fp32",
        "onnxruntime-int8-static",
    ),
}


@dataclass(frozen=True)
class StudyConfig:
    name: str
    space: Mapping[str, Any]
    storage: str | None = None
    sampler: str = "nsga2"
    population_size: int | None = None
    seed: int = 0
    trials: int = 20
    timeout_s: float | None = None
    objectives: tuple[str, ...] = ("accuracy", "latency")
    objective_deployment: str = "fastest"
    objective_profile: str | None = None
    max_accuracy_drop: float = 0.01
    frameworks: tuple[str, ...] = ("torch",)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hardware: tuple[HardwareProfile, ...] = ()
    deployments: tuple[Deployment, ...] = ()
    measure: MeasureSettings = field(default_factory=MeasureSettings)
    calibration_samples: int = 128
    onnx_exporter: str = "dynamo"
    out_dir: str = "runs"
    keep_artifacts: str = "all"
    path: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    constraints: Mapping[str, Budget] = field(default_factory=dict)  # profile -> configured
    prefilter: bool = True  # reject infeasible candidates before training
    check_fail: str | None = None  # `workbench check`'s thresholds, e.g. "latency:+5%"
    check_time_s: float | None = None  # `workbench check`'s timing cap per artifact

    def profile_deployments(
        self, profile: HardwareProfile, framework: str | None = None
    ) -> tuple[Deployment, ...]:
        """What a profile is evaluated with: a measured profile, the study's deployments plus its
        recipe; a simulated one, its recipe (the file that would be shipped to it). With
        ``framework``, only those whose backend deploys that framework's models."""
        recipe: tuple[Deployment, ...] = (
            (Deployment(profile.deploy.backend, profile.deploy.precision),)
            if profile.deploy
            else ()
        )
        if profile.measured:
            names = {d.name for d in self.deployments}
            recipe = tuple(self.deployments) + tuple(d for d in recipe if d.name not in names)
        if framework is None:
            return recipe
        return tuple(d for d in recipe if _serves(d.backend, framework))

    def budget_for(self, profile: HardwareProfile) -> Budget | None:
        """The profile's budget (configured limits plus its device's own), or None."""
        from workbench.study._constraints import budgets_for

        return budgets_for(profile, self.constraints.get(profile.name))

    @property
    def constrained(self) -> bool:
        return any(self.budget_for(p) is not None for p in self.hardware)

    @property
    def base_dir(self) -> Path:
        return Path(self.path).resolve().parent if self.path else Path.cwd()

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def storage_url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite:///{Path(self.out_dir) / 'workbench.db'}"

    def search_fingerprint(self) -> str:
        """Hash of all that makes trials comparable; a study refuses to resume if it changed."""
        keys = (
            "space",
            "data",
            "train",
            "hardware",
            "deployments",
            "measure",
            "frameworks",
            "objectives",
            "objective",
            "constraints",
        )
        body = {k: self.raw.get(k) for k in keys}
        body["study.objective_deployment"] = self.objective_deployment
        body["hardware"] = [p.name for p in self.hardware]
        body["deployments"] = [d.to_dict() for d in self.deployments]
        if self.frameworks != (
            "torch",
        ):  # the frameworks built (torch-only studies keep their old hash)
            body["frameworks"] = list(self.frameworks)
        canon = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def deployments_for(self, framework: str) -> tuple[Deployment, ...]:
        """The deployments that apply to ``framework``: those whose backend accepts its models."""
        return tuple(d for d in self.deployments if _serves(d.backend, framework))

    def objective_profile_name(self) -> str:
        return self.objective_profile or self.hardware[0].name

    def directions(self) -> list[Literal["maximize", "minimize"]]:
        return ["maximize" if o == "accuracy" else "minimize" for o in self.objectives]

    def metric_names(self) -> list[str]:
        names = {
            "accuracy": "accuracy",
            "latency": "latency_p50_ms",
            "size": "size_bytes",
            "memory": "peak_memory_bytes",
        }
        return [names[o] for o in self.objectives]


def _serves(backend: str, framework: str) -> bool:
    """Whether ``backend`` deploys models of ``framework`` (an unknown backend deploys none)."""
    try:
        return framework in get_backend(backend).frameworks
    except WorkbenchError:
        return False


def apply_overrides(data: object, overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a config mapping."""
    data = copy.deepcopy(data) if data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping at the top level")
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            value = parse_yaml(text, f"--set {key}")[0] if text.strip() else None
        except ConfigError as err:
            if not err.message.startswith("malformed YAML"):
                raise  # a bomb (recursive alias, too deep, too large) is refused, not kept as text
            value = text
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part!r} is not a mapping")
            node = child
        node[parts[-1]] = value
    return data


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    overrides: Sequence[str] = (),
    display: str | None = None,
    import_code: bool = True,
) -> StudyConfig:
    """Load, override and validate a study config from a YAML file or a mapping.

    ``import_code=False``: a ``callable:`` search space is checked by form only
    (``package.module:function``) and not imported, so validating a config runs none of its
    code (a server validates configs this way; the run imports it).
    """
    if isinstance(source, Mapping):
        data, smap, path = dict(source), SourceMap(display), None
    else:
        path = os.fspath(source)
        data, smap = load_yaml(path, display=display or path)
    if overrides:
        data = apply_overrides(data, overrides)
        # overridden fields have no line; keep the file name for messages
    return _read(
        Reader(data, source=smap, what="a mapping of config sections"),
        path=path,
        import_code=import_code,
    )


def _check_recipe(r: Reader, prof: HardwareProfile, frameworks: Sequence[str], where: str) -> None:
    """A profile's deploy recipe must be producible here from the study's frameworks.

    A simulated profile is evaluated only through its recipe, so it must have one.
    """
    from workbench.backends import backend_names

    recipe = prof.deploy
    if recipe is None:
        if not prof.measured:
            raise r.error(
                f"profile {prof.name!r} is simulated and has no deploy recipe (deploy: {{backend, "
                "precision, format})",
                where,
            )
        return
    dep = Deployment(recipe.backend, recipe.precision)
    if recipe.backend not in backend_names():
        raise r.error(
            f"profile {prof.name!r} deploys with the {recipe.backend!r} backend ({recipe.format}), "
            "which is not installed "
            f"here (installed: {', '.join(backend_names())}); a package that provides it registers "
            "it under the "
            "workbench.backends entry point",
            where,
        )
    backend = get_backend(recipe.backend)
    # one framework of the study that can produce the recipe is enough: that model is deployed
    errors = []
    for f in frameworks:
        try:
            backend.check(dep, f)
            break
        except ConfigError as err:
            errors.append(err.message)
    else:
        hint = (
            ""
            if len(frameworks) > 1 or recipe.backend == "onnxruntime"
            else f"; add one to framework: [{frameworks[0]}, {backend.frameworks[0]}]"
        )
        raise r.error(
            f"profile {prof.name!r}'s recipe {dep.name} cannot be produced: {errors[0]}{hint}",
            where,
        )
    if not backend.available():
        raise r.error(
            f"profile {prof.name!r}'s recipe needs {', '.join(backend.requires)}; install with: "
            f"pip install 'workbench-nas[{backend.extra}]'",
            where,
        )


def _read(r: Reader, *, path: str | None, import_code: bool = True) -> StudyConfig:
    schema = r.get("schema", Int(min=1), SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise r.error(f"unsupported schema {schema}; this version reads {SCHEMA_VERSION}", "schema")
    base_dir = Path(path).resolve().parent if path else Path.cwd()

    s = r.section("study")
    default_name = Path(path).stem if path else None
    name = s.get("name", Str(), default_name) if default_name else s.get("name", Str())
    if any(c in name for c in "/\\") or name.startswith("."):
        raise s.error(f"expected a name without path separators, got {name!r}", "name")
    sampler = s.get("sampler", Choice(SAMPLERS), "nsga2")
    population = s.get("population_size", Optional(Int(min=2, max=10_000)), None)
    objectives = s.get("objectives", ListOf(Choice(OBJECTIVES), 2), ("accuracy", "latency"))
    if len(set(objectives)) != len(objectives):
        raise s.error("objectives must not repeat", "objectives")
    if "accuracy" not in objectives:
        raise s.error("objectives must include accuracy", "objectives")
    study_fields = dict(
        storage=s.get("storage", Optional(Str()), None),
        seed=s.get("seed", Int(min=0), 0),
        trials=s.get("trials", Int(min=1, max=1_000_000), 20),
        timeout_s=s.get("timeout_s", Optional(Float(min=0.0, min_exclusive=True)), None),
        objective_deployment=s.get("objective_deployment", Str(), "fastest"),
        objective_profile=s.get("objective_profile", Optional(Str()), None),
        max_accuracy_drop=s.get("max_accuracy_drop", Float(min=0.0, max=1.0), 0.01),
        out_dir=s.get("out_dir", Str(), "runs"),
        keep_artifacts=s.get("keep_artifacts", Choice(("all", "pareto")), "all"),
        prefilter=s.get("prefilter", Bool(), True),
    )
    s.finish()

    fw = r.raw("framework", "torch")
    frameworks = (fw,) if isinstance(fw, str) else tuple(fw) if isinstance(fw, list) else None
    if not frameworks or any(f not in FRAMEWORKS for f in frameworks):
        raise r.error(
            f"expected one of {', '.join(FRAMEWORKS)} or a list of them, got {fw!r}", "framework"
        )
    if len(set(frameworks)) != len(frameworks):
        raise r.error(f"a framework is listed twice: {list(frameworks)}", "framework")
    for f in frameworks:
        modules, extra = FRAMEWORK_REQUIRES[f]
        if not all(is_available(m) for m in modules):
            raise r.error(
                f"framework {f!r} needs {', '.join(modules)}; install with: pip install "
                f"'workbench-nas[{extra}]'",
                "framework",
            )

    data_cfg = DataConfig.read(r.section("data"), base_dir=base_dir)
    train_cfg = TrainConfig.read(r.section("train"))
    measure = MeasureSettings.read(r.section("measure"))

    q = r.section("quantization")
    calibration_samples = q.get("calibration_samples", Int(min=1, max=100_000), 128)
    study_fields["max_accuracy_drop"] = q.get(
        "max_accuracy_drop", Float(min=0.0, max=1.0), study_fields["max_accuracy_drop"]
    )
    q.finish()
    exporter = r.get("onnx_exporter", Choice(("dynamo", "torchscript", "auto")), "dynamo")

    # hardware profiles
    hw_raw = r.raw("hardware", ["host-cpu"])
    if isinstance(hw_raw, str):
        hw_raw = [hw_raw]
    if not isinstance(hw_raw, list) or not hw_raw:
        raise r.error(f"expected a list of hardware profile names, got {hw_raw!r}", "hardware")
    profiles = []
    for i, item in enumerate(hw_raw):
        if not isinstance(item, str):
            raise r.error(f"expected a profile name or file, got {item!r}", f"hardware[{i}]")
        try:
            ref = item
            if (
                item.endswith((".yaml", ".yml"))
                and not os.path.isabs(item)
                and (base_dir / item).exists()
            ):
                ref = str(base_dir / item)  # profile files named relative to the config file
            prof = load_profile(ref)
        except UnknownNameError as err:
            raise r.error(
                f"unknown hardware profile {item!r}; known: {', '.join(err.known)}",
                f"hardware[{i}]",
            ) from None
        except ConfigError as err:
            raise ConfigError(
                err.message, field=err.field, location=err.location or f"hardware[{i}]"
            ) from None
        _check_recipe(r, prof, frameworks, f"hardware[{i}]")
        profiles.append(prof)
    if len({p.name for p in profiles}) != len(profiles):
        raise r.error("a profile is listed twice", "hardware")

    # deployments, checked against backends, frameworks and every profile
    defaults = list(dict.fromkeys(d for f in frameworks for d in FRAMEWORK_DEFAULT_DEPLOYMENTS[f]))
    dep_raw = r.raw("deployments", defaults)
    if not isinstance(dep_raw, list) or not dep_raw:
        raise r.error(
            "expected a non-empty list of deployments such as onnxruntime-int8-static",
            "deployments",
        )
    deployments = []
    for i, item in enumerate(dep_raw):
        where = f"deployments[{i}]"
        try:
            dep = Deployment.parse(item)
            backend = get_backend(dep.backend)
            backend.check(dep)
            # with several frameworks, a deployment applies to those its backend accepts
            serves = [f for f in frameworks if f in backend.frameworks]
            if not serves and len(frameworks) == 1:
                backend.check(dep, frameworks[0])
            if not serves:
                raise ConfigError(
                    f"backend {dep.backend!r} cannot deploy models of any framework of this study "
                    f"({', '.join(frameworks)}); "
                    f"it accepts: {', '.join(backend.frameworks)}"
                )
        except UnknownNameError as err:
            raise r.error(str(err), where) from None
        except ConfigError as err:
            raise r.error(err.message, where) from None
        except WorkbenchError as err:
            raise r.error(str(err), where) from None
        if not backend.available():
            raise r.error(
                f"backend {dep.backend!r} needs {', '.join(backend.requires)}; install with: pip "
                f"install 'workbench-nas[{backend.extra}]'",
                where,
            )
        for prof in profiles:
            if not prof.measured:
                continue  # a simulated profile is evaluated with its own recipe
            if dep.backend not in prof.backends:
                raise r.error(
                    f"profile {prof.name!r} does not list backend {dep.backend!r}; it lists: "
                    f"{', '.join(prof.backends)}",
                    where,
                )
            if dep.precision not in prof.precisions:
                raise r.error(
                    f"profile {prof.name!r} does not support precision {dep.precision!r}; it "
                    f"supports: {', '.join(prof.precisions)}",
                    where,
                )
        deployments.append(dep)
    names = [d.name for d in deployments]
    if len(set(names)) != len(names):
        raise r.error("a deployment is listed twice", "deployments")
    for f in frameworks:
        if not any(f in get_backend(d.backend).frameworks for d in deployments):
            raise r.error(
                f"no deployment serves framework {f!r}; add one such as "
                f"{'torch-fp32' if f == 'torch' else 'keras-fp32'}",
                "deployments",
            )
    od = study_fields["objective_deployment"]
    # a deployment name, or framework/deployment when several frameworks share it
    choices = names + [
        f"{f}/{d.name}"
        for f in frameworks
        for d in deployments
        if f in get_backend(d.backend).frameworks
    ]
    if od != "fastest" and od not in choices:
        raise ConfigError(
            f"expected 'fastest' or one of the deployments ({', '.join(names)}), optionally as "
            f"framework/deployment, got {od!r}",
            field="study.objective_deployment",
            location=r.source.where("study.objective_deployment"),
        )
    op = study_fields["objective_profile"]
    if op is not None and op not in [p.name for p in profiles]:
        raise ConfigError(
            f"expected one of the hardware profiles ({', '.join(p.name for p in profiles)}), got "
            f"{op!r}",
            field="study.objective_profile",
            location=r.source.where("study.objective_profile"),
        )
    objective_prof = next(p for p in profiles if p.name == (op or profiles[0].name))
    if (
        od != "fastest"
        and not objective_prof.measured
        and (
            objective_prof.deploy is None
            or od != f"{objective_prof.deploy.backend}-{objective_prof.deploy.precision}"
        )
    ):
        raise ConfigError(
            f"the objective profile {objective_prof.name!r} is simulated and evaluated with its "
            "recipe only; "
            f"use 'fastest' or its recipe deployment",
            field="study.objective_deployment",
            location=r.source.where("study.objective_deployment"),
        )
    from workbench.study._constraints import read_constraints

    constraints = read_constraints(r.section("constraints"), profiles)

    ck = r.section("check")
    check_fail = ck.get("fail", Optional(Str()), None)
    try:
        Thresholds.parse(check_fail)
    except ConfigError as err:
        raise ck.error(err.message, "fail") from None
    check_time_s = ck.get("time_s", Optional(Float(min=0.0, min_exclusive=True, max=600.0)), None)
    ck.finish()

    space_r = r.section("space")
    if not space_r.data:
        raise r.error(
            "missing; expected a search space (family: mlp | mobilenet | resnet, or callable: "
            "module:function)",
            "space",
        )
    space = dict(space_r.data)
    r.finish()

    cfg = StudyConfig(
        name=name,
        space=space,
        sampler=sampler,
        population_size=population,
        objectives=tuple(objectives),
        frameworks=frameworks,
        data=data_cfg,
        train=train_cfg,
        hardware=tuple(profiles),
        deployments=tuple(deployments),
        measure=measure,
        calibration_samples=calibration_samples,
        onnx_exporter=exporter,
        path=path,
        raw=dict(r.data),
        constraints=constraints,
        check_fail=check_fail,
        check_time_s=check_time_s,
        **study_fields,
    )
    # compile the space now against the data's shape, so space errors surface before the study
    from workbench._errors import DataError
    from workbench.data import load_data
    from workbench.study._space import Task, compile_space

    try:
        dataset = load_data(cfg.data)
    except DataError as err:
        raise ConfigError(str(err), field="data", location=r.source.where("data")) from None
    task = Task(dataset.input_shape, dataset.num_classes)
    compile_space(
        Reader(space, field="space", source=r.source),
        task,
        base_dir=cfg.base_dir,
        import_code=import_code,
    )
    return cfg
