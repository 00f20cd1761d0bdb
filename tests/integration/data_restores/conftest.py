"""Record restores plan from the points the data backup tests make: the same fixtures."""

from tests.integration.data_backups.conftest import (  # noqa: F401  (fixtures)
    clock,
    ctx,
    env_id,
    sim,
    store,
)
from tests.integration.data_backups.test_hosted import hosted  # noqa: F401  (the hosted app)
