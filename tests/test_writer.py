"""The writer never leaves output that lies: concurrent compiles take turns, every byte is
written or the run fails, and a file system that refuses a write is a clear error (exit 2)
with the previous tree whole. Real limits (RLIMIT_FSIZE, tmpfs mounts) where the machine
allows them; the same error paths simulated in-process everywhere."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import random
import resource
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.errors import UsageError
from compiler.output import guard
from compiler.output.writer import (
    Staged,
    read_tree,
    stage_part,
    staging,
    write_file_atomically,
    write_tree,
)
from tests.conftest import REPO, commit_example, run_cli

ENVIRONMENTS = ("dev", "prod", "staging")


def _snapshot(out: Path) -> dict[str, bytes]:
    """Every file under `out`, the marker included."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _assert_whole(out: Path) -> None:
    """The marker, every environment, and each index.json naming exactly the files beside
    it with their sha256."""
    assert (out / ".gitopsc").is_file(), "marker missing"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == list(ENVIRONMENTS)
    for env in ENVIRONMENTS:
        index = json.loads((out / env / "index.json").read_bytes())["files"]
        files = {
            p.relative_to(out / env).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (out / env).rglob("*")
            if p.is_file() and p.name != "index.json"
        }
        assert files == {path: entry["sha256"] for path, entry in index.items()}, env


def _no_strays(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if "gitopsc" in p.name] == []


def _edit(root: Path) -> None:
    """A change that alters files of staging and prod, their index.json among them."""
    service = root / "catalog/services/synapse.yaml"
    service.write_text(service.read_text().replace("cpu: 250m", "cpu: 260m"))


# --- two compiles at once ---------------------------------------------------------------


def _compile_in_child(root: Path, report: Path) -> int:
    """Start `gitopsc compile` in a forked process (a separate process that starts at once,
    without an interpreter start's jitter); a failure's output goes to `report`."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 70
        try:
            result = run_cli("compile", "--root", str(root))
            code = result.exit_code if result.exception is None else 71
            if code:
                report.write_text(f"{result.stderr}{result.exception!r}")
        finally:
            os._exit(code)
    return pid


def test_two_compiles_at_once_always_leave_a_whole_tree(example: Path, tmp_path: Path):
    """Before the lock, each run's recovery removed the other's live build folder: some
    rounds in 20 left no marker and environments missing, or a run crashed."""
    for round_ in range(20):
        report = tmp_path / f"round-{round_}.txt"
        children = [_compile_in_child(example, report) for _ in range(2)]
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
        assert codes == [0, 0], f"round {round_}: {report.read_text() if report.exists() else ''}"
        _assert_whole(example / "rendered")
        _no_strays(example)


def _hold_lock(out: Path, pid: str) -> int:
    """Take the output folder's lock as another gitopsc would, with its pid in the file."""
    descriptor = os.open(out.parent / f".{out.name}.gitopsc-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    os.write(descriptor, f"{pid}\n".encode())
    return descriptor


def test_a_second_compile_waits_naming_the_pid_then_writes(example: Path):
    out = example / "rendered"
    descriptor = _hold_lock(out, "4242")

    def release() -> None:
        time.sleep(0.5)
        (out.parent / ".rendered.gitopsc-lock").unlink()  # as a holder does on release
        os.close(descriptor)

    releaser = threading.Thread(target=release)
    releaser.start()
    started = time.monotonic()
    result = run_cli("compile", "--root", str(example))
    releaser.join()
    assert result.exit_code == 0, result.stderr
    assert f"waiting for gitopsc (pid 4242) to finish writing {out}" in result.stderr
    assert time.monotonic() - started >= 0.5
    _assert_whole(out)
    _no_strays(example)  # the lock file is removed on release


def test_a_compile_gives_up_after_the_timeout(example: Path, monkeypatch: pytest.MonkeyPatch):
    out = example / "rendered"
    monkeypatch.setattr(guard, "LOCK_TIMEOUT", 0.3)
    descriptor = _hold_lock(out, "4242")
    try:
        result = run_cli("compile", "--root", str(example))
    finally:
        os.close(descriptor)
    assert result.exit_code == 2 and result.exception is None
    assert "gave up after 0 s waiting for gitopsc (pid 4242)" in result.stderr
    assert not out.exists()


def test_recovery_removes_only_build_folders_whose_owner_is_gone(example: Path):
    """A killed run's build folder is removed; a live process's, or another output
    folder's (`rendered-x`), is not."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "60"])
    try:
        names = {
            "dead": f".gitopsc-build-rendered-{dead.pid}",
            "live": f".gitopsc-build-rendered-{live.pid}",
            "other": f".gitopsc-build-rendered-x-{dead.pid}",
        }
        for name in names.values():
            (example / name).mkdir()
        assert run_cli("compile", "--root", str(example)).exit_code == 0
        assert not (example / names["dead"]).exists()
        assert (example / names["live"]).is_dir() and (example / names["other"]).is_dir()
    finally:
        live.kill()
        live.wait()


def test_recovery_leaves_a_sibling_output_folders_backup_alone(example: Path, tmp_path: Path):
    """The fallback swap renames `<out>` to `.gitopsc-backup-<out>-<pid>` for a moment.
    A run into `out` restores or removes only its own such backup, never the one of a
    sibling output folder `out-x` (whose name also starts with `out-`): that is out-x's
    whole tree."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    out, sibling = tmp_path / "out", tmp_path / "out-x"
    assert run_cli("compile", "--root", str(example), "--out", str(sibling)).exit_code == 0
    trees = read_tree(sibling, ENVIRONMENTS)
    backup = tmp_path / f".gitopsc-backup-out-x-{dead.pid}"
    sibling.rename(backup)  # out-x's run killed between its two renames
    for _ in range(2):  # `out` missing (it would be restored from there), then present
        assert run_cli("compile", "--root", str(example), "--out", str(out)).exit_code == 0
        assert read_tree(backup, ENVIRONMENTS) == trees and (backup / ".gitopsc").is_file()
        assert not sibling.exists()

    own = tmp_path / f".gitopsc-backup-out-{dead.pid}"
    out.rename(own)  # out's own backup is still restored
    assert run_cli("compile", "--root", str(example), "--out", str(out)).exit_code == 0
    assert not own.exists() and read_tree(out, ENVIRONMENTS) == trees
    assert backup.is_dir()


# --- every byte written, or an error ----------------------------------------------------


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """os.write may write less than asked and say so; the writer writes the rest."""
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda handle, data: real_write(handle, data[:1000]))
    tree = {"dev/big.yaml": bytes(range(256)) * 800, "dev/small.yaml": b"x\n"}
    write_tree(tmp_path / "out", [tree], ["dev"], remove_others=True)
    assert read_tree(tmp_path / "out", ["dev"]) == tree


