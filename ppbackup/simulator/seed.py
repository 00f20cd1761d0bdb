"""Starting tenants: the demo tenant (fixed ids, so docs and demos can name them) and bulk
environments for benchmarks."""

from __future__ import annotations

from ppbackup.simulator.model import SKU_PRODUCTION, SKU_SANDBOX
from ppbackup.simulator.state import SimState

CONTOSO_PROD = "51f48b59-205a-4945-aa35-a0d6a2fe05ea"
CONTOSO_UAT = "2427f2d8-f1b8-4252-907f-66ad0601177e"
FABRIKAM_PROD = "7826c809-3984-4684-bb42-3d4e76d56b25"
FABRIKAM_DEV = "db67d7c7-bd43-4aa0-8d4b-0b37a9549e5b"


def default_seed(state: SimState) -> dict[str, str]:
    """Add the demo tenant's environments; returns display name -> environment id.

    Contoso is a managed (protectionLevel Standard) pair in `europe`, Fabrikam an unmanaged pair
    in `unitedstates`, so each Prod can be restored into its own Sandbox but not across.
    """
    specs = (
        ("Contoso Prod", CONTOSO_PROD, SKU_PRODUCTION, "europe", True),
        ("Contoso UAT", CONTOSO_UAT, SKU_SANDBOX, "europe", True),
        ("Fabrikam Prod", FABRIKAM_PROD, SKU_PRODUCTION, "unitedstates", False),
        ("Fabrikam Dev", FABRIKAM_DEV, SKU_SANDBOX, "unitedstates", False),
    )
    ids: dict[str, str] = {}
    for name, env_id, sku, geo, managed in specs:
        env = state.add_environment(name, sku=sku, location=geo, managed=managed, env_id=env_id)
        ids[name] = env.id
    default = state.add_environment(
        "Contoso (default)", is_default=True, location="unitedstates"
    )
    ids[default.display_name] = default.id
    return ids


def seed_many(
    state: SimState,
    count: int,
    *,
    type: str = SKU_PRODUCTION,
    location: str = "unitedstates",
    managed: bool = False,
    prefix: str = "Bench",
) -> list[str]:
    """Add `count` environments named "<prefix> 0001"...; returns their ids in order."""
    if count < 0:
        raise ValueError("count must be >= 0")
    width = max(4, len(str(count)))
    return [
        state.add_environment(
            f"{prefix} {i:0{width}d}", sku=type, location=location, managed=managed
        ).id
        for i in range(1, count + 1)
    ]
