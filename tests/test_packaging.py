"""What users install: the sdist, the wheel built from it, and that wheel installed the
ways people install Python tools (a venv, ``pip install --user``, ``pip install --prefix``).

Kept fast: the sdist and the wheel are built once per run by setuptools' own PEP 517
hooks in this venv (no build isolation, nothing downloaded), and installs use
``--no-deps --no-index``; tmxd's dependencies come from this venv's site-packages, put on
the path of the installed copy only once it is installed (a ``.pth`` line in a new venv,
``PYTHONPATH`` for the others). Neither processes the editable checkout's own ``.pth``,
so the installed copy is what runs, and pip never sees (nor uninstalls) this checkout.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from helpers import REPO_ROOT, git, init_repo, once_per_run

SITE_PACKAGES = sysconfig.get_paths()["purelib"]
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")


def _build(hook: str, source: Path, out: Path) -> Path:
    """Run setuptools' PEP 517 ``hook`` (build_sdist / build_wheel) in ``source``."""
    code = f"from setuptools import build_meta as b; print(b.{hook}({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=source, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel built from that sdist) of the working tree as it is now, built once
    per run and shared by the workers."""
    with once_per_run(tmp_path_factory, "dists") as (shared, first):
        base = shared / "dists"
        if first:
            shutil.rmtree(base, ignore_errors=True)  # what an earlier failed build left
            base.mkdir()
            _build_dists(base)
        return next((base / "sdist").iterdir()), next((base / "wheel").iterdir())


def _build_dists(base: Path) -> None:
    tree = base / "tree"
    listed = git(REPO_ROOT, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    for name in filter(None, listed):
        src, dst = REPO_ROOT / name, tree / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree, not committed yet
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)
    sdist = _build("build_sdist", tree, base / "sdist")
    with tarfile.open(sdist) as tar:
        tar.extractall(base / "unpacked", filter="data")
    unpacked = next((base / "unpacked").iterdir())
    _build("build_wheel", unpacked, base / "wheel")


def test_sdist_carries_docs_scripts_hooks_systemd_and_license(dists: tuple[Path, Path]) -> None:
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        member = next(m for m in tar.getmembers() if m.name.endswith("/hooks/tmxd-hook.sh"))
        hook = tar.extractfile(member)
        assert hook is not None
        assert hook.read() == (REPO_ROOT / "hooks" / "tmxd-hook.sh").read_bytes()
    for expected in (
        "LICENSE",
        "README.md",
        "docs/daemon.md",
        "docs/report.png",
        "scripts/demo",
        "scripts/bench_next.py",
        "hooks/tmxd-hook.sh",
        "systemd/tmxd.service",
        "systemd/com.tmxd.agent.plist",
        "daemon/tmxd/resources/tmxd-hook.sh",
    ):
        assert expected in names, expected


def test_wheel_carries_templates_docs_license_and_metadata(dists: tuple[Path, Path]) -> None:
    _, wheel = dists
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        assert (
            whl.read("tmxd/resources/tmxd-hook.sh")
            == (REPO_ROOT / "hooks" / "tmxd-hook.sh").read_bytes()
        )
        assert (
            whl.read("tmxd/resources/tmxd.service")
            == (REPO_ROOT / "systemd" / "tmxd.service").read_bytes()
        )
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(whl.read(meta_name))
    assert "tmxd/resources/com.tmxd.agent.plist" in names
    assert "tmxd/resources/docs/daemon.md" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("share/", "tmxd-0.1.0.data/")) for n in names)
    assert meta["License-Expression"] == "MIT"
    classifiers = meta.get_all("Classifier") or []
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert meta.get_all("Project-URL")
    assert (REPO_ROOT / "LICENSE").read_text().startswith("MIT License")


def _pip_install(python: str, args: list[str], env: dict[str, str]) -> None:
    """pip (this venv's) installing into ``python``'s environment, with no PYTHONPATH."""
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", python, "install", "--quiet"),
            *("--no-deps", "--no-index", "--ignore-installed", *args),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _install_and_hook(
    tmp_path: Path, pip_args: list[str], bin_dir: Path, env: dict[str, str]
) -> None:
    _pip_install(BASE_PYTHON, pip_args, env)
    repo = init_repo(tmp_path / "project")
    where = subprocess.run(
        [str(bin_dir / "tmxd"), "hooks", "install"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert where.returncode == 0, where.stderr
    assert "post-commit" in where.stdout
    hook = (repo / ".git" / "hooks" / "post-commit").read_text()
    assert "tmxd-managed-hook" in hook and "@HOOK@" not in hook
    # the copy that ran is the installed one, not this checkout
    origin = subprocess.run(
        [str(bin_dir / "tmxd"), "--version"], capture_output=True, text=True, env=env, check=False
    )
    assert origin.returncode == 0, origin.stderr


def _installed_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(extra)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _imported_from(python: str, env: dict[str, str]) -> Path:
    done = subprocess.run(
        [python, "-c", "import tmxd, sys; print(tmxd.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.mark.skipif(not Path(BASE_PYTHON).exists(), reason=f"no base interpreter {BASE_PYTHON}")
def test_user_install_finds_the_hook_template(dists: tuple[Path, Path], tmp_path: Path) -> None:
    _, wheel = dists
    userbase = tmp_path / "userbase"
    env = _installed_env(PYTHONUSERBASE=str(userbase), PYTHONPATH=SITE_PACKAGES)
    _install_and_hook(tmp_path, ["--user", str(wheel)], userbase / "bin", env)
    assert userbase in _imported_from(BASE_PYTHON, env).parents


@pytest.mark.skipif(not Path(BASE_PYTHON).exists(), reason=f"no base interpreter {BASE_PYTHON}")
def test_prefix_install_finds_the_hook_template(dists: tuple[Path, Path], tmp_path: Path) -> None:
    _, wheel = dists
    prefix = tmp_path / "prefix"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = prefix / "lib" / version / "site-packages"
    env = _installed_env(PYTHONPATH=os.pathsep.join([str(site), SITE_PACKAGES]))
    _install_and_hook(tmp_path, ["--prefix", str(prefix), str(wheel)], prefix / "bin", env)
    assert prefix in _imported_from(BASE_PYTHON, env).parents


@pytest.mark.slow
def test_wheel_from_the_sdist_runs_the_demo_in_a_fresh_venv(
    dists: tuple[Path, Path], tmp_path: Path
) -> None:
    _, wheel = dists
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    env = _installed_env()
    _pip_install(str(python), [str(wheel)], env)
    (site / "_tmxd_test_deps.pth").write_text(SITE_PACKAGES + "\n")
    assert site in _imported_from(str(python), env).parents
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    demo = subprocess.run(
        [str(venv / "bin" / "tmxd"), "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-3000:]
    assert "Done; the demo project was removed" in demo.stdout
    assert "fail " not in demo.stdout
