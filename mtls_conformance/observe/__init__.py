"""Observations: pure parsers of probe output, headers, Envoy dumps, certificates, metrics and captures."""
