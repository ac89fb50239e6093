"""Tracing is optional: without OpenTelemetry installed the package imports and runs, and
only asking for an exporter fails, with a message that names the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap

WITHOUT_OTEL = textwrap.dedent(
    """
    import sys

    class NoOpenTelemetry:
        # Behave as if the `otel` extra were not installed.
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError(f"No module named {name!r}")

    sys.meta_path.insert(0, NoOpenTelemetry())
    from orderflow import cli, connection, orders, stack, tracing, worker
    from orderflow.config import Settings

    assert not tracing.tracing_available()
    assert tracing.temporal_plugins(Settings(_env_file=None).otel_exporter) == []
    app = object()
    assert tracing.instrument_app(app) is app
    tracing.shutdown_tracing()
    try:
        tracing.temporal_plugins("otlp")
    except tracing.TracingUnavailableError as error:
        print("refused:", error)
    assert "opentelemetry" not in sys.modules
    """
)


def test_package_works_without_opentelemetry() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OTEL], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "refused: ORDERFLOW_OTEL_EXPORTER=otlp needs OpenTelemetry" in done.stdout
    assert "pip install 'orderflow-temporal[otel]'" in done.stdout
