"""The ``dealreg`` operator command (``dealreg --help``; docs/operations.md).

It talks to the running system as an operator would: the services' HTTP APIs, Kafka (read
and, for dead-letter replays, write), the deploy scripts and their pid files. It imports no
service package: where a service owns the logic, the service's API (or its own module run as
a process) does the work.
"""
