"""The durable engine every long-running operation runs on (docs/orchestrator.md).

A kind of operation (restore, backup, ...) brings a typed state, a pure `plan` and `decide`, and
the executor of its commands (`kind.py`); it is registered once in `kinds.py`. The engine does
the rest, the same way for every kind: one runner (`runner.py`: load, plan, execute, decide,
checkpoint with the ETag, then the message that continues the work), one watchdog
(`watchdog.py`), one way of recording a message about to be poisoned (`runner.record_engine_fault`).

A package of its own, not a corner of `shared/` or of `restore_orchestrator/`: several features
run on it, and it runs their code (through the table), which `shared/` never does.
"""