@pytest.mark.parametrize("workers", [False, True])
def test_a_file_size_limit_is_a_clear_error_and_keeps_the_old_tree(example: Path, workers: bool):
    """Under `ulimit -f 64` the compile used to exit 0 with files cut at 65,536 bytes.
    The same in forked render workers, as for a large catalog: they stage the files of
    their environments themselves (writer.py `stage_part`), and a limit must not kill
    them (SIGXFSZ) but fail their write, named."""
    out = example / "rendered"
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    before = _snapshot(out)
    _edit(example)
    limit = 64 * 1024
    assert max(len(data) for data in before.values()) > limit  # the limit bites

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    forced = "import compiler.pipeline.load as load; load._PARALLEL_FROM = 0; " if workers else ""
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{forced}from compiler.cli import main; main()",
            "compile",
            "--root",
            str(example),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        preexec_fn=limited,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=120,
    )
    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr
    assert f"cannot write {out}/" in process.stderr and "File too large (EFBIG)" in process.stderr
    assert f"the previous output in {out} is unchanged" in process.stderr
    assert _snapshot(out) == before
    _no_strays(example)


def _fail_writes(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Every os.write to a regular file fails with `code`, as on a full or broken disk."""
    real_write = os.write

    def failing(handle: int, data: bytes) -> int:
        if stat.S_ISREG(os.fstat(handle).st_mode):
            raise OSError(code, os.strerror(code))
        return real_write(handle, data)

    monkeypatch.setattr(os, "write", failing)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO])
def test_a_failed_write_is_a_clear_error_simulated(
    example: Path, monkeypatch: pytest.MonkeyPatch, code: int
):
    """The same error path without mounts: the os-level write fails with `code`."""
    out = example / "rendered"
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    before = _snapshot(out)
    _edit(example)

    _fail_writes(monkeypatch, code)
    result = run_cli("compile", "--root", str(example))
    assert result.exit_code == 2 and result.exception is None
    assert f"error: cannot write {out}/" in result.stderr
    assert f"{os.strerror(code)} ({errno.errorcode[code]})" in result.stderr
    assert f"the previous output in {out} is unchanged" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _snapshot(out) == before
    _no_strays(example)


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs at `folder`; a loud skip where this machine cannot mount one."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"SKIPPED, NOT TESTED: cannot mount a tmpfs here ({mounted.stderr.strip()}; needs "
            "root with CAP_SYS_ADMIN); test_a_failed_write_is_a_clear_error_simulated "
            "covers the error path in-process"
        )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def test_a_read_only_output_file_system_is_a_clear_error(example: Path, tmp_path: Path):
    with _tmpfs(tmp_path / "mnt", "16m") as mnt:
        out = mnt / "rendered"
        assert run_cli("compile", "--root", str(example), "--out", str(out)).exit_code == 0
        before = _snapshot(out)
        _edit(example)
        _remount(mnt, "ro")
        result = run_cli("compile", "--root", str(example), "--out", str(out))
        assert result.exit_code == 2 and result.exception is None
        assert f"error: cannot write {out}: Read-only file system (EROFS)" in result.stderr
        assert _snapshot(out) == before
        target = mnt / "report.json"
        with pytest.raises(UsageError, match=f"cannot write {target}: Read-only file"):
            write_file_atomically(target, b"{}")


def test_a_full_disk_is_a_clear_error_and_keeps_the_old_tree(example: Path, tmp_path: Path):
    with _tmpfs(tmp_path / "mnt", "16m") as mnt:
        out = mnt / "rendered"
        result = run_cli("compile", "--root", str(example), "--out", str(out), "--env", "dev")
        assert result.exit_code == 0
        before = _snapshot(out)
        used = os.statvfs(mnt)
        _remount(mnt, f"size={(used.f_blocks - used.f_bfree) * used.f_frsize + 64 * 1024}")
        result = run_cli("compile", "--root", str(example), "--out", str(out))
        assert result.exit_code == 2 and result.exception is None
        assert f"error: cannot write {out}/" in result.stderr
        assert "No space left on device (ENOSPC)" in result.stderr
        assert _snapshot(out) == before
        _no_strays(mnt)


# --- paths that cannot be written ---------------------------------------------------------


@pytest.mark.parametrize("below", ["a-file/out", "a-file/deeper/out"])
def test_out_below_a_regular_file_is_a_clear_error(example: Path, tmp_path: Path, below: str):
    (tmp_path / "a-file").write_text("not a folder\n")
    out = tmp_path / below
    result = run_cli("compile", "--root", str(example), "--out", str(out))
    assert result.exit_code == 2 and result.exception is None
    assert "is a file, not a folder" in result.stderr and str(tmp_path / "a-file") in result.stderr
    assert (tmp_path / "a-file").read_text() == "not a folder\n"


def test_check_output_to_an_unwritable_path_is_a_clear_error(example: Path, tmp_path: Path):
    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "report.json"
    result = run_cli("check", "--root", str(example), "-f", "json", "-o", str(target))
    assert result.exit_code == 2 and result.exception is None
    assert result.stderr.strip() == (
        f"error: cannot write {target}: {tmp_path / 'a-file'} is a file, not a folder"
    )


def test_diff_output_to_an_unwritable_path_is_a_clear_error(example: Path, tmp_path: Path):
    commit_example(example)
    target = tmp_path / "a-folder"
    target.mkdir()
    result = run_cli("diff", "--root", str(example), "--base", "main", "--output", str(target))
    assert result.exit_code == 2 and result.exception is None
    # refused before any work, by name (check_report_target), not by the file system
    assert result.stderr.startswith(f"error: --output '{target}' is a folder, not a file")
    assert list(target.iterdir()) == [] and not list(tmp_path.glob(".a-folder*"))


def test_a_report_on_a_full_disk_is_a_clear_error_and_leaves_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    target = tmp_path / "report.json"
    target.write_bytes(b"old\n")

    _fail_writes(monkeypatch, errno.ENOSPC)
    with pytest.raises(UsageError, match="No space left on device"):
        write_file_atomically(target, b"new\n")
    assert target.read_bytes() == b"old\n" and [p.name for p in tmp_path.iterdir()] == [
        "report.json"
    ]


# --- a symlinked output folder ------------------------------------------------------------


def test_a_symlinked_output_folder_is_written_where_it_points(example: Path, tmp_path: Path):
    """The link stays, its target gets the tree, and nothing is left beside either (the
    exchanged link used to stay behind as .gitopsc-build-rendered-<pid>)."""
    target = tmp_path / "elsewhere" / "rendered-target"
    target.mkdir(parents=True)
    (example / "rendered").symlink_to(target)
    for _ in range(2):  # into the empty target, then over the first tree
        assert run_cli("compile", "--root", str(example)).exit_code == 0
        assert (example / "rendered").is_symlink()
        assert os.readlink(example / "rendered") == str(target)
        _assert_whole(target)
        _no_strays(example)
        _no_strays(target.parent)
    _edit(example)
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    assert run_cli("compile", "--check", "--root", str(example)).exit_code == 0
    assert b"260m" in b"".join(read_tree(target, ["prod"]).values())


# --- a recompile updates the folder in place ----------------------------------------------


def _stats(out: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, ctime, mtime) of every file under `out`, in nanoseconds."""
    return {
        p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_ctime_ns, p.stat().st_mtime_ns)
        for p in out.rglob("*")
        if p.is_file()
    }


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_a_recompile_touches_only_the_files_whose_bytes_change(example: Path, tmp_path: Path):
    """Issue 17: hard-linking every unchanged file into a new tree changed every file's
    ctime, so `git status` re-read all of them. Now a file whose bytes stay the same keeps
    its inode, ctime and mtime, and only the changed files get new bytes: the same bytes
    as a compile of the new catalog into a new folder."""
    out = example / "rendered"
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    before, old = _stats(out), _snapshot(out)
    time.sleep(0.01)  # a rewritten file would get a later ctime on any clock granularity
    _replace(example / "catalog/customers/acme.yaml", "100M", "200M")
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    fresh = tmp_path / "fresh"
    assert run_cli("compile", "--root", str(example), "--out", str(fresh)).exit_code == 0
    after, new = _stats(out), _snapshot(out)
    assert new == _snapshot(fresh)
    changed = {path for path in new if new[path] != old.get(path)}
    assert changed and all("acme" in path or path.endswith("index.json") for path in changed)
    assert len(changed) < len(new) // 10, changed  # the test means something: few changed
    assert set(after) == set(before)
    for path in sorted(set(after) - changed):
        assert after[path] == before[path], f"{path} was touched although its bytes are the same"
    for path in changed:
        assert after[path][0] != before[path][0]  # replaced by rename, never written over
    _no_strays(example)


