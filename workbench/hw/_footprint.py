"""Memory and storage footprint of a deployment, estimated from the cost model.

What a device must hold does not depend on trained weights, so it is known before training:

* **tensor arena** (microcontrollers, TensorFlow Lite for Microcontrollers): the planner keeps
  only the tensors live at each operator, so the arena is the peak of live int8 activations
  (a layer's input and output, plus a residual input kept for a later add), plus the largest
  kernel scratch buffer (CMSIS-NN's ``arm_convolve_s8`` im2col buffer of ``2 x C_in x k x k``
  int16 values; its depthwise kernels ``C_in x k x k``), plus persistent per-channel
  requantization parameters (an int32 multiplier and shift per output channel);
* **model file**: parameters at the deployment's weight precision, int32 biases for integer
  models, and a small per-operator overhead of the serialized graph;
* **peak RAM** on a device with an operating system: weights + peak activations + the
  runtime's own footprint (the profile's ``predictor.runtime_ram_mb``, else a device default).

Every figure is labelled an estimate and says what it contains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.arch import ArchSpec, LayerCost, layer_costs
from workbench.hw._predict import bytes_per_element
from workbench.hw._profile import HardwareProfile

__all__ = [
    "DEFAULT_RUNTIME_FLASH_KB",
    "Footprint",
    "estimate_footprint",
    "runtime_flash_bytes",
    "tensor_arena_bytes",
]

#: bytes of serialized graph per operator (flatbuffer/protobuf tables, names, quantization params)
_PER_OP_BYTES = 256
_FILE_HEADER_BYTES = 2048
#: runtime memory when the profile does not say (MB): ORT/TensorRT/LiteRT with their arenas
_RUNTIME_RAM_MB = {"cpu": 20.0, "gpu": 300.0, "tpu": 8.0, "npu": 8.0, "mcu": 0.0}
_TFLM_TENSOR_OVERHEAD = 64  # bytes of interpreter bookkeeping per tensor (estimate)


def tensor_arena_bytes(spec: ArchSpec) -> dict[str, int]:
    """TFLite Micro tensor-arena estimate for the full-integer model of ``spec`` (module doc)."""
    layers = layer_costs(spec)
    activations = _peak_live_elems(layers)  # int8: one byte per element
    scratch = 0
    persistent = 0
    for layer in layers:
        if layer.op in ("conv", "dwconv"):
            c_in = int(layer.input_shape[0])
            k2 = layer.kernel * layer.kernel
            if layer.op == "dwconv":
                need = c_in * k2 * 2 if layer.kernel > 1 else 0
            else:
                need = 2 * (c_in // max(1, layer.groups)) * k2 * 2 if layer.kernel > 1 else 0
            scratch = max(scratch, need)
            persistent += 8 * int(layer.output_shape[0])
        elif layer.op == "linear":
            persistent += 8
        if layer.op not in (
            "bn",
            "act",
            "dropout",
        ):  # folded into the preceding op in the integer model
            persistent += _TFLM_TENSOR_OVERHEAD
    return {
        "activations": int(activations),
        "scratch": int(scratch),
        "persistent": int(persistent),
        "total": int(activations + scratch + persistent),
    }


#: layers an integer model folds into the operator before them (computed in place)
_FOLDED = ("bn", "act", "dropout", "flatten")


def _peak_live_elems(layers: list[LayerCost]) -> int:
    """Largest number of activation elements live at once: an operator's input and output, plus a
    residual block's input kept for its add. Folded layers (batch norm, activations) add nothing."""
    kept: dict[str, int] = {}
    for layer in layers:
        parts = layer.name.split(".")
        if parts[0] == "blocks" and layer.op == "add":
            kept[".".join(parts[:2])] = 0
    firsts: dict[str, int] = {}
    for layer in layers:
        parts = layer.name.split(".")
        block = ".".join(parts[:2])
        if block in kept and block not in firsts:
            firsts[block] = layer.input_elems
    peak = 0
    started: set[str] = set()
    for layer in layers:
        block = ".".join(layer.name.split(".")[:2])
        # the block's first operator reads the kept tensor itself; later ones keep it alive besides
        extra = firsts.get(block, 0) if block in started else 0
        started.add(block)
        if layer.op in _FOLDED:
            continue
        peak = max(peak, layer.input_elems + layer.output_elems + extra)
    return int(peak)


