"""Consent forms, signing and sealing (built by a later issue)."""