def _change_a_customer(root: Path, rng: random.Random) -> None:
    size = rng.choice(["150M", "200M", "250M"])
    _replace(
        root / "catalog/customers/acme.yaml",
        "SYNAPSE_MAX_UPLOAD_SIZE: 100M",
        f"SYNAPSE_MAX_UPLOAD_SIZE: {size}",
    )


def _remove_a_customer(root: Path, rng: random.Random) -> None:
    (root / "catalog/customers" / rng.choice(["initech.yaml", "globex.yaml"])).unlink()


def _add_a_customer(root: Path, rng: random.Random) -> None:
    name = f"added{rng.randrange(1000)}"
    text = (root / "catalog/customers/acme.yaml").read_text()
    text = text.replace("name: acme", f"name: {name}").replace("acme.example", f"{name}.example")
    (root / f"catalog/customers/{name}.yaml").write_text(text)


def _change_a_service_default(root: Path, rng: random.Random) -> None:
    _replace(root / "catalog/services/synapse.yaml", "cpu: 250m", f"cpu: {rng.choice([260, 300])}m")


def _remove_an_environments_service(root: Path, rng: random.Random) -> None:
    if rng.random() < 0.5:  # the environment's own override of a service
        _replace(
            root / "environments/dev/environment.yaml",
            "services:\n  synapse:\n    config:\n      SYNAPSE_LOG_LEVEL: DEBUG\n",
            "",
        )
    else:  # a service of one customer in one environment: its whole folder goes
        _replace(root / "catalog/customers/acme.yaml", "      element-web:\n", "")


