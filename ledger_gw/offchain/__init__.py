"""The agency's own off-chain store: personal data, document salts, API tokens, audit log.

One database (or PostgreSQL database per URL template) per organisation, so that one
organisation's personal data never shares a table with another's.
"""
