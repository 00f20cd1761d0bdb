from tests.unit.power_platform.conftest import make

__all__ = ["make"]
