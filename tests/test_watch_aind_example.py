"""aind-watchdog-service's own ``examples/example_manifest.yml``, exactly as that service ships it
(tests/fixtures/aind-watchdog/ORIGIN.md): read as on its Windows rig, refused with one line on
this machine, and committed once its rig paths exist here."""

from __future__ import annotations

import json
import platform
import re
import shutil
from datetime import datetime
from pathlib import Path, PureWindowsPath

import pytest
from factories import PACIFIC, make_raw_asset
from watchkit import assert_committed_once, write_atomically

from assetlake.errors import HandOverError
from assetlake.store import open_store
from assetlake.watch.aind import read_aind
from assetlake.watch.handover import read_manifest

pytestmark = pytest.mark.usefixtures("own_cache")

EXAMPLE = Path(__file__).parent / "fixtures" / "aind-watchdog" / "example_manifest.yml"
NAME = "multiplane-ophys_726087_2024-06-21_16-16-26"
#: An aind-data-schema v1 session.json (the fixture's, for this subject and time).
SESSION = {
    **json.loads((Path(__file__).parent / "fixtures" / "aind" / "v1"
                  / "ecephys_654987_2024-06-07_11-12-13" / "session.json").read_text()),
    "subject_id": "726087", "session_start_time": "2024-06-21T16:16:26-07:00",
    "session_end_time": "2024-06-21T17:16:26-07:00",
}  # fmt: skip
#: A path line of the manifest (``- D:\...``, ``- \\host\...``, ``- C:/...``).
PATH_LINE = re.compile(r"^(\s*- )(\S.*)$", re.MULTILINE)


def test_the_example_reads_as_on_its_windows_rig() -> None:
    name, entries, not_before, warnings = read_aind(EXAMPLE, EXAMPLE.read_bytes(), windows=True)
    targets = [target for target, _ in entries]
    assert name == NAME and len(entries) == 3 + 6 + 13
    assert targets[:3] == ["rig.json", "session.json", "data_description.json"]  # on top
    assert "behavior/1374103167_Behavior_20240618T103420.mp4" in targets
    # the watchdog reads modality 'ophys' as aind-data-schema's 'pophys', and so does assetlake
    assert "pophys/1374103167_timeseries.tiff" in targets and not any(
        t.startswith("ophys/") for t in targets
    )
    assert dict(entries)["pophys/1374103167_sync.h5"] == (
        "D:\\scanimage_ophys\\data\\1374103167\\1374103167_sync.h5"
    )
    assert not_before == datetime(2024, 6, 22, 3)
    assert warnings == [
        "fields not used by assetlake, ignored: acquisition_datetime, capsule_id, destination, "
        "mount, processor_full_name, project_name, s3_bucket, subject_id"
    ]


def test_on_this_machine_the_example_is_refused_in_one_line(cli, local_lake: str, rig) -> None:
    with pytest.raises(HandOverError) as raised:
        read_manifest(EXAMPLE, [EXAMPLE.parent])
    assert str(raised.value) == (
        f"{EXAMPLE}: schemas[0]: 'C:/ProgramData/aind/rig.json' is a Windows path, and this agent "
        f"runs on {platform.system()} (22 of the manifest's 22 paths are); run assetlake watch on the rig that "
        "wrote them (docs/rig-agent.md), or list the files by the paths this machine mounts them at"
    )
    drop, _ = rig
    write_atomically(drop / EXAMPLE.name, EXAMPLE.read_text())
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0")
    assert result.code == 2, result.out + result.err
    assert "schemas[0]: 'C:/ProgramData/aind/rig.json' is a Windows path" in result.out
    error = (drop / "failed" / f"{EXAMPLE.name}.error.txt").read_text()
    assert "is a Windows path" in error and len(error.strip().splitlines()) == 1
    assert open_store(local_lake).list_dirs() == []


def test_an_unregistered_modality_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("  ophys:\n", "  two-photon:\n")
    with pytest.raises(HandOverError, match=r"modalities: 'two-photon' is not a registered "
                       r"modality; use one of .*pophys.*register_modality"):  # fmt: skip
        read_aind(EXAMPLE, text.encode(), windows=True)


def test_the_example_commits_once_its_rig_paths_exist_here(
    cli, local_lake: str, rig, tmp_path: Path
) -> None:
    """The same manifest with each rig path mapped to this machine (as the rig itself would
    resolve it). It names no ``subject.json`` (AIND's transfer service fetches that by
    ``subject_id``), so it fails with that reason; with the subject listed it commits as
    ``<name>/<modality>/<file>``."""
    drop, _ = rig
    disk = tmp_path / "rig-disk"
    sidecars = make_raw_asset(
        tmp_path / "sidecars", modality="multiplane-ophys", subject_id="726087",
        acquired=datetime(2024, 6, 21, 16, 16, 26, tzinfo=PACIFIC), with_data=False,
    )  # fmt: skip
    assert sidecars.name == NAME

    def here(match: re.Match[str]) -> str:
        rig_path = PureWindowsPath(match.group(2))
        local = disk.joinpath(*(re.sub(r"[\\/:]+", "_", p).strip("_") for p in rig_path.parts))
        local.parent.mkdir(parents=True, exist_ok=True)
        source = sidecars / local.name
        if source.is_file():
            shutil.copy(source, local)
        elif local.name == "session.json":  # aind-data-schema v1's, read as a foreign sidecar
            local.write_text(json.dumps(SESSION))
        else:
            local.write_bytes(f"frames of {local.name}".encode())
        return match.group(1) + str(local)

    mapped = PATH_LINE.sub(here, EXAMPLE.read_text())
    assert "D:\\" not in mapped and mapped.count(str(disk)) == 22
    write_atomically(drop / "session.yml", mapped)
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0",
                 "--read-root", disk)  # fmt: skip
    assert result.code == 1, result.out + result.err
    assert "subject.json: is missing; a raw asset needs it" in result.out
    assert open_store(local_lake).list_dirs() == []

    subject = f"- {sidecars / 'subject.json'}\n"
    write_atomically(drop / "again.yml", mapped.replace("schemas:\n", "schemas:\n" + subject))
    result = cli("watch", drop, "--lake", local_lake, "--once", "--settle", "0",
                 "--read-root", disk, "--read-root", sidecars)  # fmt: skip
    assert result.code == 0, result.out + result.err
    assert_committed_once(local_lake, [NAME])
    keys = {info.key for info in open_store(local_lake).list(NAME + "/")}
    assert {f"{NAME}/subject.json", f"{NAME}/rig.json", f"{NAME}/data_description.json",
            f"{NAME}/pophys/1374103167_sync.h5",
            f"{NAME}/behavior/1374103167_Eye_20240618T103421.mp4"} <= keys  # fmt: skip
