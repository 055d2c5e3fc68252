"""Outgoing e-mail: the transports (SMTP, or the local mailbox folder) and the delivery loop
that sends what the ``outbox`` table holds. Its own package beside ``store/`` rather than a
module of ``service/``: it is I/O infrastructure that the worker process runs, with two
implementations and a loop, and ``service/`` is the composition of such parts."""