EDITS = (
    _change_a_customer,
    _remove_a_customer,
    _add_a_customer,
    _change_a_service_default,
    _remove_an_environments_service,
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_in_place_recompile_gives_the_bytes_of_a_fresh_compile(
    example: Path, tmp_path: Path, seed: int
):
    """Each catalog edit, in a random order: the folder updated in place holds exactly
    the files (and bytes, marker included) of a compile into a new folder, with no stray
    file or folder and no empty folder left behind."""
    rng = random.Random(seed)
    out = example / "rendered"
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    for step, edit in enumerate(rng.sample(EDITS, len(EDITS))):
        edit(example, rng)
        assert run_cli("compile", "--root", str(example)).exit_code == 0, edit.__name__
        fresh = tmp_path / f"fresh-{step}"
        assert run_cli("compile", "--root", str(example), "--out", str(fresh)).exit_code == 0
        assert _snapshot(out) == _snapshot(fresh), edit.__name__
        folders = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_dir())
        assert folders == sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_dir())
        _no_strays(example)
    assert run_cli("compile", "--check", "--root", str(example)).exit_code == 0


def test_an_env_recompile_in_place_keeps_the_other_environments(example: Path):
    """`compile --env prod` in place after a change that reaches staging and prod: prod
    is updated, staging (changed in the catalog too) and dev are not touched at all."""
    out = example / "rendered"
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    before, old = _stats(out), _snapshot(out)
    _edit(example)
    assert run_cli("compile", "--root", str(example), "--env", "prod").exit_code == 0
    after, new = _stats(out), _snapshot(out)
    assert set(after) == set(before)
    for path in before:
        if not path.startswith("prod/"):
            assert after[path] == before[path] and new[path] == old[path], path
    assert any(new[p] != old[p] for p in before if p.startswith("prod/"))
    assert b"260m" in b"".join(read_tree(out, ["prod"]).values())
    assert b"260m" not in b"".join(read_tree(out, ["staging"]).values())


