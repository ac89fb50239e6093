"""Worked solution, exercise of 02_retries_and_failures: give up on payment after 3 attempts.

``maximum_attempts`` counts every attempt, the first one included, so 3 means "the first
try and two retries". Short intervals keep the example fast; after the third failure
Temporal stops retrying, the workflow sees the error and compensates (releases stock).
"""

my_retry = {
    "initial_interval": 1.0,
    "backoff_coefficient": 1.0,
    "maximum_attempts": 3,
}
