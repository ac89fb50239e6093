"""The learner's exercise modules: loaded fresh from the notebooks' directory, their shape
read as a worker reads it, and the worked solution run in their place until complete.
Also: the tutorials' diagrams are drawn by their script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from orderflow.lab import answers, exercises

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture
def notebooks_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The kernel's view: the notebooks' directory first on the path. A scratch copy of an
    exercise module goes in ``tmp_path``, also on the path."""
    monkeypatch.syspath_prepend(str(NOTEBOOKS))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_the_scaffolds_are_incomplete_and_the_solutions_complete(notebooks_dir: Path) -> None:
    for name, gaps in (
        ("ex01_first_workflow", exercises.first_workflow_gaps),
        ("ex03_cart", exercises.cart_gaps),
    ):
        assert gaps(answers.load(name)), f"the scaffold {name} looks complete"
        assert gaps(answers.load_solution(name)) == [], f"the solution {name} looks incomplete"


def test_cells_run_the_solution_until_the_learners_module_is_complete(
    notebooks_dir: Path,
) -> None:
    learner = notebooks_dir / "ex03_cart.py"  # found before the notebooks' own copy
    learner.write_text((NOTEBOOKS / "ex03_cart.py").read_text())

    chosen = answers.yours_or_solution("ex03_cart", exercises.cart_gaps)
    assert not chosen.yours
    assert "not complete yet (TODO 1: no Query named `items` yet)" in chosen.note
    assert chosen.module.__name__ == "solutions.ex03_cart"

    # The learner finishes the file and runs the cell again: their module is re-read.
    learner.write_text((NOTEBOOKS / "solutions" / "ex03_cart.py").read_text())
    chosen = answers.yours_or_solution("ex03_cart", exercises.cart_gaps)
    assert chosen.yours and chosen.note == "Running your ex03_cart.py."
    assert chosen.module.__file__ == str(learner)


def test_a_module_that_does_not_import_is_named_and_replaced(notebooks_dir: Path) -> None:
    (notebooks_dir / "ex03_cart.py").write_text("def oops(:\n")

    chosen = answers.yours_or_solution("ex03_cart", exercises.cart_gaps)

    assert not chosen.yours
    assert "it does not import: SyntaxError" in chosen.note
    assert chosen.module.__name__ == "solutions.ex03_cart"


def test_module_for_knows_the_two_exercise_modules(notebooks_dir: Path) -> None:
    assert exercises.module_for("ex01_first_workflow").module.__name__.startswith("solutions.")
    with pytest.raises(KeyError, match="no exercise module"):
        exercises.module_for("ex02_payment_policy")


def test_workflow_shape_reads_handlers_as_a_worker_does(notebooks_dir: Path) -> None:
    cart = answers.load_solution("ex03_cart").CartWorkflow

    shape = answers.workflow_shape(cart)

    assert shape.is_workflow
    assert (shape.queries, shape.signals, shape.updates) == (
        {"items"},
        {"add_item"},
        {"checkout"},
    )
    assert shape.validated_updates == {"checkout"}
    assert not answers.workflow_shape(object).is_workflow
    assert not answers.workflow_shape("CartWorkflow").is_workflow
    assert answers.is_activity(answers.load_solution("ex01_first_workflow").price_line)
    assert not answers.is_activity(answers.load("ex01_first_workflow").price_line)


def test_the_diagrams_script_draws_every_figure(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("draw", NOTEBOOKS / "figures" / "draw.py")
    assert spec is not None and spec.loader is not None
    draw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(draw)

    written = draw.main(tmp_path)

    assert sorted(path.name for path in written) == sorted(draw.FIGURES)
    for path in written:
        assert path.read_bytes().startswith(b"\x89PNG")
        assert (NOTEBOOKS / "figures" / path.name).exists(), "commit the regenerated PNG"