def test_a_journal_not_written_by_gitopsc_is_refused(example: Path, tmp_path: Path):
    """The journal sits in the repository root: one committed there (or edited) must not
    delete or move anything outside the output folder."""
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    victim = example / "catalog/teams.yaml"
    content = victim.read_bytes()
    journal = example / ".rendered.gitopsc-journal"
    journal.write_text(
        json.dumps(
            {
                "stage": ".gitopsc-stage-rendered-1",
                "renames": [],
                "deletes": ["../catalog/teams.yaml"],
                "prune": [],
            }
        )
    )
    for args in (("compile",), ("compile", "--check")):
        result = run_cli(*args, "--root", str(example))
        assert result.exit_code == 2 and result.exception is None, result.stderr
        assert f"{journal} is not a journal gitopsc wrote" in result.stderr
        assert victim.read_bytes() == content


def test_a_journal_that_names_a_staged_file_outside_its_staging_folder_is_refused(
    example: Path,
):
    """A rename in the journal is [output path, staged name], and the staged name is a
    number in the flat staging folder: one that climbs out of it (to move a catalog
    file into the output, say) is refused, and nothing moves."""
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    victim = example / "catalog/teams.yaml"
    content = victim.read_bytes()
    stage = example / ".gitopsc-stage-rendered-1"
    stage.mkdir()
    journal = example / ".rendered.gitopsc-journal"
    for staged in ("../catalog/teams.yaml", "../../etc/passwd", "1/2", "", 7):
        journal.write_text(
            json.dumps(
                {
                    "stage": stage.name,
                    "renames": [["dev/teams.yaml", staged]],
                    "deletes": [],
                    "prune": [],
                }
            )
        )
        result = run_cli("compile", "--check", "--root", str(example))
        assert result.exit_code == 2 and result.exception is None, (staged, result.stderr)
        assert f"{journal} is not a journal gitopsc wrote" in result.stderr
        assert victim.read_bytes() == content
        assert not (example / "rendered/dev/teams.yaml").exists()


def test_a_journal_of_an_older_gitopsc_is_still_finished(example: Path):
    """Before the staging folder was flat, a journal's renames were output paths staged
    at the same path under the staging folder: a compile killed by an older gitopsc is
    finished by this one, not refused."""
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    out = example / "rendered"
    stage = example / ".gitopsc-stage-rendered-1"
    target = "dev/argocd/dev-fra1/apps/zz-left-by-an-older-compile.yaml"
    (stage / target).parent.mkdir(parents=True)
    (stage / target).write_bytes(b"kind: ConfigMap\n")
    (example / ".rendered.gitopsc-journal").write_text(
        json.dumps({"stage": stage.name, "renames": [target], "deletes": [], "prune": []})
    )
    result = run_cli("compile", "--check", "--root", str(example))
    assert result.exception is None and "finished an interrupted compile" in result.stderr
    assert (out / target).read_bytes() == b"kind: ConfigMap\n"
    _no_strays(example)


