"""incident.io as an incident backend, through incident.io's own SDK (``incident-io``).

Kept light on purpose: the SDK costs most of a second to import, so it is loaded
only when an incident.io account is actually used (``backend`` and ``client`` import
it; ``settings`` and ``ratelimit`` do not).
"""
