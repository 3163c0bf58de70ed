"""The stages between the backends and the front ends, free of Qt: accounts, sync,
the monitor, the health alarm, the outbox, actions and the status text.

The desktop layer and the CLI call into here; here calls the domain and the
backend port (and knows the local backend, which it builds for the local account).
"""