def test_files_are_staged_flat_and_numbered(example: Path):
    """A compile killed just before its commit point leaves its staging folder as it
    was about to commit it: numbered files only, no folder in it (staging made and
    removed a folder per changed file's folder before: 6,000 at 1,000 customers when
    one service's default changed), and the next reader removes it, leaving the old
    tree. What the compile of an environment staged itself (writer.py `stage_part`) is
    numbered after the environment's place: `<k>-<n>`."""
    out = example / "rendered"
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    old = _snapshot(out)
    _edit(example)
    assert _compile_killed_at(example, -1) == -signal.SIGKILL
    (stage,) = [p for p in example.iterdir() if p.name.startswith(".gitopsc-stage-rendered-")]
    entries = sorted(stage.iterdir(), key=lambda p: p.name)
    staged = [p for p in entries if p.name != ".gitopsc-journal"]
    assert len(staged) >= 2 and all(p.is_file() for p in staged), entries
    numbers: dict[str, list[int]] = {}
    for p in staged:
        tag, _, number = p.name.rpartition("-")
        assert (not tag or tag.isdigit()) and number.isdigit(), entries
        numbers.setdefault(tag, []).append(int(number))
    assert all(sorted(n) == list(range(len(n))) for n in numbers.values()), entries
    assert [tag for tag in numbers if tag], f"no environment staged its own files: {entries}"
    assert run_cli("compile", "--check", "--root", str(example)).exit_code == 1
    assert _snapshot(out) == old
    _no_strays(example)


def _compile_killed_at(root: Path, step: int) -> int:
    """`gitopsc compile` in a forked child that SIGKILLs itself at one moment of an
    in-place update: step -1 just before the journal is renamed into place (the commit
    point), step N before the N-th file system change after it (a delete, a folder
    removal, a rename, the journal's removal). The exit status: killed, or 0 if the
    update had fewer steps."""
    journal = root / ".rendered.gitopsc-journal"
    pid = os.fork()
    if pid != 0:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    try:  # the child: never return into pytest
        count = [0]

        def killing(real):  # wraps os.unlink, os.rmdir, os.rename
            def wrapper(*args, **kwargs):
                if step == -1 and real is real_rename and str(args[1]) == str(journal):
                    os.kill(os.getpid(), signal.SIGKILL)
                if step >= 0 and journal.exists():
                    if count[0] == step:
                        os.kill(os.getpid(), signal.SIGKILL)
                    count[0] += 1
                return real(*args, **kwargs)

            return wrapper

        real_rename = os.rename
        os.unlink, os.rmdir, os.rename = killing(os.unlink), killing(os.rmdir), killing(os.rename)
        result = run_cli("compile", "--root", str(root))
        os._exit(result.exit_code if result.exception is None else 71)
    finally:
        os._exit(70)


def test_a_kill_at_any_moment_of_an_in_place_update_leaves_the_old_or_the_new_tree(
    example: Path,
):
    """Kill the compile before its commit point and at steps spread over the applying of
    the journal (deletes, folder removals, renames, the journal's removal); `compile
    --check` (a reader) first finishes the update from the journal, or removes the
    uncommitted staging, then compares: the tree is exactly the old one (before the
    commit) or exactly the new one (after it), with nothing left beside it."""
    out = example / "rendered"
    assert run_cli("compile", "--root", str(example)).exit_code == 0
    old = _snapshot(out)
    # removes one instance folder (deletes, empty folders) and changes files elsewhere
    _replace(example / "catalog/customers/acme.yaml", "      element-web:\n", "")
    _change_a_customer(example, random.Random(0))
    fresh = example.parent / "fresh"
    assert run_cli("compile", "--root", str(example), "--out", str(fresh)).exit_code == 0
    new = _snapshot(fresh)
    assert new != old
    finished = False
    for step in (-1, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610):
        code = _compile_killed_at(example, step)
        if code == 0:
            finished = True  # the update had fewer steps: it ran to the end
            assert _snapshot(out) == new
            break
        assert code == -signal.SIGKILL, code
        assert (example / ".rendered.gitopsc-journal").exists() == (step >= 0)
        result = run_cli("compile", "--check", "--root", str(example))
        assert result.exception is None
        assert "finished an interrupted compile" in result.stderr
        assert result.exit_code == 1  # a gate that had to finish an update never passes
        again = run_cli("compile", "--check", "--root", str(example))
        assert again.exit_code == (1 if step == -1 else 0), (step, again.stdout)
        assert _snapshot(out) == (old if step == -1 else new), f"a mixed tree after step {step}"
        _no_strays(example)
        # back to the old tree for the next round (a compile in place, not killed)
        write_tree(out, [{p: d for p, d in old.items() if p != ".gitopsc"}], ENVIRONMENTS, True)
        assert _snapshot(out) == old
    assert finished, "the update has more steps than the kills covered"


