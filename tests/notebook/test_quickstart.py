"""``examples/quickstart.ipynb`` runs top to bottom in a fresh kernel of this interpreter, with no error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesla.project import Project

nbclient = pytest.importorskip("nbclient", reason="the dev extra installs nbclient, nbformat and ipykernel")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).parents[2] / "examples" / "quickstart.ipynb"


def _kernel_of_this_python(tmp_path: Path) -> str:
    """A kernelspec running this interpreter (ipykernel writes sys.executable), so the notebook imports the Tesla under test."""
    from ipykernel.kernelspec import install

    install(prefix=str(tmp_path / "jupyter"), kernel_name="tesla-test")
    spec = tmp_path / "jupyter" / "share" / "jupyter" / "kernels" / "tesla-test" / "kernel.json"
    assert spec.is_file()
    return str(tmp_path / "jupyter" / "share" / "jupyter")


def test_the_quickstart_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", _kernel_of_this_python(tmp_path))
    monkeypatch.setenv("TESLA_USER", "notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="tesla-test", timeout=300, resources={"metadata": {
        "path": str(tmp_path)}})
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebook's project lands here, so it is found below
    try:
        client.execute()  # raises CellExecutionError on the first failing cell
    finally:  # a cell that failed after deploy leaves a server running: stop it (by its recorded PID)
        for root in tmp_path.glob("tesla-quickstart-*/quickstart"):
            project = Project(root)
            for d in project.deployments.list(active_only=True):
                project.deployments.stop(d.model)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("Dataset bc@1" in h for h in html) and any("<svg" in h for h in html)
    assert any("Monitor check of bc_model" in h for h in html)
    streams = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "\x1b[" not in streams and "\r" not in streams  # progress drew no escape codes into a cell
    assert any("stopped" in h and "Deployment of bc_model@1" in h for h in html)  # the server is stopped
