"""Chaos soak (issue 19 item 5): a flash sale through the gateway while a seeded scheduler kills things.

``python -m tests.soak.run --profile short|long --out FILE`` runs one profile end to end and writes
its report (faults injected and survived per kind, invariant results, RSS summary, machine, date);
``test_soak_short.py`` runs the short profile in CI and asserts on that report. Everything runs in a
child process of its own: the soak starts a two-node Ray cluster, which cannot share a process
with the Ray that the rest of the test session started.
"""
