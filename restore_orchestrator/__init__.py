"""The restore orchestrator: intake, the durable-style step engine and the watchdog.

See docs/orchestrator.md for the design. Modules, pure first:

    phases, transitions     the vocabulary and the transition table (the only legal moves)
    state                   the private state stored with the operation (versioned JSON)
    commands, answers       what a step asks the runner to do, and what came back
    decide, decision        plan() and decide(): pure; validating, switching, restoring hold
                            the phases' handlers; checks (guardrails, restore point), polling
                            (when to look again), record (changes to the operation record)
    config                  tunables: the platform's known windows, retry budgets
    runner, execute         the step engine (load, plan, execute, decide, checkpoint, continue)
    intake, locks, nudge    submit / cancel; one restore per target; re-driving from outside
    watchdog, messages      the overdue-step timer; the restore-steps message
    blueprint               the Functions triggers (thin)
"""

from restore_orchestrator.blueprint import bp

__all__ = ["bp"]
