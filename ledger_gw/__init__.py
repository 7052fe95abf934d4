"""Gateway library: ledger backends, identities and signing, pseudonymisation, proofs, CLI."""
