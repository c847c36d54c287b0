"""Realistic synthetic catalogue records, for benchmarks and tests at scales no lake holds yet.

About one subject per 20 assets, modalities from the name registry, a few dozen projects and
genotypes (and one rare one), ~40% derived assets in chains up to 3 deep, and a small consolidated document per asset
with session notes in free text (a few rare words make selective full-text queries).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from assetlake.catalogue import Record
from assetlake.naming import MODALITIES

LAKE = "s3://synthetic-lake"
#: Bumped whenever the records change; benchmark caches are keyed on it.
REVISION = 2
PROJECTS = tuple(
    f"{area} {topic}"
    for area in ("Visual", "Motor", "Thalamus", "Hippocampus", "Striatum", "Cerebellum")
    for topic in ("Coding", "Learning", "Dynamics", "Atlas", "Behavior")
)
DRIVERS = ("Sst-IRES-Cre", "Pvalb-IRES-Cre", "Vip-IRES-Cre", "Slc17a7-IRES2-Cre", "Rbp4-Cre_KL100",
           "Dbh-Cre_KH212", "Chat-IRES-Cre-neo", "Drd1-Cre", "Adora2a-Cre")  # fmt: skip
REPORTERS = ("Ai32(RCL-ChR2(H134R)_EYFP)", "Ai14(RCL-tdT)", "Ai148(TIT2L-GC6f-ICL-tTA2)",
             "Ai93(TITL-GCaMP6f)", "Ai162(TIT2L-GC6s-ICL-tTA2)")  # fmt: skip
GENOTYPES = ("wt/wt", *(f"{d}/wt;{r}/wt" for d in DRIVERS for r in REPORTERS[:3]))
#: A genotype of about 8 raw assets (and their derived ones) at any scale: a rare genotype search.
RARE_GENOTYPE = "Tac1-IRES2-Cre/wt;Ai65(RCFL-tdT)/wt"
RARE_GENOTYPE_RAW = 8
SPECIES = ("Mus musculus",) * 18 + ("Rattus norvegicus", "Macaca mulatta")
INSTITUTIONS = ("AIND", "AIBS", "IBL", "Janelia")
PEOPLE = tuple(
    f"{f} {s}"
    for f in ("Ana", "Ben", "Chen", "Dara", "Eli", "Fay")
    for s in ("Ito", "Kim", "Lee", "Ruiz")
)
WORDS = ["mouse", "alert", "licking", "running", "stable", "probe", "insertion", "recording", "rig", "session", "reward", "water", "stimulus", "grating", "drifting", "natural", "movie", "left", "right", "trial", "block", "good", "noisy", "quiet", "baseline", "imaging", "plane", "depth", "cortex", "layer", "shank", "channel", "units", "spikes", "lfp", "camera", "face", "body", "eye", "pupil", "whisker", "tone", "odor"]  # fmt: skip
#: Words that occur in about 1% of notes: free-text queries with realistic selectivity.
RARE_WORDS = ("seizure", "headbar", "bleeding", "saturation", "photobleaching", "desync")
LABELS = ("sorted", "curated", "analysis", "processed", "registered", "segmented")
START = datetime(2019, 1, 1)
SPAN_SECONDS = 6 * 365 * 24 * 3600


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d_%H-%M-%S")


def synthetic_records(n: int, seed: int = 0) -> Iterator[Record]:
    """``n`` records, the same for the same seed; derived records follow their source."""
    rng = random.Random(seed)
    modalities = sorted(MODALITIES)
    subjects = max(1, n // 20)
    rare_every = max(1, n // RARE_GENOTYPE_RAW)
    next_rare = rare_every // 2
    made = 0
    while made < n:
        subject = str(100000 + rng.randrange(subjects))
        modality = rng.choice(modalities)
        acquired = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        offset = rng.choice(("-08:00", "-07:00"))
        name = f"{modality}_{subject}_{_stamp(acquired)}"
        extra = ["behavior-videos"] if rng.random() < 0.3 and modality != "behavior-videos" else []
        base = {
            "modalities": [modality, *extra],
            "subject_id": subject,
            "acquired": acquired.isoformat() + offset,
            "project": rng.choice(PROJECTS),
            "species": rng.choice(SPECIES),
            "sex": rng.choice(("Male", "Female")),
            "genotype": rng.choice(GENOTYPES),
            "institution": rng.choice(INSTITUTIONS),
            "investigators": rng.sample(PEOPLE, rng.randint(1, 3)),
        }
        if made >= next_rare:  # no draw from rng, so every other record stays the same
            base["genotype"] = RARE_GENOTYPE
            next_rare += rare_every
        yield _record(rng, name, base, None, None, acquired)
        made += 1
        depth = rng.choices((0, 1, 2, 3), weights=(60, 20, 10, 10))[0]
        source, processed = name, acquired
        for _ in range(depth):
            if made >= n:
                return
            label = rng.choice(LABELS)
            processed = processed + timedelta(seconds=rng.randrange(3600, 30 * 24 * 3600))
            derived = f"{source}_{label}_{_stamp(processed)}"
            yield _record(rng, derived, base, source, label, processed)
            made += 1
            source = derived if rng.random() < 0.8 else source


def _record(
    rng: random.Random,
    name: str,
    base: dict,
    source: str | None,
    label: str | None,
    moment: datetime,
) -> Record:
    notes = " ".join(rng.choices(WORDS, k=rng.randint(6, 12)))
    if rng.random() < 0.01:
        notes += " " + rng.choice(RARE_WORDS)
    roll = rng.random()
    status = "invalid" if roll < 0.05 else "unverified" if roll < 0.1 else "valid"
    size = rng.randrange(10**6, 10**11)
    entry = base["modalities"][0]
    contents = [
        {"path": f"{entry}.zarr", "format": "zarr", "size": size, "objects": rng.randint(10, 5000)}
    ]
    metadata = {
        "schema_version": "1",
        "name": name,
        "data_description": {
            "name": name,
            "project_name": base["project"],
            "institution": base["institution"],
            "investigators": base["investigators"],
            "modalities": base["modalities"],
        },
        "subject": {
            "subject_id": base["subject_id"],
            "species": base["species"],
            "sex": base["sex"],
            "genotype": base["genotype"],
        },
        "acquisition": {"notes": notes, "rig_id": f"rig-{rng.randint(1, 40)}"},
    }
    if source is not None:
        metadata["processing"] = {"pipeline": label, "source": source}
    return Record(
        name=name,
        url=f"{LAKE}/{name}",
        level="raw" if source is None else "derived",
        source=source,
        label=label,
        processed=None if source is None else moment.isoformat() + "-08:00",
        size=size,
        objects=contents[0]["objects"],
        schema_versions={"data_description.json": "1", "subject.json": "1"},
        status=status,
        problems=[
            {
                "file": "subject.json",
                "path": "genotype",
                "message": "bad",
                "value": None,
                "severity": "error",
            }
        ]
        if status == "invalid"
        else [],
        metadata=metadata,
        contents=contents,
        **base,
    )
