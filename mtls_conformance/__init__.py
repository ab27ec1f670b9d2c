"""mtls-conformance: prove what Istio's mutual TLS really does.

Data flows one way: scenario -> engine -> plan -> executor -> observe -> verdict/report.
Everything but ``executor`` (and the pytest fixtures) is pure and tested offline.
"""

__version__ = "0.1.0"
