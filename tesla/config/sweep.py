"""Multirun sweeps through Hydra's own sweeper and launcher, driven from Python (no ``@hydra.main``).

The same machinery as ``python app.py --multirun``: the config is composed in MULTIRUN mode,
the configured sweeper (``hydra/sweeper``, the basic grid sweeper by default) expands the
comma-separated overrides, and the configured launcher (``hydra/launcher=basic`` in-process,
``hydra/launcher=joblib`` in worker processes, or any launcher plugin) calls the task
function once per point with that point's composed config. This is what hydra-zen's
``launch(..., multirun=True)`` does.

Hydra's global state is held behind compose's lock for the whole sweep (hydra issue #2010),
so a task function must not compose again: it gets the point's config as its argument.
Output directories go under the given sweep directory and Hydra never changes the
working directory (``hydra.job.chdir=False``); Hydra's own logging is off unless asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tesla.config._errors import override_key, translate
from tesla.config._files import check_conf_files
from tesla.config.compose import _LOCK, DEFAULT_CONF_DIR, _project_conf, _store_schemas
from tesla.errors import ConfigError

__all__ = ["BASIC_SWEEPER", "SweepSetup", "is_hydra_override", "run_sweep", "sweep_setup"]

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
_CONFIG_NAME = "config"


@dataclass(frozen=True)
class SweepSetup:
    """What a sweep will do, known before anything runs.

    Attributes:
        sweeper: the sweeper's ``_target_``.
        launcher: the launcher's ``_target_``.
        base: the resolved config without the swept values (plain dicts, no ``hydra`` key).
        points: each grid point's overrides (Hydra's own expansion); None when the sweeper
            chooses points as it goes (e.g. Optuna), so they cannot be listed ahead.
    """

    sweeper: str
    launcher: str
    base: dict[str, Any]
    points: list[list[str]] | None


def _translate_sweep(exc: Exception, overrides: Sequence[str], project_dir: Path) -> ConfigError:
    """``_translate``, plus Hydra's own groups (``hydra/launcher``, ``hydra/sweeper``) whose options Hydra lists."""
    import difflib
    import re

    text = str(exc)
    missing = re.search(r"Could not find '(hydra/[^']+)/([^'/]+)'", text)
    if not missing:
        return translate(exc, overrides, project_dir)
    group, option = missing.groups()
    listed = text.split(f"Available options in '{group}':", 1)[-1].split("Config search path", 1)[0]
    options = sorted(o.strip() for o in listed.splitlines() if o.strip())
    close = difflib.get_close_matches(option, options, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    extra = " (launchers and sweepers are Hydra plugins: pip install hydra-joblib-launcher, ...)" if not close else ""
    return ConfigError(f"unknown option '{option}' for config group '{group}'. Available: {', '.join(options)}."
                       f"{hint}{extra}", key=group)


def is_hydra_override(override: str) -> bool:
    """Whether an override configures Hydra itself (launcher, sweeper, output dirs) rather than Tesla."""
    return override.lstrip("+~").startswith(("hydra.", "hydra/"))


def _hydra_settings(overrides: Sequence[str], sweep_dir: Path | None) -> list[str]:
    given = {override_key(o) for o in overrides}
    out = ["hydra.job.chdir=False"]
    # Hydra's logging configures the root logger; Tesla renders its own progress
    out += [f"hydra/{group}=none" for group in ("job_logging", "hydra_logging") if f"hydra/{group}" not in given]
    if sweep_dir is not None:
        out.append(f"hydra.sweep.dir={sweep_dir}")
    return out


@contextmanager
def _multirun(overrides: Sequence[str], project_dir: Path, backend_schemas: Mapping[str, type],
              sweep_dir: Path | None) -> Iterator[tuple[Any, Any]]:
    """(the initialised GlobalHydra, the MULTIRUN config), inside the compose lock."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    primary = _project_conf(project_dir)
    extra = [f"hydra.searchpath=[file://{DEFAULT_CONF_DIR}]"] if primary else []
    if primary:
        check_conf_files(primary, project_dir)
    with _LOCK:
        GlobalHydra.instance().clear()
        _store_schemas(backend_schemas)
        try:
            with initialize_config_dir(config_dir=str(primary or DEFAULT_CONF_DIR), version_base="1.3",
                                       job_name="tesla"):
                gh = GlobalHydra.instance()
                try:
                    cfg = gh.hydra.compose_config(
                        config_name=_CONFIG_NAME, run_mode=RunMode.MULTIRUN, from_shell=False,
                        overrides=[*overrides, *_hydra_settings(overrides, sweep_dir), *extra])
                except (HydraException, OmegaConfBaseException, ValueError) as exc:
                    raise _translate_sweep(exc, overrides, project_dir) from None
                yield gh, cfg
        finally:
            GlobalHydra.instance().clear()


def _base_config(cfg: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf, open_dict

    base = cfg.copy()
    with open_dict(base):
        del base["hydra"]
    plain = OmegaConf.to_container(base, resolve=True)
    assert isinstance(plain, dict)
    return plain


def _grid(gh: Any, cfg: Any) -> list[list[str]]:
    """Each point's overrides, expanded exactly as Hydra's basic sweeper expands them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.get("params") or {}).items()]
    task = OmegaConf.to_container(cfg.hydra.overrides.task, resolve=False)
    assert isinstance(task, list)
    parsed = OverridesParser.create(config_loader=gh.config_loader()).parse_overrides([*params, *task])
    return [point for batch in BasicSweeper.split_arguments(parsed, None) for point in batch]


