"""The drop-folder agent in one process: settle decisions, schedules, manifests, the journal."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from watchkit import (
    aind_manifest,
    assert_committed_once,
    drop_folder,
    handover_manifest,
    write_atomically,
)

from assetlake.errors import UsageError
from assetlake.store import open_store
from assetlake.watch.agent import Agent, Config, Event
from assetlake.watch.journal import Journal, State, default_journal
from assetlake.watch.rate import RateLimit
from assetlake.watch.schedule import Window, due, in_window, parse_window
from assetlake.watch.settle import Seen, Snapshot, observe, settled

pytestmark = pytest.mark.usefixtures("own_cache")


def states(drop: Path) -> dict[str, str]:
    """Asset name → journal state."""
    with sqlite3.connect(default_journal(drop)) as db:
        return dict(db.execute("SELECT name, state FROM sessions"))


# -- pure decisions --------------------------------------------------------------------------
A = Snapshot((("a.bin", 10, 1),), newest_change=100.0)
B = Snapshot((("a.bin", 20, 2),), newest_change=104.0)


def test_settled_needs_quiet_for_the_interval() -> None:
    assert not settled(A, None, now=105.0, settle=10)
    assert settled(A, None, now=110.0, settle=10)
    assert settled(A, None, now=100.0, settle=0)


def test_settled_never_takes_an_entry_that_changed_since_the_last_scan() -> None:
    assert not settled(B, Seen(A, since=100.0), now=500.0, settle=10)
    assert settled(B, Seen(B, since=104.0), now=500.0, settle=10)


def test_settled_with_a_clock_ahead_of_ours_trusts_only_our_own_observations() -> None:
    ahead = Snapshot(A.files, newest_change=1000.0)
    assert not settled(ahead, None, now=500.0, settle=10)
    assert not settled(ahead, Seen(ahead, since=495.0), now=500.0, settle=10)
    assert settled(ahead, Seen(ahead, since=490.0), now=500.0, settle=10)


def test_observe_keeps_the_first_sighting_of_an_unchanged_listing() -> None:
    first = observe(A, None, now=1.0)
    assert observe(A, first, now=9.0) == first
    assert observe(B, first, now=9.0) == Seen(B, 9.0)


def test_schedule_windows_including_over_midnight() -> None:
    night = parse_window("22:00-06:00")
    assert night == Window(datetime(1, 1, 1, 22).time(), datetime(1, 1, 1, 6).time())
    assert str(night) == "22:00-06:00"
    at = lambda hour: datetime(2024, 3, 1, hour, 30)  # noqa: E731
    assert [in_window(night, at(h)) for h in (21, 22, 3, 6)] == [False, True, True, False]
    day = parse_window("09:00-17:00")
    assert [in_window(day, at(h)) for h in (8, 9, 16, 17)] == [False, True, True, False]
    assert in_window(None, at(3))


@pytest.mark.parametrize("text", ["25:00-06:00", "22:00", "22-06", "10:00-10:00", ""])
def test_bad_schedule_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match=r"--schedule"):
        parse_window(text)


def test_due_holds_until_the_moment() -> None:
    moment = datetime(2024, 6, 22, 3, 0).astimezone()
    assert not due(moment, datetime(2024, 6, 22, 2, 59).astimezone())
    assert due(moment, datetime(2024, 6, 22, 3, 0).astimezone())
    assert due(None, moment)


# -- the agent on a real drop folder ---------------------------------------------------------
def test_once_commits_folders_and_both_kinds_of_manifest(
    cli, lake: str, rig: tuple[Path, Path], tmp_path: Path
) -> None:
    drop, staging = rig
    names = [
        drop_folder(drop, staging),
        aind_manifest(drop, tmp_path / "data"),
        handover_manifest(drop, tmp_path / "data"),
    ]
    result = cli("watch", drop, "--lake", lake, "--once", "--settle", "0")
    assert result.code == 0, result.out + result.err
    assert_committed_once(lake, names)
    store = open_store(lake)
    behavior = {info.key.removeprefix(f"{names[1]}/") for info in store.list(f"{names[1]}/")}
    assert {"data_description.json", "behavior/behavior.zarr/0.0"} <= behavior
    assert states(drop) == dict.fromkeys(names, "verified")
    assert sorted(p.name for p in (drop / "done").iterdir()) == sorted(
        [names[0], f"{names[1]}.yml", f"{names[2]}.json"]
    )
    assert (tmp_path / "data" / names[1] / "subject.json").is_file()  # referenced files stay
    lines = result.out.splitlines()
    for kind in ("detected", "validated", "uploading", "committed", "verified", "done"):
        assert any(line.split()[1] == kind for line in lines), kind
    assert any("fields not used by assetlake, ignored: acquisition_datetime" in x for x in lines), (
        lines
    )


def test_half_written_session_waits_until_settled(local_lake: str, rig: tuple[Path, Path]) -> None:
    drop, staging = rig
    events: list[Event] = []
    agent = Agent(Config(drop, local_lake, settle=3600), events.append)
    try:
        name = drop_folder(drop, staging)
        extra = drop / name / "ecephys.zarr" / "late.bin"
        extra.write_bytes(b"first half")
        agent.step(time.time())
        assert open_store(local_lake).list_dirs() == []
        assert [e.kind for e in events] == ["detected", "settling"]
        with open(extra, "ab") as stream:
            stream.write(b", second half")
        later = time.time() + 7200  # long after the interval, but the listing changed since
        agent.step(later)
        assert open_store(local_lake).list_dirs() == []
        agent.step(later)
        assert_committed_once(local_lake, [name])
        stored = open_store(local_lake).get(f"{name}/ecephys.zarr/late.bin")
        assert stored == b"first half, second half"
    finally:
        agent.close()


def test_manifest_written_slowly_under_its_final_name_is_not_read_early(
    local_lake: str, rig: tuple[Path, Path], tmp_path: Path
) -> None:
    drop, _ = rig
    events: list[Event] = []
    agent = Agent(Config(drop, local_lake, settle=3600), events.append)
    try:
        name = handover_manifest(tmp_path, tmp_path / "data")  # written elsewhere first
        text = (tmp_path / f"{name}.json").read_text()
        manifest = drop / f"{name}.json"
        manifest.write_text(text[: len(text) // 2])  # a misbehaving writer, half-way
        agent.step(time.time())
        assert not (drop / "failed").exists() and open_store(local_lake).list_dirs() == []
        manifest.write_text(text)
        agent.step(time.time() + 7200)
        agent.step(time.time() + 7200)
        assert_committed_once(local_lake, [name])
    finally:
        agent.close()


def test_journal_survives_restart_and_a_redrop_is_recognised(
    cli, local_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging)
    assert cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0").code == 0
    journal = Journal(default_journal(drop))
    try:
        (first,) = journal.entries()
    finally:
        journal.close()
    assert (first.name, first.state, first.attempts) == (name, State.VERIFIED, 1)
    (drop / "done" / name).rename(drop / name)  # the rig drops the same session again
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0")
    assert result.code == 0, result.out + result.err
    assert "already committed, identical" in result.out
    assert_committed_once(local_lake, [name])
    assert states(drop) == {name: "verified"}
    assert (drop / "done" / name).is_dir() and not (drop / name).exists()


def test_name_committed_with_other_content_fails_and_is_never_overwritten(
    cli, local_lake: str, rig: tuple[Path, Path], tmp_path: Path
) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging)
    assert cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0").code == 0
    before = open_store(local_lake).get(f"{name}/manifest.json")
    other = tmp_path / "other"
    other.mkdir()
    drop_folder(drop, other)
    (drop / name / "ecephys.zarr" / "extra.bin").write_bytes(b"different")
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0")
    assert result.code == 1
    assert f"asset {name} is already committed with different content" in result.out
    assert open_store(local_lake).get(f"{name}/manifest.json") == before
    assert (drop / "failed" / name / "ecephys.zarr" / "extra.bin").is_file()
    assert "different content" in (drop / "failed" / f"{name}.error.txt").read_text()


def test_delete_source_removes_only_verified_sources(
    cli, local_lake: str, rig: tuple[Path, Path], tmp_path: Path
) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging)
    referenced = aind_manifest(drop, tmp_path / "data")
    args = ("watch", drop, "--lake", local_lake, "--once", "--settle", "0", "--delete-source")
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    assert_committed_once(local_lake, [name, referenced])
    assert not (drop / name).exists() and not (drop / f"{referenced}.yml").exists()
    assert not (tmp_path / "data" / referenced / "subject.json").exists()
    assert not (drop / "done").exists()
    assert states(drop) == {name: "source-deleted", referenced: "source-deleted"}


def test_outside_the_schedule_nothing_is_uploaded(
    cli, local_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging)
    hour = datetime.now().hour
    closed = f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"
    result = cli(
        "watch", drop, "--lake", local_lake, "--once", "--settle", "0", "--schedule", closed
    )
    assert result.code == 0, result.out + result.err
    assert open_store(local_lake).list_dirs() == []
    assert f"for the upload schedule ({closed})" in result.out
    assert states(drop) == {name: "waiting-for-schedule"}
    assert (drop / name).is_dir()


def test_aind_schedule_time_holds_one_session(
    cli, local_lake: str, rig: tuple[Path, Path], tmp_path: Path
) -> None:
    drop, staging = rig
    now = drop_folder(drop, staging)
    later = aind_manifest(drop, tmp_path / "data", schedule_time="2999-01-01 03:00:00")
    assert cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0").code == 0
    assert_committed_once(local_lake, [now])
    assert states(drop) == {now: "verified", later: "waiting-for-schedule"}


def test_unreachable_lake_keeps_the_session_queued(
    cli, s3_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging)
    missing = s3_lake + "-gone"
    result = cli("watch", drop, "--lake", missing, "--once", "--settle", "0")
    assert result.code == 0, result.out + result.err
    assert "for the lake" in result.out
    assert states(drop) == {name: "queued"} and (drop / name).is_dir()
    result = cli("watch", drop, "--lake", s3_lake, "--once", "--settle", "0")
    assert result.code == 0, result.out + result.err
    assert_committed_once(s3_lake, [name])


def test_watching_agent_takes_a_session_dropped_while_it_runs(
    local_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    done = threading.Event()
    events: list[Event] = []

    def record(event: Event) -> None:
        events.append(event)
        if event.kind == "done":
            done.set()

    agent = Agent(Config(drop, local_lake, settle=0, rescan=60), record)
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    try:
        name = drop_folder(drop, staging)  # found by its file-system event, not the rescan
        assert done.wait(60), [str(e) for e in events]
    finally:
        stop.set()
        runner.join(60)
        agent.close()
    assert not runner.is_alive()
    assert_committed_once(local_lake, [name])


# -- bad input ------------------------------------------------------------------------------
def test_missing_drop_folder_is_one_line_and_exit_2(cli, local_lake: str, tmp_path: Path) -> None:
    result = cli("watch", tmp_path / "nowhere", "--lake", local_lake, "--once")
    assert result.code == 2
    assert result.err.splitlines() == [
        f"assetlake: error: drop folder {tmp_path / 'nowhere'}: does not exist or is not a "
        "folder; create it or fix the path"
    ]


def test_bad_schedule_is_one_line_and_exit_2(cli, local_lake: str, rig: tuple[Path, Path]) -> None:
    result = cli("watch", rig[0], "--lake", local_lake, "--once", "--schedule", "late")
    assert result.code == 2
    assert result.err.splitlines() == [
        "assetlake: error: --schedule 'late': not a daily window; give HH:MM-HH:MM in local "
        "time, e.g. 20:00-06:00"
    ]


NAME = "ecephys_123456_2024-03-01_14-05-09"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("{not json", "is not JSON"),
        (
            f'{{"name": "{NAME}", "name": "x", "files": {{"a": "DATA/a"}}}}',
            "is not JSON assetlake reads: has the key 'name' twice in one object; keep one",
        ),
        (json.dumps({"name": NAME, "files": {}}), "files: Dictionary should have at least 1 item"),
        (
            json.dumps({"name": NAME, "files": {"a.bin": "/etc/hostname"}}),
            "/etc/hostname: is outside the folders the agent may read",
        ),
        (
            json.dumps({"name": NAME, "files": {"../a.bin": "/x"}}),
            "'../a.bin': is not a path inside the asset",
        ),
        (json.dumps({"name": NAME, "files": {"a.bin": "DATA/../x"}}), "contains '..'"),
        (json.dumps({"name": NAME, "files": {"a.bin": "DATA/nothing.bin"}}), "does not exist"),
        (json.dumps({"name": NAME, "files": {"a": "DATA/a"}, "extra": 1}), "extra: Extra inputs"),
        (
            json.dumps({"name": "../../etc", "files": {"a": "DATA/a"}}),
            "name: asset name '../../etc' contains '/'",
        ),
    ],
)
def test_bad_manifest_goes_to_failed_with_its_reason(
    cli, local_lake: str, rig: tuple[Path, Path], tmp_path: Path, document: str, reason: str
) -> None:
    drop, _ = rig
    data = tmp_path / "data"
    data.mkdir()
    (data / "a").write_bytes(b"a")
    write_atomically(drop / "session.json", document.replace("DATA", str(data)))
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0")
    assert result.code == 2
    (line,) = [line for line in result.out.splitlines() if " failed " in line]
    assert reason in line and "moved to" in line
    error = (drop / "failed" / "session.json.error.txt").read_text()
    assert error.startswith(f"{drop / 'session.json'}: ") and reason in error
    assert (drop / "failed" / "session.json").is_file()
    assert open_store(local_lake).list_dirs() == []


def test_bad_aind_manifest_names_the_field(cli, local_lake: str, rig: tuple[Path, Path]) -> None:
    drop, _ = rig
    write_atomically(drop / "session.yml", "name: x\nmodalities: [not, a, mapping]\n")
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0")
    assert result.code == 2
    assert "session.yml: modalities: Input should be a valid dictionary" in result.out


def test_invalid_sidecar_never_reaches_the_lake(
    cli, local_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging)
    (drop / name / "subject.json").write_text("{}")
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0")
    assert result.code == 1
    assert f"asset folder {drop / name} is not valid" in result.out
    assert open_store(local_lake).list_dirs() == []
    assert (drop / "failed" / name).is_dir() and states(drop) == {name: "failed"}


def test_transfers_lists_the_journal(cli, local_lake: str, rig: tuple[Path, Path]) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging)
    assert cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0").code == 0
    result = cli("transfers", "--format", "json")
    assert result.code == 0, result.err
    (row,) = json.loads(result.out)
    assert (row["name"], row["state"], row["attempts"], row["error"]) == (
        name,
        "verified",
        1,
        None,
    )
    assert row["source"] == str((drop / name).resolve())
    table = cli("transfers", "--state", "verified").out.splitlines()
    assert table[0].split() == ["state", "name", "attempts", "bytes", "updated", "source", "error"]
    assert table[1].split()[:3] == ["verified", name, "1"]
    assert cli("transfers", "--state", "failed").out == "no transfers\n"
    missing = cli("transfers", "--journal", drop / "nothing.sqlite")
    assert (missing.code, missing.err.count("\n")) == (2, 1)
    assert "does not exist" in missing.err


def test_rate_limit_spaces_blocks_and_earns_no_credit_while_idle() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limit = RateLimit(100, clock=lambda: clock[0], sleep=sleep)
    limit.spend(100)
    limit.spend(100)
    limit.spend(50)
    assert slept == [1.0, 1.0]
    clock[0] = 100.0
    limit.spend(100)
    limit.spend(100)
    assert slept == [1.0, 1.0, 1.0]


def test_max_rate_holds_the_upload_to_the_cap(cli, local_lake: str, rig: tuple[Path, Path]) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging, big=300_000)
    (drop / name / "ecephys.zarr" / "big2.bin").write_bytes(bytes(300_000))
    sizes = [p.stat().st_size for p in (drop / name).rglob("*") if p.is_file()]
    started = time.monotonic()
    args = ("watch", drop, "--lake", local_lake, "--once", "--settle", "0", "--max-rate", "1")
    assert cli(*args).code == 0
    elapsed = time.monotonic() - started
    assert_committed_once(local_lake, [name])
    # A lower bound only (a cap makes an upload slow, never fast); the first file goes at once.
    assert elapsed >= (sum(sizes) - max(sizes)) / 1e6


def test_a_local_fault_is_retried_and_never_stops_the_other_sessions(
    cli, local_lake: str, rig: tuple[Path, Path], tmp_path: Path
) -> None:
    drop, staging = rig
    referenced = aind_manifest(drop, tmp_path / "data")
    (drop / ".assetlake-staging").write_text("a file where the agent stages manifests")
    name = drop_folder(drop, staging)
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0")
    assert result.code == 0, result.out + result.err
    (line,) = [x for x in result.out.splitlines() if x.split()[1] == "waiting"]
    assert f"{referenced}.yml -> {referenced}:" in line and "retry in 2 s" in line
    assert_committed_once(local_lake, [name])
    assert states(drop) == {name: "verified", referenced: "queued"}
    (drop / ".assetlake-staging").unlink()
    assert cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0").code == 0
    assert_committed_once(local_lake, [name, referenced])


def run_together(agents: list[Agent]) -> int:
    """One step of every agent at once, each in its own thread; how many finished without error."""
    finished: list[float] = []
    threads = [threading.Thread(target=lambda a=a: finished.append(a.step())) for a in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return len(finished)


def test_two_agents_on_one_drop_folder_commit_each_session_once(
    local_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    names = [drop_folder(drop, staging, minutes=i) for i in range(4)]
    events: list[Event] = []
    agents = [Agent(Config(drop, local_lake, settle=0), events.append) for _ in range(2)]
    agents[1].owner += " second"  # two agents in one test process
    try:
        finished = run_together(agents)
    finally:
        for agent in agents:
            agent.close()
    assert finished == 2
    assert_committed_once(local_lake, names)
    assert states(drop) == dict.fromkeys(names, "verified")
    assert sorted(p.name for p in (drop / "done").iterdir()) == sorted(names)
    assert not (drop / "failed").exists()
    assert [e.kind for e in events].count("committed") == 4


def test_two_rigs_racing_for_one_name_end_with_one_asset_and_one_failure(
    s3_lake: str, tmp_path: Path
) -> None:
    rigs = []
    for label in ("a", "b"):
        drop, staging = tmp_path / label / "drop", tmp_path / label / "staging"
        drop.mkdir(parents=True)
        staging.mkdir()
        name = drop_folder(drop, staging)
        (drop / name / "ecephys.zarr" / f"rig-{label}.bin").write_bytes(label.encode() * 1000)
        rigs.append(drop)
    events: list[Event] = []
    agents = [Agent(Config(drop, s3_lake, settle=0), events.append) for drop in rigs]
    try:
        finished = run_together(agents)
    finally:
        for agent in agents:
            agent.close()
    assert finished == 2
    assert_committed_once(s3_lake, [name])
    outcomes = sorted(states(drop)[name] for drop in rigs)
    assert outcomes == ["failed", "verified"]
    winner = next(drop for drop in rigs if states(drop)[name] == "verified")
    label = winner.parent.name
    stored = open_store(s3_lake).get(f"{name}/ecephys.zarr/rig-{label}.bin")
    assert stored == label.encode() * 1000
    loser = next(drop for drop in rigs if drop != winner)
    assert (loser / "failed" / name).is_dir() and (loser / "failed" / f"{name}.error.txt").is_file()


def test_check_reports_each_problem_and_exits_1(cli, s3_lake: str, rig: tuple[Path, Path]) -> None:
    drop, _ = rig
    ready = cli("watch", drop, "--lake", s3_lake, "--check")
    assert (ready.code, ready.err) == (0, "")
    assert ready.out == f"ready: {drop.resolve()} -> {s3_lake}\n"
    result = cli(
        "watch", drop, "--lake", s3_lake + "-gone", "--check", "--read-root", drop / "nowhere"
    )
    assert result.code == 1
    lines = result.err.splitlines()
    assert len(lines) == 2 and all(line.startswith("assetlake watch: ") for line in lines)
    assert f"read root {drop / 'nowhere'}: is not a folder" in lines[0]
    assert s3_lake + "-gone" in lines[1]
    assert open_store(s3_lake).list_dirs() == []


def test_index_makes_the_session_findable_on_another_machine(
    cli, s3_lake: str, rig: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop, staging = rig
    assert cli("index", "--lake", s3_lake, "--publish").code == 0
    name = drop_folder(drop, staging)
    result = cli("watch", drop, "--lake", s3_lake, "--once", "--settle", "0", "--index")
    assert result.code == 0, result.out + result.err
    (line,) = [x for x in result.out.splitlines() if x.split()[1] == "indexed"]
    assert "indexed 1 new" in line and "published 1 assets" in line
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "another-machine"))
    found = cli("find", "--lake", s3_lake, "--subject", "123456")
    assert found.code == 0, found.err
    assert name in found.out


def test_a_catalogue_held_by_another_writer_never_fails_a_committed_session(
    cli, local_lake: str, rig: tuple[Path, Path]
) -> None:
    """A user's `assetlake index` holding the catalogue makes the agent's index step report,
    not move a committed, verified session to failed/."""
    from assetlake.catalogue import Catalogue, default_catalogue_path

    drop, staging = rig
    name = drop_folder(drop, staging)
    with Catalogue(default_catalogue_path(open_store(local_lake).url)):  # the other writer
        result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0", "--index")
    assert result.code == 0, result.out + result.err
    (line,) = [x for x in result.out.splitlines() if x.split()[1] == "indexed"]
    assert "index failed" in line and "run 'assetlake index' by hand" in line
    assert name in open_store(local_lake).list_dirs()
    assert not (drop / "failed").exists() or not any((drop / "failed").iterdir())


def test_a_source_changed_after_upload_is_never_deleted(
    local_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging)
    chunk = drop / name / "ecephys.zarr" / "0.0"
    events: list[Event] = []

    def rig_writes_again(event: Event) -> None:  # right after the commit, before verification
        events.append(event)
        if event.kind == "committed":
            chunk.write_bytes(b"rewritten by the rig")

    agent = Agent(Config(drop, local_lake, settle=0, delete_source=True), rig_writes_again)
    try:
        agent.step()
    finally:
        agent.close()
    (failure,) = [e for e in events if e.kind == "failed"]
    assert "source changed after it was uploaded: ecephys.zarr/0.0 differs" in failure.detail
    assert "it was not deleted" in failure.detail
    assert (drop / "failed" / name / "ecephys.zarr" / "0.0").read_bytes() == b"rewritten by the rig"
    assert states(drop) == {name: "failed"}
    assert_committed_once(local_lake, [name])  # the lake holds what was uploaded, intact


def test_lake_gone_and_back(local_lake: str, rig: tuple[Path, Path]) -> None:
    drop, staging = rig
    events: list[Event] = []
    agent = Agent(Config(drop, local_lake, settle=0), events.append)
    lake, away = Path(local_lake), Path(local_lake + "-away")
    try:
        name = drop_folder(drop, staging)
        lake.rename(away)  # the share drops out
        agent.step(time.time())
        assert [e.kind for e in events][-1] == "waiting"
        assert "for the lake" in events[-1].detail and "retry in 2 s" in events[-1].detail
        assert states(drop) == {name: "queued"}
        away.rename(lake)  # and comes back
        agent.step(time.time() + 1)  # before the retry is due: nothing
        assert open_store(local_lake).list_dirs() == []
        agent.step(time.time() + 3)
    finally:
        agent.close()
    assert_committed_once(local_lake, [name])
    assert states(drop) == {name: "verified"}


def test_uploads_report_progress(lake: str, rig: tuple[Path, Path]) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging, big=1 << 20)
    total = sum(p.stat().st_size for p in (drop / name).rglob("*") if p.is_file())
    events: list[Event] = []
    agent = Agent(Config(drop, lake, settle=0, progress_every=0), events.append)
    try:
        agent.step()
    finally:
        agent.close()
    lines = [e.detail for e in events if e.kind == "progress" and e.name == name]
    assert len(lines) > 1
    assert lines[-1] == f"{total} of {total} bytes sent (100%)"
