"""Complete, valid sidecar sets for a raw and a derived asset.

One source for the committed examples, the test factories and the demo, so all three stay
consistent with the models.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from assetlake.errors import UsageError
from assetlake.naming import AssetName
from assetlake.schema.acquisition import Acquisition, DataStream
from assetlake.schema.base import Sidecar
from assetlake.schema.data_description import DataDescription, Funding
from assetlake.schema.procedures import Craniotomy, Headframe, Injection, Procedures, Surgery
from assetlake.schema.processing import DataProcess, PipelineProcess, Processing
from assetlake.schema.rig import Device, Rig
from assetlake.schema.subject import Subject

EXPERIMENTER = "Jane Doe"
INVESTIGATORS = ["Jane Doe", "John Smith"]


def raw_sidecars(
    name: AssetName,
    acquired: datetime,
    *,
    project: str = "Visual Behavior",
    species: str = "Mus musculus",
    genotype: str = "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
) -> dict[str, Sidecar]:
    """The six sidecars of a raw asset acquired at ``acquired`` (timezone-aware)."""
    modality = name.modality or "ecephys"
    rig_id = f"323_{modality.upper()}1_{acquired:%Y%m%d}"
    surgery_day = acquired.date() - timedelta(days=21)
    end = acquired + timedelta(hours=1)
    return {
        "data_description.json": DataDescription(
            name=str(name),
            subject_id=name.subject_id,
            creation_time=acquired,
            data_level="raw",
            modalities=[modality],
            project_name=project,
            institution="AIND",
            investigators=INVESTIGATORS,
            funding_source=[Funding(funder="AIND")],
        ),
        "subject.json": Subject(
            subject_id=name.subject_id,
            species=species,
            sex="Female",
            date_of_birth=acquired.date() - timedelta(days=120),
            genotype=genotype,
            background_strain="C57BL/6J",
            source="Jackson Laboratory",
        ),
        "procedures.json": Procedures(
            subject_id=name.subject_id,
            subject_procedures=[
                Surgery(
                    start_date=surgery_day,
                    experimenter_full_name=EXPERIMENTER,
                    iacuc_protocol="2109",
                    animal_weight_prior=22.5,
                    procedures=[
                        Headframe(
                            headframe_type="AI Straight bar", headframe_part_number="0160-100-10"
                        ),
                        Craniotomy(
                            craniotomy_type="Circle",
                            craniotomy_hemisphere="Left",
                            craniotomy_size=5.0,
                        ),
                        Injection(
                            injection_materials=["AAV2/1-hSyn-GCaMP6s"],
                            injection_coordinate_ml=-2.8,
                            injection_coordinate_ap=-1.2,
                            injection_coordinate_depth=[0.6],
                            injection_volume=[200.0],
                            injection_hemisphere="Left",
                        ),
                    ],
                )
            ],
        ),
        "rig.json": Rig(
            rig_id=rig_id,
            modification_date=date(acquired.year, 1, 15),
            modalities=[modality],
            devices=[
                Device(
                    name="Probe A",
                    device_type="Neuropixels 1.0 probe",
                    manufacturer="IMEC",
                    model="PRB_1_4_0480_1",
                    serial_number="18005106831",
                ),
                Device(
                    name="Face camera",
                    device_type="Camera",
                    manufacturer="FLIR",
                    model="BFS-U3-16S2M",
                ),
                Device(name="Neuropixels basestation", device_type="DAQ", manufacturer="IMEC"),
            ],
        ),
        "processing.json": Processing(
            processing_pipeline=PipelineProcess(
                processor_full_name=EXPERIMENTER,
                data_processes=[
                    DataProcess(
                        name="Ephys preprocessing",
                        software_version="0.7.0",
                        code_url="https://github.com/AllenNeuralDynamics/aind-data-transfer",
                        start_date_time=end,
                        end_date_time=end + timedelta(minutes=5),
                        input_location=f"/data/{name}",
                        output_location=str(name),
                        parameters={"compression": "blosc-zstd"},
                    )
                ],
            )
        ),
        "acquisition.json": Acquisition(
            subject_id=name.subject_id,
            session_start_time=acquired,
            session_end_time=end,
            experimenter_full_name=[EXPERIMENTER],
            rig_id=rig_id,
            session_type="Receptive field mapping",
            data_streams=[
                DataStream(
                    stream_start_time=acquired,
                    stream_end_time=end,
                    stream_modalities=[modality],
                    daq_names=["Neuropixels basestation"],
                )
            ],
        ),
    }


def derived_sidecars(
    name: AssetName,
    created: datetime,
    *,
    modality: str | None = None,
    acquired: datetime | None = None,
    step: str = "Spike sorting",
    parameters: dict | None = None,
) -> dict[str, Sidecar]:
    """The sidecars of ``name``, derived from ``name.source`` by one processing step ending at
    ``created``; subject, procedures, rig and acquisition are those of a raw asset (as AIND copies
    them from the source)."""
    source = name.source
    if source is None:
        raise UsageError(f"{name} is a raw name; derived_sidecars needs a derived one")
    modality = modality or name.modality or "ecephys"
    acquired = acquired or source.acquired.replace(tzinfo=created.tzinfo)
    sidecars = raw_sidecars(AssetName.raw(modality, name.subject_id, acquired), acquired)
    sidecars["data_description.json"] = DataDescription(
        name=str(name),
        subject_id=name.subject_id,
        creation_time=created,
        data_level="derived",
        modalities=[modality],
        project_name="Visual Behavior",
        institution="AIND",
        investigators=INVESTIGATORS,
        funding_source=[Funding(funder="AIND")],
        source_data=[str(source)],
    )
    sidecars["processing.json"] = Processing(
        processing_pipeline=PipelineProcess(
            processor_full_name=EXPERIMENTER,
            pipeline_version="1.2.0",
            pipeline_url="https://github.com/AllenNeuralDynamics/aind-ephys-pipeline-kilosort25",
            data_processes=[
                DataProcess(
                    name=step,
                    software_version="4.0.9",
                    code_url="https://github.com/MouseLand/Kilosort",
                    start_date_time=created - timedelta(minutes=40),
                    end_date_time=created,
                    input_location=str(source),
                    output_location=str(name),
                    parameters=parameters
                    if parameters is not None
                    else {"Th_universal": 9, "nblocks": 1},
                    outputs={"units": 12},
                )
            ],
        )
    )
    return sidecars
