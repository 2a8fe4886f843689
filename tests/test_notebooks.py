"""Execute every notebook in ``notebooks/`` top to bottom at a small size (``TFCOMPRESS_NOTEBOOK_QUICK=1``).

Each notebook runs in a fresh ``python3`` kernel (nbclient) inside a temporary copy of the notebooks folder, so
the files it writes never land in the repository. A notebook passes when no cell raises and its last cell
prints the notebook's result line with numbers in range.
"""

import os
import re
import shutil

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"

# notebook -> pattern of its final line (the first group is an accuracy in [0, 1])
CASES = {
    "01_quickstart.ipynb": rf"QUICKSTART DONE: student int8 test accuracy {NUMBER}, [0-9,]+ bytes",
    "02_distillation.ipynb": rf"DISTILLATION DONE: best method [\w ]+ test accuracy {NUMBER} \(scratch",
    "03_pruning_and_qat.ipynb": rf"PRUNING DONE: PQAT int8 test accuracy {NUMBER}, int8 weight sparsity",
    "04_student_search.ipynb": rf"SEARCH DONE: best student int8 test accuracy {NUMBER}, [0-9,]+ bytes",
    "05_export_and_device.ipynb": rf"EXPORT DONE: int8 test accuracy {NUMBER} .*fully integer: True",
}
# The slowest ones (about 2 minutes each on a busy 2-core machine) run with the slow checks.
SLOW = {"02_distillation.ipynb", "03_pruning_and_qat.ipynb"}


def _params():
    for name in sorted(CASES):
        marks = [pytest.mark.slow] if name in SLOW else []
        yield pytest.param(name, id=name.split(".")[0], marks=marks)


def _stdout(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def test_every_notebook_is_covered():
    found = sorted(f for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb"))
    assert found == sorted(CASES)


def test_committed_notebooks_are_small_and_quickstart_shows_results():
    for name in CASES:
        assert os.path.getsize(os.path.join(NOTEBOOKS, name)) < 1_000_000, f"{name} is over 1 MB"
    nb = nbformat.read(os.path.join(NOTEBOOKS, "01_quickstart.ipynb"), as_version=4)
    printed = "".join(_stdout(c) for c in nb.cells if c.cell_type == "code")
    # GitHub shows the committed outputs: they must come from a normal (not quick) run that finished.
    assert "quick mode: False" in printed
    assert re.search(CASES["01_quickstart.ipynb"], printed)


@pytest.mark.parametrize("name", list(_params()))
def test_notebook_runs(name, tmp_path, monkeypatch):
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(os.path.join(NOTEBOOKS, name), work / name)
    nb = nbformat.read(str(work / name), as_version=4)
    nbformat.validate(nb)

    first = nb.cells[[c.cell_type for c in nb.cells].index("code")].source
    assert "importlib.util.find_spec(\"tfcompress\")" in first, "the first code cell must be the install cell"
    assert any('os.environ.get("TFCOMPRESS_NOTEBOOK_QUICK") == "1"' in c.source for c in nb.cells)

    monkeypatch.setenv("TFCOMPRESS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError naming the cell if any cell fails

    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code_cells for o in c.outputs if o.get("output_type") == "error"]
    assert "quick mode: True" in "".join(_stdout(c) for c in code_cells)
    last = _stdout(code_cells[-1])
    match = re.search(CASES[name], last)
    assert match, f"{name}: the last cell printed {last!r}"
    assert 0.0 <= float(match.group(1)) <= 1.0
