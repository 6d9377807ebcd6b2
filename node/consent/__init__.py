"""Consent: policies, their evaluation, computation manifests, negotiation and agreements."""
