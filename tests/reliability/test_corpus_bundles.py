"""Hostile model bundles: every tampered variant of a real registered bundle is refused.

Each case copies a project holding one tiny trained model, tampers with the bundle object the
store resolves (``.tesla/artifacts/objects/<sha[:2]>/<sha>/``), and runs ``tesla predict``,
``evaluate`` or ``deploy``: one ``Error:`` line naming the file inside the bundle, exit 1, no
traceback, the store unchanged, and no code from the bundle run (the payloads write a marker
file if they ever execute).

Two kinds of tamperer:

* **in place**: edits the stored object only; the hashes recorded at registration catch it
  and name the file that was changed, added or removed (or the link, or the edited hash list);
* **forged**: also stores the edited bundle anew and points the model's row at it, as someone
  who can write the whole store would, so the hashes agree and only the schemas and the
  loaders stand in the way.

The ``e2e`` cases prove the same through the installed ``tesla`` executable and the serving
process (``python -m tesla.serving --bundle DIR``, the one command that takes a bundle path).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_tesla, store_snapshot
from tests.reliability.corpus import assert_one_error, assert_refused

MARKER = "code-ran"  # written by a payload that executes: its presence fails the case


class Exploit:
    """Unpickling or reconstructing this writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (Path.write_text, (self.marker, "pwned"))


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with 200 rows of bc and model 'm' (2 trials), plus the rows as rows.csv."""
    from tesla import api
    from tesla.testing import datasets

    root = api.init_project(tmp_path_factory.mktemp("bundles") / "proj")
    datasets.breast_cancer().head(200).to_csv(root / "rows.csv", index=False)
    api.load(root / "rows.csv", "bc", target="target", project_dir=root)
    api.train("m", max_iter=2, project_dir=root)
    return root


@pytest.fixture
def project(registered: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(registered, tmp_path / "proj", symlinks=True))


def _sha(project: Path) -> str:
    with sqlite3.connect(project / ".tesla" / "tesla.db") as db:
        return db.execute("select bundle_sha from models where name = 'm'").fetchone()[0]


def _object(project: Path) -> Path:
    sha = _sha(project)
    return project / ".tesla" / "artifacts" / "objects" / sha[:2] / sha


# -- edits of a bundle directory ---------------------------------------------------------------
Edit = Callable[[Path, Path], None]  # (bundle dir, scratch dir outside the project)


def _manifest(change: Callable[[dict[str, Any]], None]) -> Edit:
    def edit(tree: Path, _scratch: Path) -> None:
        manifest = json.loads((tree / "manifest.json").read_text())
        change(manifest)
        (tree / "manifest.json").write_text(json.dumps(manifest))
    return edit


def _features(change: Callable[[list[dict[str, Any]]], None]) -> Edit:
    def edit(tree: Path, _scratch: Path) -> None:
        data = json.loads((tree / "preprocess.json").read_text())
        change(data["features"])
        (tree / "preprocess.json").write_text(json.dumps(data))
    return edit


def _write(name: str, content: bytes) -> Edit:
    return lambda tree, _scratch: (tree / name).write_bytes(content)


def _truncate(name: str) -> Edit:
    def edit(tree: Path, _scratch: Path) -> None:
        data = (tree / name).read_bytes()
        (tree / name).write_bytes(data[: len(data) // 2])
    return edit


def _remove(name: str) -> Edit:
    return lambda tree, _scratch: (tree / name).unlink()


def _link(name: str, target: Callable[[Path, Path], Path]) -> Edit:
    """``name`` becomes a symbolic link to ``target(tree, scratch)`` (replacing any file of that name)."""
    def edit(tree: Path, scratch: Path) -> None:
        dest = target(tree, scratch)
        (tree / name).unlink(missing_ok=True)
        (tree / name).symlink_to(dest)
    return edit


def _copy_out(name: str) -> Callable[[Path, Path], Path]:
    """The same bytes, outside the bundle: a link to them hashes as the original would."""
    def target(tree: Path, scratch: Path) -> Path:
        return Path(shutil.copyfile(tree / name, scratch / name))
    return target


def _pickle_payload(tree: Path, scratch: Path) -> None:
    (tree / "model.skops").write_bytes(pickle.dumps(Exploit(scratch / MARKER)))


def _skops_payload(tree: Path, scratch: Path) -> None:
    import skops.io as sio

    sio.dump(Exploit(scratch / MARKER), tree / "model.skops")


# -- tamperers -----------------------------------------------------------------------------------
def in_place(edit: Edit) -> Callable[[Path, Path], None]:
    """Edit the stored object only."""
    return lambda project, scratch: edit(_object(project) / "tree", scratch)


def in_object(edit: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    """Edit the object directory around the tree (its hash list, the tree itself)."""
    return lambda project, scratch: edit(_object(project), scratch)


def forged(edit: Edit) -> Callable[[Path, Path], None]:
    """Store the edited bundle anew and point the model's row at it: the hashes agree."""
    def tamper(project: Path, scratch: Path) -> None:
        from tesla.store import ArtifactStore

        work = Path(shutil.copytree(_object(project) / "tree", scratch / "forged"))
        edit(work, scratch)
        sha = ArtifactStore(project / ".tesla" / "artifacts").put(work)
        with sqlite3.connect(project / ".tesla" / "tesla.db") as db:
            db.execute("update models set bundle_sha = ? where name = 'm'", (sha,))
    return tamper


