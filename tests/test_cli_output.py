"""Nothing a lake holds can control the terminal: every command's output goes through one
sanitiser, piped or not, and values cannot forge lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_index import DERIVED, RAW, commit, sample_sidecars

from assetlake.cli.output import clean, one_line, sanitised_output
from assetlake.store import open_store

#: What hostile sidecars carried in the adversarial pass, by what each does to a terminal.
ATTACKS = {
    "osc52 clipboard": "\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07",
    "window title": "\x1b]0;pwned\x1b\\",
    "screen clear": "\x1b[2J\x1b[H",
    "cursor up and erase": "\x1b[1A\x1b[2K",
    "carriage return": "ok\rFORGED",
    "c1 csi": "\x9b2J",
    "c1 osc": "\x9d0;title\x9c",
    "bidi override": "\u202egnp.exe",
    "bidi isolate": "\u2067x\u2069",
    "line separator": "a\u2028b",
    "backspace and bell": "ab\x08\x08\x07",
    "delete": "x\x7fy",
}
RAW_CHARACTERS = set("\x1b\x07\r\x08\x7f\x9b\x9c\x9d\u202e\u2067\u2069\u2028")


def assert_harmless(text: str) -> None:
    assert not RAW_CHARACTERS & set(text), repr(text)


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_clean_writes_every_control_as_a_visible_escape(attack: str) -> None:
    cleaned = clean(f"before {attack} after\tend\n")
    assert_harmless(cleaned)
    assert cleaned.endswith("\tend\n") and "\\u" in cleaned
    # the escapes are JSON's, so a cleaned JSON document decodes to the original value
    assert json.loads(clean(json.dumps(attack, ensure_ascii=False))) == attack
    assert one_line(f"{attack}\nstatus  valid\tx").count("\n") == 0


def test_every_way_of_writing_to_stdout_or_stderr_is_cleaned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    attack = "".join(ATTACKS.values())
    with sanitised_output():
        print(attack)
        sys.stdout.writelines([attack, "\n"])
        print(attack, file=sys.stderr)
        sys.stderr.write(attack)
        assert not hasattr(sys.stdout, "buffer"), "bytes would bypass the sanitiser"
    out, err = capsys.readouterr()
    assert_harmless(out + err)
    assert out.count("\n") == 2 and "\\u001b]52;c;" in out and "\\u202e" in err


def hostile_lake(lake: str) -> str:
    store = open_store(lake)
    payload = "".join(ATTACKS.values())
    sidecars = sample_sidecars(RAW)
    sidecars["data_description.json"]["project_name"] = f"Brain{payload}\nFORGED  line"
    sidecars["subject.json"]["genotype"] = f"Sst{payload}"
    commit(store, RAW, sidecars)
    derived = sample_sidecars(DERIVED)
    derived["data_description.json"]["project_name"] = payload
    commit(store, DERIVED, derived)
    return payload


def test_no_output_path_lets_a_control_character_through(
    local_lake: str, cli: Any, tmp_path: Path
) -> None:
    hostile_lake(local_lake)
    catalogue = tmp_path / "c.sqlite"
    assert cli("index", "--lake", local_lake, "--catalogue", catalogue).code == 0
    where = ("--lake", local_lake, "--catalogue", catalogue)
    runs = {
        "find": cli("find", *where),
        "find json": cli("find", *where, "--format", "json"),
        "show": cli("show", RAW, *where),
        "show json": cli("show", RAW, *where, "--json"),
        "lineage": cli("lineage", DERIVED, *where),
        "error": cli("show", f"{RAW}\x1b]0;pwned\x07\r", *where),
        "forged error": cli("show", f"{RAW}\nassetlake: all assets deleted", *where),
    }
    for what, result in runs.items():
        assert_harmless(result.out + result.err), what
    assert runs["error"].code == 1 and "\\u001b]0;pwned\\u0007\\u000d" in runs["error"].err
    assert runs["forged error"].err.count("\n") == 1, runs["forged error"].err
    shown = runs["show"].out
    assert "\\u001b]52;c;" in shown and "\\u202egnp.exe" in shown
    assert not any(line.startswith("FORGED") for line in shown.splitlines()), shown
    assert json.loads(runs["show json"].out)["project"].startswith("Brain\x1b]52;c;")
    table = runs["find"].out.splitlines()
    assert len(table) == 3 and not any(line.startswith("FORGED") for line in table), table


def test_validate_problems_are_sanitised_even_through_a_pipe(tmp_path: Path) -> None:
    from factories import make_raw_asset

    folder = make_raw_asset(tmp_path / "a")
    description = json.loads((folder / "data_description.json").read_text())
    description["project_name"] = 12345  # a wrong type, so the value is quoted in a problem
    description["\x1b]0;pwned\x07\x9b2J"] = "\x1b]52;c;aGk=\x07"
    (folder / "data_description.json").write_text(json.dumps(description))
    done = subprocess.run(
        [sys.executable, "-c", "from assetlake.cli import main; main()", "validate", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,  # a guard against a hang, not a speed limit
    )
    assert done.returncode == 1, done.stderr
    assert_harmless(done.stdout + done.stderr)
    assert "\\u001b]0;pwned" in done.stdout
