"""The embedded ledger: a verifiable append-only log in one SQL database."""
