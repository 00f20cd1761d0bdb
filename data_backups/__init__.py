"""Data backups (contract section 9): table rows copied into the backup store, on the engine.

A data backup is the `data_backup` kind (`kind.py`): plan the tables (`planning.py`), copy a
bounded run of pages per table per step (`copying.py`), commit the point and sweep
(`committing.py`); the executor (`execute.py`) is its only I/O. Intake is `intake.py`, the timer
`rounds.py`, the readers `catalog.py`, the triggers `blueprint.py`.
"""

from data_backups.blueprint import bp

__all__ = ["bp"]