def _edit_hash_list(obj: Path, _scratch: Path) -> None:
    """A careful tamperer: replace the weights and write their new hash into the hash list too."""
    import hashlib

    (obj / "tree" / "model.skops").write_bytes(b"PK\x03\x04 not the model")
    digest = hashlib.sha256((obj / "tree" / "model.skops").read_bytes()).hexdigest()
    lines = [line.split("\0") for line in (obj / "_FILES").read_text().split("\n")]
    (obj / "_FILES").write_text("\n".join(f"{p}\0{digest if p == 'model.skops' else h}" for p, h in lines))


def _drop_hash_list_and_edit(obj: Path, _scratch: Path) -> None:
    (obj / "_FILES").unlink()
    _features(lambda fs: fs[0].update(fill=1e9))(obj / "tree", _scratch)


def _tree_linked_out(obj: Path, scratch: Path) -> None:
    outside = Path(shutil.copytree(obj / "tree", scratch / "outside"))
    shutil.rmtree(obj / "tree")
    (obj / "tree").symlink_to(outside, target_is_directory=True)


def _bogus_type(features: list[dict[str, Any]]) -> None:
    features[0]["type"] = "python"


COMMANDS: dict[str, list[str]] = {
    "predict": ["predict", "-m", "m", "-d", "rows.csv"],
    "evaluate": ["evaluate", "-m", "m", "-d", "rows.csv"],
    "deploy": ["deploy", "-m", "m", "deploy.health_timeout_s=5"],
}

# case id -> (tamperer, command, regex the one error line must match)
CASES: dict[str, tuple[Callable[[Path, Path], None], str, str]] = {
    # in place: the hashes recorded at registration name the file
    "model-file-symlinked-out": (in_place(_link("model.skops", _copy_out("model.skops"))), "predict",
                                 r"bundle of m@1: 'model\.skops' is a symbolic link"),
    "extra-symlink": (in_place(_link("notes.txt", lambda t, s: Path("/etc/passwd"))), "evaluate",
                      r"'notes\.txt' is a symbolic link \(to '/etc/passwd'\)"),
    "tree-symlinked-out": (in_object(_tree_linked_out), "deploy", r"bundle of m@1: its tree is a link"),
    "weights-replaced": (in_place(_pickle_payload), "predict", r"'model\.skops' was changed after it was stored"),
    "weights-truncated": (in_place(_truncate("model.skops")), "deploy", r"'model\.skops' was changed"),
    "manifest-weights-path-edited": (in_place(_manifest(lambda m: m["weights"].update(file="../../x"))), "predict",
                                     r"'manifest\.json' was changed after it was stored"),
    "preprocess-edited": (in_place(_features(_bogus_type)), "deploy", r"'preprocess\.json' was changed"),
    "extra-file-added": (in_place(_write("extra.py", b"import os\n")), "evaluate",
                         r"'extra\.py' was added after it was stored"),
    "file-removed": (in_place(_remove("preprocess.json")), "predict", r"'preprocess\.json' was removed"),
    "hash-list-edited": (in_object(_edit_hash_list), "evaluate", r"hash list _FILES was edited"),
    "hash-list-deleted": (in_object(_drop_hash_list_and_edit), "predict", r"tree's sha256 no longer matches"),
    # forged: the hashes agree; the schemas and loaders refuse
    "forged-weights-path-dotdot": (forged(_manifest(lambda m: m["weights"].update(file="../x"))), "predict",
                                   r"manifest\.json field 'weights\.file' is '\.\./x'; it must be a file inside"),
    "forged-weights-path-absolute": (forged(_manifest(lambda m: m["weights"].update(file="/etc/passwd"))), "deploy",
                                     r"'weights\.file' is '/etc/passwd'; it must be a file inside the bundle"),
    "forged-manifest-missing-key": (forged(_manifest(lambda m: m.pop("task"))), "evaluate",
                                    r"manifest\.json field 'task' is missing"),
    "forged-manifest-wrong-type": (forged(_manifest(lambda m: m.update(classes="benign"))), "predict",
                                   r"manifest\.json field 'classes' must be array or null; got string"),
    "forged-unknown-framework": (forged(_manifest(lambda m: m.update(framework="pickle"))), "deploy",
                                 r"field 'framework' is 'pickle'; expected one of scikit-learn"),
    "forged-unknown-bundle-format": (forged(_manifest(lambda m: m.update(bundle_format=2))), "predict",
                                     r"field 'bundle_format' is 2; this Tesla reads format 1"),
    "forged-unknown-manifest-field": (forged(_manifest(lambda m: m.update(loader="os.system"))), "evaluate",
                                      r"field 'loader' is not a field Tesla writes"),
    "forged-manifest-not-json": (forged(_write("manifest.json", b"{\"bundle_format\": 1,")), "predict",
                                 r"manifest\.json is not valid JSON"),
    "forged-preprocess-bogus-type": (forged(_features(_bogus_type)), "deploy",
                                     r"preprocess\.json field 'features\[0\]\.type' is 'python'; expected one of"),
    "forged-preprocess-missing": (forged(_remove("preprocess.json")), "predict", r"preprocess\.json is missing"),
    "forged-preprocess-not-json": (forged(_write("preprocess.json", b"\xff\xfe not json")), "evaluate",
                                   r"preprocess\.json is not valid JSON"),
    "forged-preprocess-null-fill": (forged(_features(lambda fs: fs[1].update(fill=None))), "predict",
                                    r"'features\[1\]\.fill' must be number; got null"),
    "forged-preprocess-unknown-field": (forged(_features(lambda fs: fs[0].update(code="x"))), "deploy",
                                        r"'features\[0\]\.code' is not a field Tesla writes"),
    "forged-signature-mismatch": (forged(_features(lambda fs: fs.pop(3))), "deploy",
                                  r"preprocess\.json field 'features\[3\]' does not match manifest\.json's signature"),
    "forged-weights-pickle": (forged(_pickle_payload), "predict",
                              r"'model\.skops': not a skops file written by Tesla \(BadZipFile"),
    "forged-weights-untrusted-type": (forged(_skops_payload), "evaluate",
                                      r"'model\.skops': it holds untrusted type\(s\) .*Exploit"),
    "forged-weights-truncated": (forged(_truncate("model.skops")), "deploy", r"'model\.skops': not a skops file"),
    "forged-weights-missing": (forged(_remove("model.skops")), "predict",
                               r"the weights file 'model\.skops' is missing"),
}


