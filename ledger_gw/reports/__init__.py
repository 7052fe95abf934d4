"""Donor accountability reports: recomputable from the ledger, anchored, signed, k-anonymous."""
