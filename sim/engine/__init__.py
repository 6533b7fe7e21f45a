"""The engine: the system of SPEC section 1 in SimPy, one replication at a time.

Components are named after the model (producer, broker, link, consumer, patterns); the ledger
counts what happened to every message and :mod:`sim.engine.simulation` turns it into figures.
"""
