"""``assetlake find``, ``show`` and ``lineage`` through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_catalogue import ANALYSIS, CURATED, LAKE, OTHER, RAW_A, RAW_B, RAW_C, SORTED, sample

from assetlake.catalogue import Catalogue


def test_names_urls_and_json(cli, catalogue_file: Path) -> None:
    done = cli("find", "--catalogue", catalogue_file, "--level", "raw", "--format", "names")
    assert (done.code, done.out, done.err) == (0, f"{RAW_C}\n{RAW_A}\n{RAW_B}\n", "")
    done = cli("find", "--catalogue", catalogue_file, "--subject", "222", "--format", "urls")
    assert done.out == f"{LAKE}/{RAW_B}\n"
    done = cli("find", "--catalogue", catalogue_file, "--subject", "222", "--format", "json")
    (item,) = json.loads(done.out)
    assert item["name"] == RAW_B
    assert item["url"] == f"{LAKE}/{RAW_B}"
    assert item["status"] == "invalid"
    assert "metadata" not in item


def test_repeated_options_mean_or_and_text_words(cli, catalogue_file: Path) -> None:
    done = cli("find", "--catalogue", catalogue_file, "--subject", "222", "--subject", "12*",
               "--format", "names")  # fmt: skip
    assert done.out == f"{RAW_C}\n{RAW_B}\n"
    done = cli("find", "probe", "drift", "--catalogue", catalogue_file, "--format", "names")
    assert done.out == f"{RAW_A}\n"
    done = cli("find", "--catalogue", catalogue_file, "--derived-from", SORTED, "--format",
               "names", "--sort", "-processed", "--limit", "1")  # fmt: skip
    assert done.out == f"{ANALYSIS}\n"


def test_a_full_page_says_so_on_stderr_only(cli, catalogue_file: Path) -> None:
    note = "assetlake find: showing the first {} matches; raise --limit for more\n"
    done = cli("find", "--catalogue", catalogue_file, "--level", "raw", "--format", "names",
               "--limit", "2")  # fmt: skip
    assert (done.code, done.out, done.err) == (0, f"{RAW_C}\n{RAW_A}\n", note.format(2))
    done = cli("find", "--catalogue", catalogue_file, "--level", "raw", "--format", "urls",
               "--limit", "3")  # fmt: skip
    assert done.out == f"{LAKE}/{RAW_C}\n{LAKE}/{RAW_A}\n{LAKE}/{RAW_B}\n"
    assert done.err == note.format(3)
    done = cli("find", "--catalogue", catalogue_file, "--level", "raw", "--format", "json",
               "--limit", "4")  # fmt: skip
    assert (len(json.loads(done.out)), done.err) == (3, "")


def test_table(cli, catalogue_file: Path) -> None:
    done = cli("find", "--catalogue", catalogue_file, "--invalid")
    lines = done.out.splitlines()
    assert lines[0].split() == ["name", "level", "modality", "subject", "acquired", "project",
                                "status"]  # fmt: skip
    assert lines[1].split() == [RAW_B, "raw", "pophys", "222", "2024-04-10T09:00:00-07:00",
                                "Motor", "Learning", "invalid"]  # fmt: skip
    assert len(lines) == 2


def test_empty_results(cli, catalogue_file: Path) -> None:
    for fmt, out in (("names", ""), ("urls", ""), ("json", "[]\n")):
        done = cli("find", "--catalogue", catalogue_file, "--subject", "999", "--format", fmt)
        assert (done.code, done.out, done.err) == (0, out, "")
    done = cli("find", "--catalogue", catalogue_file, "--subject", "999")
    assert (done.code, done.out, done.err) == (0, "", "no assets match\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--after", "2024-02-30"], "--after '2024-02-30' is not a date"),
        (["--sort", "colour"], "sort key 'colour' is not known"),
        (["--limit", "0"], "Invalid value for '--limit'"),
        (["--level", "cooked"], "Invalid value for '--level'"),
        (["--format", "xml"], "Invalid value for '--format'"),
        (["--colour"], "No such option '--colour'"),
        (["*"], "has no searchable words"),
        (["--genotype", ""], "genotype is empty"),
    ],
)
def test_bad_queries_are_one_line_exit_2(cli, catalogue_file: Path, args, message) -> None:
    done = cli("find", "--catalogue", catalogue_file, *args)
    assert done.code == 2
    assert done.out == ""
    assert message in done.err
    assert len(done.err.splitlines()) == 1


def test_missing_catalogue_and_no_lake(cli, tmp_path: Path, monkeypatch) -> None:
    done = cli("find", "--catalogue", tmp_path / "nope.sqlite")
    assert done.code == 1
    assert done.err == (
        f"assetlake: error: catalogue {tmp_path / 'nope.sqlite'} does not exist; "
        "run 'assetlake index' or fix --catalogue\n"
    )
    monkeypatch.delenv("ASSETLAKE_LAKE", raising=False)
    done = cli("find", "--subject", "1")
    assert done.code == 2
    assert "pass --lake URL (or set ASSETLAKE_LAKE) or --catalogue FILE" in done.err


def test_default_catalogue_of_an_indexed_lake(cli, tmp_path: Path, monkeypatch) -> None:
    from assetlake.catalogue import default_catalogue_path

    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache"))
    lake = str(tmp_path / "lake")
    with Catalogue(default_catalogue_path(lake)) as cat:
        cat.set_meta("origin", "index")
        cat.set_meta("lake", lake)
        cat.upsert(sample()[:2])
    done = cli("find", "--lake", lake, "--format", "names")
    assert (done.code, done.out) == (0, f"{RAW_A}\n{RAW_B}\n")
    monkeypatch.setenv("ASSETLAKE_LAKE", lake)
    assert cli("find", "--subject", "111", "--format", "names").out == f"{RAW_A}\n"


def test_show(cli, catalogue_file: Path) -> None:
    done = cli("show", RAW_A, "--catalogue", catalogue_file)
    assert done.code == 0
    lines = done.out.splitlines()
    assert f"name          {RAW_A}" in lines
    assert "modalities    ecephys, behavior-videos" in lines
    assert "genotype      Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt" in lines
    assert "files         0 objects, 300 B" in lines
    assert "  ecephys.zarr  zarr  300 B  3 objects" in lines
    assert f"derived       {SORTED}" in lines
    assert f"derived       {OTHER}" in lines
    done = cli("show", CURATED, "--catalogue", catalogue_file)
    assert f"derived from  {SORTED} <- {RAW_A}" in done.out.splitlines()
    done = cli("show", RAW_B, "--catalogue", catalogue_file)
    assert "  error: subject.json:sex: missing" in done.out.splitlines()


def test_show_json(cli, catalogue_file: Path) -> None:
    done = cli("show", SORTED, "--catalogue", catalogue_file, "--json")
    data = json.loads(done.out)
    assert data["name"] == SORTED
    assert data["lineage"] == {"ancestors": [RAW_A], "derived": [CURATED]}
    assert "metadata" not in data


def test_lineage_tree_and_json(cli, catalogue_file: Path) -> None:
    done = cli("lineage", CURATED, "--catalogue", catalogue_file)
    assert done.out == (f"{RAW_A}\n  {SORTED}\n    {CURATED} *\n      {ANALYSIS}\n  {OTHER}\n")
    data = json.loads(cli("lineage", RAW_A, "--catalogue", catalogue_file, "--json").out)
    assert data["ancestors"] == []
    assert [c["name"] for c in data["tree"]["children"]] == [SORTED, OTHER]


@pytest.mark.parametrize("command", ["show", "lineage"])
def test_unknown_name(cli, catalogue_file: Path, command: str) -> None:
    done = cli(command, "ecephys_9_2024-01-01_00-00-00", "--catalogue", catalogue_file)
    assert done.code == 1
    assert done.err == (
        "assetlake: error: asset ecephys_9_2024-01-01_00-00-00 is not in the catalogue; "
        "list names with 'assetlake find'\n"
    )


def test_find_imports_no_heavy_library(catalogue_file: Path) -> None:
    code = (
        "import sys\n"
        "from assetlake.cli import main\n"
        "import assetlake.cli.cmd_find\n"
        "try:\n"
        f"    main(['find', '--catalogue', {str(catalogue_file)!r}, '--format', 'names'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('pydantic', 'boto3', 'zarr', 'numpy', 'pyarrow', 'pandas', 'pynwb', 's3fs')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[0] == RAW_C
    assert done.stderr.strip() == "[]"