@dataclass(frozen=True)
class Footprint:
    """Estimated bytes a deployment of a model needs on a device, and what each figure holds."""

    model_file_bytes: int
    peak_ram_bytes: int
    arena: dict[str, int] | None  # microcontrollers: the tensor-arena breakdown
    flash_bytes: int | None  # microcontrollers: model + runtime code
    notes: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_file_bytes": self.model_file_bytes,
            "peak_ram_bytes": self.peak_ram_bytes,
            "arena": self.arena,
            "flash_bytes": self.flash_bytes,
            "notes": self.notes,
            "source": "predicted",
        }


#: a microcontroller runtime's code in flash when its profile states none (KB)
DEFAULT_RUNTIME_FLASH_KB = 100.0


def runtime_flash_bytes(profile: HardwareProfile) -> float:
    """Flash a microcontroller's runtime code takes beside the model file: the profile's
    ``predictor.runtime_flash_kb``, else :data:`DEFAULT_RUNTIME_FLASH_KB`."""
    sourced = profile.predictor.runtime_flash_kb
    return (sourced.value if sourced else DEFAULT_RUNTIME_FLASH_KB) * 1024


def estimate_footprint(spec: ArchSpec, profile: HardwareProfile, precision: str) -> Footprint:
    """Model file size, peak RAM and (microcontrollers) tensor arena and flash, estimated."""
    layers = layer_costs(spec)
    act_b, w_b = bytes_per_element(precision)
    # batch norm folds into the convolution before it in every deployment format
    params = sum(layer.params for layer in layers if layer.op != "bn")
    ops = sum(1 for layer in layers if layer.op not in ("bn", "dropout"))
    integer = precision.startswith("int8")
    bias_bytes = sum(
        int(layer.output_shape[0]) for layer in layers if layer.op in ("conv", "dwconv")
    ) * (4 if integer else w_b)
    file_bytes = int(params * w_b + bias_bytes + ops * _PER_OP_BYTES + _FILE_HEADER_BYTES)
    activations = _peak_live_elems(layers) * act_b
    notes = {
        "model_file_bytes": (
            f"estimate: {params:,} parameters x {w_b:g} B + biases + {_PER_OP_BYTES} B per operator"
        ),
    }
    arena = None
    flash = None
    if profile.device == "mcu":
        arena = tensor_arena_bytes(spec)
        runtime_kb = runtime_flash_bytes(profile) / 1024
        flash = int(file_bytes + runtime_kb * 1024)
        ram = arena["total"]
        notes["arena"] = (
            "estimate: peak live int8 activations (input + output + kept residual) + largest "
            "CMSIS-NN scratch buffer + per-channel requantization params and tensor bookkeeping"
        )
        notes["flash_bytes"] = (
            f"estimate: model file + {runtime_kb:g} KB of runtime code "
            f"({'profile' if profile.predictor.runtime_flash_kb else 'default'})"
        )
        notes["peak_ram_bytes"] = "the tensor arena (weights stay in flash)"
    else:
        runtime_mb = (
            profile.predictor.runtime_ram_mb.value
            if profile.predictor.runtime_ram_mb
            else _RUNTIME_RAM_MB.get(profile.device, 20.0)
        )
        ram = int(params * w_b + activations + runtime_mb * 2**20)
        notes["peak_ram_bytes"] = (
            f"estimate: weights ({params * w_b / 2**20:.2f} MiB) + peak live activations "
            f"({activations / 2**20:.2f} MiB) + {runtime_mb:g} MiB runtime "
            f"({'profile' if profile.predictor.runtime_ram_mb else 'device default'})"
        )
    return Footprint(file_bytes, int(ram), arena, flash, notes)
