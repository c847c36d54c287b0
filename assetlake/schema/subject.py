"""``subject.json``: the animal the data came from."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from assetlake.schema.base import Sidecar, version_field


class Subject(Sidecar):
    """The subject: species, sex, birth date and genotype, named as in aind-data-schema."""

    filename: ClassVar[str] = "subject.json"

    schema_version: str = version_field("1.0.0")
    subject_id: str = Field(title="Subject ID", description="Unique identifier of the subject.")
    species: str = Field(
        title="Species",
        description="Binomial name, e.g. Mus musculus; AIND species objects read as their name.",
    )
    sex: Literal["Male", "Female"] = Field(title="Sex")
    date_of_birth: date = Field(title="Date of birth")
    genotype: str | None = Field(
        default=None,
        title="Genotype",
        description="Full genotype, e.g. Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt; "
        "wt/wt for wild type.",
    )
    background_strain: str | None = Field(default=None, title="Background strain")
    source: str | None = Field(
        default=None,
        title="Source",
        description="Where the subject came from, e.g. Jackson Laboratory.",
    )
    notes: str | None = Field(default=None, title="Notes")