@pytest.mark.parametrize("tamper,command,names", CASES.values(), ids=CASES.keys())
def test_a_tampered_bundle_is_refused_in_one_line(project: Path, tmp_path: Path, tamper: Callable[[Path, Path], None],
                                                  command: str, names: str) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    tamper(project, scratch)
    line = assert_refused(project, *COMMANDS[command], names=names)
    assert "m@1" in line  # which model's bundle
    assert not (scratch / MARKER).exists(), "the bundle's payload ran"
    assert not list((project / ".tesla").glob("logs/*.log")), "a server was started"


def test_the_untampered_copy_predicts(project: Path) -> None:
    """The control: the copy the cases tamper with is itself accepted."""
    from tests.reliability.corpus import cli

    outcome = cli(*COMMANDS["predict"], cwd=project)
    assert outcome.code == 0, outcome.err


# -- through the real executable and the serving process ---------------------------------------
@pytest.mark.e2e
def test_replaced_weights_are_refused_by_the_installed_cli(project: Path, tmp_path: Path) -> None:
    in_place(_pickle_payload)(project, tmp_path)
    before = store_snapshot(project)
    proc = run_tesla(*COMMANDS["predict"], cwd=project, check=False, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith("Error: "), proc.stderr
    assert "'model.skops' was changed" in proc.stderr and "Traceback" not in proc.stderr
    assert store_snapshot(project) == before and not (tmp_path / MARKER).exists()


@pytest.mark.e2e
def test_a_forged_preprocess_fails_deploy_not_requests(project: Path, tmp_path: Path) -> None:
    forged(_features(_bogus_type))(project, tmp_path)
    before = store_snapshot(project)
    proc = run_tesla(*COMMANDS["deploy"], cwd=project, check=False, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "features[0].type' is 'python'" in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr and store_snapshot(project) == before


SERVE_CASES: dict[str, tuple[Edit, str]] = {
    "serve-bogus-feature-type": (_features(_bogus_type), r"preprocess\.json field 'features\[0\]\.type' is 'python'"),
    "serve-model-symlinked-out": (_link("model.skops", _copy_out("model.skops")), r"'model\.skops' is a symbolic link"),
    "serve-weights-path-dotdot": (_manifest(lambda m: m["weights"].update(file="../model.skops")),
                                  r"'weights\.file' is '\.\./model\.skops'"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("edit,names", SERVE_CASES.values(), ids=SERVE_CASES.keys())
def test_the_serving_process_refuses_a_bad_bundle_at_startup(registered: Path, tmp_path: Path, edit: Edit,
                                                             names: str) -> None:
    """``python -m tesla.serving --bundle DIR`` takes a path: no store hashes, the checks alone refuse."""
    bundle = Path(shutil.copytree(_object(registered) / "tree", tmp_path / "bundle"))
    edit(bundle, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "tesla.serving", "--bundle", str(bundle), "--port", "0"],
                          check=False, capture_output=True, text=True, timeout=120, env={**os.environ})
    from tests.reliability.corpus import Outcome

    assert_one_error(Outcome(proc.returncode, proc.stdout, proc.stderr), code=1, names=names)
