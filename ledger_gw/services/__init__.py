"""Use cases of an agency's gateway: no HTTP here, only the library and the off-chain store."""
