"""Geo -> default Azure region and Dataverse host suffix, for realistic environment objects."""

from __future__ import annotations

import re

# geo: (default azureRegion, crm host label)
_GEOS: dict[str, tuple[str, str]] = {
    "unitedstates": ("westus", "crm"),
    "southamerica": ("brazilsouth", "crm2"),
    "canada": ("canadacentral", "crm3"),
    "europe": ("westeurope", "crm4"),
    "asia": ("eastasia", "crm5"),
    "australia": ("australiaeast", "crm6"),
    "japan": ("japaneast", "crm7"),
    "india": ("centralindia", "crm8"),
    "unitedkingdom": ("uksouth", "crm11"),
    "france": ("francecentral", "crm12"),
    "germany": ("germanywestcentral", "crm16"),
    "switzerland": ("switzerlandnorth", "crm17"),
}


def default_region(geo: str) -> str:
    return _GEOS.get(geo, ("westus", "crm"))[0]


def crm_label(geo: str) -> str:
    return _GEOS.get(geo, ("westus", "crm"))[1]


def slug(text: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]", "", text.lower())
    return cleaned or "org"
