"""Managing an environment's backups the way the admin center does: list them (manual and
system, with what the ledger knows), edit the ledger's label and notes, delete manual ones.

    catalog       the listing: the platform's backups merged with the ledger (pure)
    guards        why a deletion is refused (pure)
    annotations   the PATCH body and the edit kept in the record's history (pure)
    deletion      the `backup_delete` operation's record changes (pure)
    service       the use cases, with the I/O: storage, the platform
"""
