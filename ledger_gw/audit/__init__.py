"""Audit without trusting the server: bundles, referral-chain checks, log monitoring.

Everything here works on plain values (a bundle dict, a checkpoint note, proof
hashes); only :mod:`ledger_gw.audit.bundle` and the watch sources read a ledger.
"""
