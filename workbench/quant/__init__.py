"""Quantization settings chosen from the CPU's instruction set, then checked on data.

On x86 CPUs without VNNI, int8 dot products go through ``vpmaddubsw``, which adds pairs of
u8 x s8 products into a saturating int16: with full 8-bit weights the sum can overflow, which
ONNX Runtime documents and which shows up as lost accuracy. The documented mitigation is 7-bit
weights (``reduce_range``). With VNNI (``vpdpbusd``) products accumulate in int32 and the full
range is safe. On Arm, signed activations and weights map onto the ``sdot`` instructions.

A scheme is only a first guess: the quantized model's accuracy is measured, and the next
scheme is tried when the drop exceeds the tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Int8Scheme", "int8_schemes"]


@dataclass(frozen=True)
class Int8Scheme:
    activations: str  # "u8" | "s8"
    weights: str  # "s8" | "u8"
    reduce_range: bool
    per_channel: bool
    reason: str

    @property
    def label(self) -> str:
        rr = "+reduce_range" if self.reduce_range else ""
        pc = "+per_channel" if self.per_channel else ""
        return f"{self.activations.upper()}{self.weights.upper()}{rr}{pc}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


def int8_schemes(
    isa_flags: Sequence[str], machine: str = "x86_64", *, static: bool = True
) -> list[Int8Scheme]:
    """Int8 settings to try on a CPU with ``isa_flags``, fastest-expected first."""
    flags = set(isa_flags)
    arm = machine.lower() in ("aarch64", "arm64") or "asimd" in flags
    vnni = bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)
    per_channel = static  # per-channel weight scales: ORT's dynamic Conv path does not use them
    if arm:
        return [
            Int8Scheme("s8", "s8", False, per_channel, "Arm: signed int8 maps onto sdot/smmla"),
            Int8Scheme("u8", "s8", False, per_channel, "fallback: u8 activations"),
        ]
    if vnni:
        return [
            Int8Scheme(
                "u8",
                "s8",
                False,
                per_channel,
                "x86 with VNNI: u8 x s8 accumulates in int32, no saturation",
            ),
            Int8Scheme("s8", "s8", False, per_channel, "fallback: signed activations"),
        ]
    return [
        Int8Scheme(
            "u8",
            "s8",
            True,
            per_channel,
            "x86 without VNNI: 7-bit weights avoid vpmaddubsw int16 saturation (ONNX Runtime's "
            "documented mitigation)",
        ),
        Int8Scheme(
            "u8",
            "u8",
            False,
            per_channel,
            "fallback: u8 weights use the non-saturating U8U8 kernels",
        ),
        Int8Scheme("s8", "s8", False, per_channel, "fallback: signed activations"),
    ]
