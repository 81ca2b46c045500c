"""`nbgrader collect` that trusts nothing in the exchange's inbound folder, which every student
can write into: configured in nbgrader_config.py (`c.ExchangeFactory.collect`).

`collect` (SafeCollect, a subclass of nbgrader's ExchangeCollect) picks each student's
submission as nbgrader does, refuses folders whose name, student id or Unix owner do not fit,
copies each through `inbound`, names every refusal and skipped entry at the end and exits
non-zero when it refused any. `inbound` copies one submission folder: no link is ever
followed, only regular files and folders are copied, sizes and the walk are bounded, and the
copy lands in `submitted/` whole or not at all.

May import: course.layout.
"""
