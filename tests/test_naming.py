"""The name grammar: every rejection, parse/format round trips, the registry and the CLI contract."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assetlake.errors import InvalidNameError
from assetlake.naming import MODALITIES, AssetName, is_asset_name, parse_name, register_modality

RAW = "ecephys_123456_2024-03-01_14-05-09"
DERIVED = f"{RAW}_sorted_2024-03-02_08-00-00"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "asset name is empty"),
        ("ecephys_123456_2024-03-01 14-05-09", "contains ' '"),
        ("ecephys_123456_2024-03-01_14-05-09\t", "contains '\\t'"),
        ("ecephys/123456_2024-03-01_14-05-09", "contains '/'"),
        ("ecephys_123456_2024-03-01", "starts with modality 'ecephys'"),
        (
            "ecephys_123456_2024-03-01_14-05-09_sorted_2024-03-02",
            "has 6 parts but starts with modality",
        ),
        ("ecephys_123_456_2024-03-01_14-05-09", "has 5 '_'-separated parts"),
        ("123456_2024-03-01", "has 2 '_'-separated parts"),
        (f"{RAW}_sorted", "has 5 '_'-separated parts"),
        ("ephys_123456_2024-03-01_14-05-09", "modality 'ephys' in"),
        ("ecephys_12.34_2024-03-01_14-05-09", "subject id '12.34'"),
        ("ecephys_-1234_2024-03-01_14-05-09", "subject id '-1234'"),
        ("ecephys__2024-03-01_14-05-09", "subject id '' in"),
        ("ecephys_123456_2024-3-01_14-05-09", "date '2024-3-01' in"),
        ("ecephys_123456_20240301_14-05-09", "must be YYYY-MM-DD"),
        (
            "ecephys_123456_2023-02-29_14-05-09",
            "'2023-02-29' in 'ecephys_123456_2023-02-29_14-05-09' is not a calendar date",
        ),
        ("ecephys_123456_2024-13-01_14-05-09", "is not a calendar date"),
        ("ecephys_123456_2024-03-01_24-00-00", "time '24-00-00' in"),
        ("ecephys_123456_2024-03-01_14-60-00", "is not a clock time"),
        ("ecephys_123456_2024-03-01_14:05:09", "must be HH-MM-SS"),
        (f"{RAW}_sorted!_2024-03-02_08-00-00", "label 'sorted!'"),
        (f"{RAW}__2024-03-02_08-00-00", "label '' in"),
        (f"{RAW}_sorted-_2024-03-02_08-00-00", "label 'sorted-'"),
    ],
)
def test_invalid_names_are_rejected_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        parse_name(text)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not is_asset_name(text)


def test_derived_name_parts() -> None:
    name = parse_name(DERIVED)
    assert name.level == "derived"
    assert (name.modality, name.subject_id, name.label) == ("ecephys", "123456", "sorted")
    assert name.acquired == datetime(2024, 3, 1, 14, 5, 9)
    assert name.processed == datetime(2024, 3, 2, 8, 0, 0)
    assert name.timestamp == name.processed
    assert name.root == parse_name(RAW)
    assert name.source == parse_name(RAW)


def test_legacy_name_has_no_modality() -> None:
    name = parse_name("123456_2024-03-01_14-05-09")
    assert (name.level, name.modality, name.legacy) == ("raw", None, True)


def test_raw_builder_drops_microseconds_and_timezone() -> None:
    from zoneinfo import ZoneInfo

    moment = datetime(2024, 3, 1, 14, 5, 9, 999_999, tzinfo=ZoneInfo("Europe/Paris"))
    assert str(AssetName.raw("ecephys", "123456", moment)) == RAW


words = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True)
moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda m: m.replace(microsecond=0)
)
derivations = st.lists(st.tuples(words, moments), min_size=1, max_size=3)


@given(st.sampled_from(sorted(MODALITIES)), words, moments, derivations)
def test_raw_and_derived_names_round_trip(
    modality: str, subject: str, acquired: datetime, steps: list[tuple[str, datetime]]
) -> None:
    name = AssetName.raw(modality, subject, acquired)
    assert parse_name(str(name)) == name
    for label, created in steps:
        name = name.derive(label, created)
        text = str(name)
        assert parse_name(text) == name
        assert str(parse_name(text)) == text
    assert name.root.subject_id == subject
    assert str(name).count("_") == 3 + 3 * len(steps)


@given(
    words.filter(lambda w: w not in MODALITIES),
    moments,
    st.lists(st.tuples(words, moments), max_size=2),
)
def test_legacy_names_round_trip(subject: str, acquired: datetime, steps: list) -> None:
    name = AssetName(subject_id=subject, acquired=acquired)
    for label, created in steps:
        name = name.derive(label, created)
    parsed = parse_name(str(name))
    assert parsed == name
    assert parsed.legacy and parsed.modality is None
    m = acquired
    stamp = f"{m.year:04d}-{m.month:02d}-{m.day:02d}_{m.hour:02d}-{m.minute:02d}-{m.second:02d}"
    assert str(parsed.root) == f"{subject}_{stamp}"


def test_register_modality() -> None:
    text = "optoephys_42_2024-03-01_14-05-09"
    assert not is_asset_name(text)
    register_modality("optoephys", "Optogenetics with electrophysiology")
    try:
        assert parse_name(text).modality == "optoephys"
        assert str(AssetName.raw("optoephys", "42", datetime(2024, 3, 1, 14, 5, 9))) == text
    finally:
        del MODALITIES["optoephys"]
    with pytest.raises(InvalidNameError, match="modality 'opto_ephys'"):
        register_modality("opto_ephys", "Bad")
    assert "opto_ephys" not in MODALITIES


def test_cli_name_parse_json(cli) -> None:
    result = cli("name", "parse", DERIVED, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "name": DERIVED,
        "kind": "derived",
        "modality": "ecephys",
        "subject_id": "123456",
        "acquired": "2024-03-01T14:05:09",
        "legacy": False,
        "source": RAW,
        "label": "sorted",
        "created": "2024-03-02T08:00:00",
    }


def test_cli_name_parse_text(cli) -> None:
    result = cli("name", "parse", RAW)
    assert result.code == 0
    assert result.out.splitlines() == [
        f"name        {RAW}",
        "kind        raw",
        "modality    ecephys",
        "subject_id  123456",
        "acquired    2024-03-01T14:05:09",
        "legacy      False",
    ]


def test_cli_name_parse_rejects_with_one_line(cli) -> None:
    result = cli("name", "parse", "ecephys_123456_2023-02-29_14-05-09")
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines() == [
        "assetlake: error: date '2023-02-29' in 'ecephys_123456_2023-02-29_14-05-09' is not a calendar date"
    ]


def test_cli_name_make(cli) -> None:
    raw = cli(
        "name",
        "make",
        "--modality",
        "ecephys",
        "--subject",
        "123456",
        "--time",
        "2024-03-01T14:05:09",
    )
    assert (raw.code, raw.out) == (0, RAW + "\n")
    derived = cli(
        "name", "make", "--source", RAW, "--label", "sorted", "--time", "2024-03-02T08:00:00"
    )
    assert (derived.code, derived.out) == (0, DERIVED + "\n")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--modality", "ecephys"], 2, "give --modality and --subject"),
        (["--source", RAW], 2, "a derived name needs --source and --label"),
        (["--source", RAW, "--label", "x", "--subject", "1"], 2, "a derived name needs"),
        (
            ["--modality", "ecephys", "--subject", "1", "--time", "yesterday"],
            2,
            "'yesterday' is not an ISO time",
        ),
        (["--modality", "ephys", "--subject", "1"], 1, "modality 'ephys' is not registered"),
        (["--modality", "ecephys", "--subject", "1_2"], 1, "subject id '1_2'"),
        (["--source", "nope", "--label", "x"], 1, "asset name 'nope' has 1"),
        (["--source", RAW, "--label", "a b"], 1, "label 'a b'"),
    ],
)
def test_cli_name_make_errors(cli, args: list[str], code: int, message: str) -> None:
    result = cli("name", "make", *args)
    assert result.code == code
    assert result.out == ""
    assert len(result.err.splitlines()) == 1
    assert message in result.err
