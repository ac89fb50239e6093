"""Teaching material for tutorials 06 (determinism, replay, versioning) and 07 (testing).

Nothing here is registered by the service: the variants of ``OrderWorkflow`` in
:mod:`orderflow.teaching.variants` share its workflow *type name* on purpose (that is what
makes replay and versioning interesting), so they run only on their own task queues or
in a ``Replayer``, started by the notebooks and tests that need them.

- :mod:`~orderflow.teaching.variants`: the workflow changes the tutorials discuss.
- :mod:`~orderflow.teaching.history`: record, summarise and replay event histories.
- :mod:`~orderflow.teaching.deployment`: run a variant on its own task queue, swap versions.
- :mod:`~orderflow.teaching.sandbox`: what the workflow sandbox blocks, shown live.
- :mod:`~orderflow.teaching.testkit`: run a test written in a notebook cell with pytest.
- :mod:`~orderflow.teaching.exercises`: the exercises' ``check()`` functions.
"""
