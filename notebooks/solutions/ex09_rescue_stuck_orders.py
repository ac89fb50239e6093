"""Worked solution, exercise of 09_when_things_break: rescue the orders stuck on the bug.

The fixed build is deployed, but each stuck order's history already holds the two-hour
timer the buggy build started, and the server will fire it only when it is due. Reset each
order to the workflow task that started that timer (its last completed workflow task): a
new run copies the history up to that point - reservation and charge included, so nothing
is charged again - and the fixed code makes that decision again: a 2-second wait.
"""

from orderflow import ops
from orderflow.models import order_workflow_id


async def rescue(env, order_ids):
    for order_id in order_ids:
        await ops.reset_workflow(
            env.client,
            order_workflow_id(order_id),
            to=ops.ResetTo.LAST_WORKFLOW_TASK,
            reason="settlement wait fixed: seconds, not hours",
        )
