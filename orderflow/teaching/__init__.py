"""Teaching material for tutorials 06 (determinism, replay, versioning), 07 (testing) and
08 (orders that wait).

Nothing here is registered by the service: the variants of ``OrderWorkflow`` in
:mod:`orderflow.teaching.variants` share its workflow *type name* on purpose (that is what
makes replay and versioning interesting), so they run only on their own task queues or
in a ``Replayer``, started by the notebooks and tests that need them.

- :mod:`~orderflow.teaching.variants`: the workflow changes the tutorials discuss.
- :mod:`~orderflow.teaching.history`: record, summarise and replay event histories.
- :mod:`~orderflow.teaching.deployment`: run a variant on its own task queue, swap versions.
- :mod:`~orderflow.teaching.sandbox`: what the workflow sandbox blocks, shown live.
- :mod:`~orderflow.teaching.testkit`: run a test written in a notebook cell with pytest
  (against the dev server, or the time-skipping test server).
- :mod:`~orderflow.teaching.review_gate`: the review gate of exercise 08, and running it.
- :mod:`~orderflow.teaching.tally`: a long-lived workflow that continues as new.
- :mod:`~orderflow.teaching.waits`: tutorial 08's helpers (timers, histories, Schedules).
- :mod:`~orderflow.teaching.exercises`: the exercises' ``check()`` functions.
"""
