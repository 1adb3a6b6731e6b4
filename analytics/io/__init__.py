"""The I/O side of casino-explain: reading files and databases, writing reports.

Nothing in :mod:`analytics` outside this package touches a file, a database or the
network; these modules are the adapters that feed the pure computations.
"""
