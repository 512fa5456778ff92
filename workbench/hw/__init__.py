"""Hardware: profiles (where a model runs) and the host fingerprint (where it was measured)."""

from workbench.hw._host import HostInfo, available_cpus, host_info, library_versions
from workbench.hw._profile import (
    PRECISIONS,
    DeployRecipe,
    HardwareProfile,
    Sourced,
    find_profile,
    list_profiles,
    load_profile,
    profile_dirs,
)

__all__ = [
    "PRECISIONS",
    "DeployRecipe",
    "HardwareProfile",
    "HostInfo",
    "Sourced",
    "available_cpus",
    "find_profile",
    "host_info",
    "library_versions",
    "list_profiles",
    "load_profile",
    "profile_dirs",
]