def test_an_index_made_of_entry_texts_is_to_jsons_and_each_span_is_its_entry():
    """A compile that records units writes its index from each file's entry as bytes
    (writer.py `_index_bytes`), noting where each stands for the next compile to take
    it from (pipeline/units.py): the bytes are `json.dumps`'s, odd paths and values
    too (spans count bytes, not characters), and each span holds exactly its file's
    entry."""
    from compiler.catalog import to_json_member
    from compiler.output.writer import _index_bytes

    raw = {
        "b/x.yaml": {"sha256": "a", "instances": ["é", 'q"x', "\u2028"], "objects": []},
        "a/ü.yaml": {"k": [], "n": None, "f": 1.5},
        'c"d\\e': {"z": [1, "two"]},
    }
    document = {"generator": "gitopsc", "environment": "prod", "layout": "documents"}
    spans: dict[str, tuple[int, int]] = {}
    text = _index_bytes(
        "prod",
        document,
        {path: to_json_member(entry, 2).encode() for path, entry in raw.items()},
        spans,
    )
    assert (
        text
        == (
            json.dumps({**document, "files": raw}, indent=2, sort_keys=True, ensure_ascii=False)
            + "\n"
        ).encode()
    )
    assert sorted(spans) == sorted(f"prod/{path}" for path in raw)
    for path, (start, end) in spans.items():
        assert json.loads(text[start:end]) == raw[path.removeprefix("prod/")]
        assert text[start:end] == to_json_member(raw[path.removeprefix("prod/")], 2).encode()
    empty: dict[str, tuple[int, int]] = {}
    assert (
        _index_bytes("prod", document, {}, empty)
        == (json.dumps({**document, "files": {}}, indent=2, sort_keys=True) + "\n").encode()
    )
    assert empty == {}


def test_kept_entries_are_copied_in_runs_and_give_the_bytes_of_a_fresh_index():
    """A recompile's index takes each kept file's entry from where the last index holds
    it (`KeptEntry`), copying entries that stood side by side there as one piece: with
    entries rendered anew between, before and after them, changed and removed ones,
    the index is the one `json.dumps` writes, and each span holds its entry. An entry
    that is not under its own path in the last index is refused (`KeptRendered`: the
    caller renders all)."""
    from compiler.catalog import to_json_member
    from compiler.output.writer import KeptEntry, _index_bytes
    from compiler.render import KeptRendered

    document = {"generator": "gitopsc", "environment": "dev", "layout": "documents"}
    old = {f"f/{n:02d}-é.yaml": {"sha256": f"{n}", "objects": [n, 'q"']} for n in range(12)}
    old_spans: dict[str, tuple[int, int]] = {}
    old_text = _index_bytes(
        "dev", document, {p: to_json_member(e, 2).encode() for p, e in old.items()}, old_spans
    )
    new = {**old, "a/first.yaml": {"sha256": "new"}, "f/05-x.yaml": {"sha256": "between"}}
    new["f/03-é.yaml"] = {"sha256": "changed"}
    del new["f/07-é.yaml"], new["f/11-é.yaml"]
    kept = {"f/00-é.yaml", "f/01-é.yaml", "f/02-é.yaml", "f/04-é.yaml", "f/05-é.yaml"}
    kept |= {"f/06-é.yaml", "f/08-é.yaml", "f/09-é.yaml", "f/10-é.yaml"}
    index = {
        path: KeptEntry(old_text, *old_spans[f"dev/{path}"])
        if path in kept
        else to_json_member(entry, 2).encode()
        for path, entry in new.items()
    }
    spans: dict[str, tuple[int, int]] = {}
    text = _index_bytes("dev", document, index, spans)
    assert (
        text
        == (
            json.dumps({**document, "files": new}, indent=2, sort_keys=True, ensure_ascii=False)
            + "\n"
        ).encode()
    )
    assert sorted(spans) == sorted(f"dev/{path}" for path in new)
    for path, (start, end) in spans.items():
        assert json.loads(text[start:end]) == new[path.removeprefix("dev/")]
    wrong = dict(index)  # f/06's entry given as f/08's: not under its own path there
    wrong["f/08-é.yaml"] = KeptEntry(old_text, *old_spans["dev/f/06-é.yaml"])
    with pytest.raises(KeptRendered):
        _index_bytes("dev", document, wrong, {})


