"""Load scenarios for ReserveX (DESIGN §9) and the harness that runs them (``make loadtest``).

Nothing in this package's ``__init__`` or in ``common``/``report``/``run`` imports locust: locust
monkey-patches the standard library with gevent on import, which only the scenario processes want.
"""