def _check_point(gh: Any, cfg: Any, point: list[str], project_dir: Path) -> None:
    """Compose one point as its launcher will (the swept values only apply per point)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        gh.config_loader().load_sweep_config(cfg, list(point))
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise _translate_sweep(exc, point, project_dir) from None


def sweep_setup(overrides: Sequence[str], *, project_dir: str | Path,
                backend_schemas: Mapping[str, type]) -> SweepSetup:
    """The sweeper, launcher, base config and (for grid sweeps) every point, without running anything.

    Raises:
        ConfigError: an override Hydra cannot compose (the key and a hint are named).
    """
    project = Path(project_dir).resolve()
    with _multirun(overrides, project, backend_schemas, None) as (gh, cfg):
        sweeper = str(cfg.hydra.sweeper.get("_target_"))
        points = _grid(gh, cfg) if sweeper == BASIC_SWEEPER else None
        for point in points or []:
            _check_point(gh, cfg, point, project)
        return SweepSetup(sweeper=sweeper, launcher=str(cfg.hydra.launcher.get("_target_")),
                          base=_base_config(cfg), points=points)


def run_sweep(overrides: Sequence[str], task_function: Callable[[Any], Any], *, project_dir: str | Path,
              sweep_dir: str | Path, backend_schemas: Mapping[str, type]) -> Any:
    """Run ``task_function`` once per sweep point through the configured sweeper and launcher.

    Args:
        overrides: Hydra overrides with comma-separated sweeps (``search.metric=roc_auc,log_loss``),
            including Hydra's own (``hydra/launcher=joblib``, ``hydra.launcher.n_jobs=2``).
        task_function: called with each point's composed config (no ``hydra`` key). It must be
            picklable (a module-level function or a ``functools.partial`` of one) for launchers
            that run points in other processes.
        project_dir: the project whose ``conf/`` overrides the defaults.
        sweep_dir: where Hydra writes each point's ``.hydra/`` record (``<sweep_dir>/<num>``).
        backend_schemas: backend name -> its config dataclass.

    Returns:
        What the sweeper returns (the basic sweeper: one list of ``JobReturn`` per batch).

    Raises:
        ConfigError: an override Hydra cannot compose.
        Exception: the first failed point's exception, after every point of its batch ran.
    """
    from hydra._internal.callbacks import Callbacks
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext
    from omegaconf import OmegaConf

    with _multirun(overrides, Path(project_dir).resolve(), backend_schemas, Path(sweep_dir)) as (gh, cfg):
        callbacks = Callbacks(cfg)
        callbacks.on_multirun_start(config=cfg, config_name=_CONFIG_NAME)
        try:
            sweeper = Plugins.instance().instantiate_sweeper(
                config=cfg, hydra_context=HydraContext(config_loader=gh.config_loader(), callbacks=callbacks),
                task_function=task_function)
        except Exception as exc:  # noqa: BLE001  # Hydra raises bare exceptions for unknown plugins
            raise ConfigError(f"cannot start the sweep: {str(exc).splitlines()[0]}", key="hydra") from exc
        task_overrides = OmegaConf.to_container(cfg.hydra.overrides.task, resolve=False)
        assert isinstance(task_overrides, list)
        try:
            returns = sweeper.sweep(arguments=task_overrides)
        finally:
            _release_workers(str(cfg.hydra.launcher.get("_target_")))
        callbacks.on_multirun_end(config=cfg, config_name=_CONFIG_NAME)
        return returns


def _release_workers(launcher: str) -> None:
    """Stop the joblib launcher's worker processes: loky keeps them idling for minutes otherwise."""
    if "joblib" in launcher:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