@pytest.mark.parametrize("how", ["removed", "a symlink", "a folder"])
def test_a_kept_file_gone_from_its_path_stops_the_write_naming_it(tmp_path: Path, how: str):
    """A file the compile kept (None: the last compile's bytes, as it saw them) that is
    no longer a regular file at its path when the writer comes to it: nothing is
    written, the error names it, and the kept files of other folders are not the cause."""
    out = tmp_path / "rendered"
    first = {"dev/a/x.yaml": b"x\n", "dev/b/y.yaml": b"y\n", "dev/index.json": b"{}\n"}
    write_tree(out, [first], ["dev"], True)
    before = _snapshot(out)
    target = out / "dev/b/y.yaml"
    target.unlink()
    if how == "a symlink":
        target.symlink_to(out / "dev/a/x.yaml")
    elif how == "a folder":
        target.mkdir()
    after_edit = _snapshot(out)
    update = {"dev/a/x.yaml": None, "dev/b/y.yaml": None, "dev/index.json": b'{"n": 1}\n'}
    with pytest.raises(UsageError, match=r"dev/b/y\.yaml was removed or replaced while gitopsc"):
        write_tree(out, [update], ["dev"], True)
    assert _snapshot(out) == after_edit and after_edit != before
    _no_strays(tmp_path)
    # every kept file in place: the update goes through
    if how == "a folder":
        target.rmdir()
    elif how == "a symlink":
        target.unlink()
    target.write_bytes(b"y\n")
    write_tree(out, [update], ["dev"], True)
    assert (out / "dev/index.json").read_bytes() == b'{"n": 1}\n'
    assert (out / "dev/a/x.yaml").read_bytes() == b"x\n"


def test_files_an_environments_compile_staged_are_put_in_place_and_checked_first(
    tmp_path: Path,
):
    """The compile of an environment stages its new and changed files itself
    (`stage_part`, in its render worker): a file whose bytes are on disk already is kept
    (None), the others are written to the staging folder `staging` made, and the write
    renames them into place. A staged file missing from the staging folder stops the
    write before the commit point: the old tree stays whole, and no staging folder is
    left behind."""
    out = tmp_path / "rendered"
    write_tree(out, [{"dev/a/x.yaml": b"x\n", "dev/index.json": b"{}\n"}], ["dev"], True)
    before = _snapshot(out)
    new = {"dev/a/x.yaml": b"x\n", "dev/b/y.yaml": b"y\n", "dev/index.json": b'{"n": 1}\n'}
    listed = {"dev/a/x.yaml": True, "dev/index.json": True}
    with staging(out) as stage:
        assert stage is not None and stage.is_dir() and stage.parent == tmp_path
        part = stage_part(out, stage, 3, new, listed)
        assert part["dev/a/x.yaml"] is None
        staged = {path: part[path] for path in ("dev/b/y.yaml", "dev/index.json")}
        assert all(isinstance(name, Staged) and name.startswith("3-") for name in staged.values())
        assert {(stage / name).read_bytes() for name in staged.values()} == {
            b"y\n",
            b'{"n": 1}\n',
        }
        (stage / staged["dev/index.json"]).unlink()
        with pytest.raises(UsageError, match=r"dev/index\.json: its new bytes are missing"):
            write_tree(out, [part], ["dev"], True, staged=stage)
        assert _snapshot(out) == before
    _no_strays(tmp_path)
    with staging(out) as stage:
        assert stage is not None
        write_tree(out, [stage_part(out, stage, 3, new, listed)], ["dev"], True, staged=stage)
    assert _snapshot(out) == {**before, **new}
    _no_strays(tmp_path)
    # a folder gitopsc did not write gets no staging folder: a first compile builds anew
    with staging(tmp_path / "elsewhere") as stage:
        assert stage is None
