"""Monthly cost estimate per camera, from cameras.yaml (`facewatch cameras cost`).

Schedules are the main cost lever: a stream processor is billed per minute of video analysed,
and the watchdog runs it only in its camera's hours. The proxy is assumed to stream only in
those hours too; a Kinesis shard is billed every hour it exists.

Prices: US East (N. Virginia), on-demand list prices as noted from the AWS pricing pages
(aws.amazon.com/rekognition/pricing, /kinesis/video-streams/pricing, /kinesis/data-streams/
pricing) in 2026-11. They change and differ by region: check them before budgeting.
"""

from __future__ import annotations

from dataclasses import dataclass

from facewatch.fleet.inventory import Camera, Detector, Inventory
from facewatch.fleet.watchdog import weekly_hours

HOURS_PER_MONTH = 730.0  # AWS's billing month
# Rekognition Video, face search in streaming video, per minute analysed (UNCONFIRMED price).
REKOGNITION_STREAMING_PER_MINUTE = 0.12
# Rekognition Image (DetectFaces / SearchFacesByImage), per image, first 1M images a month.
REKOGNITION_IMAGE_PER_CALL = 0.001
# Kinesis Video Streams: data in, data out to a consumer (the processor reads it), stored.
KVS_INGEST_PER_GB = 0.0085
KVS_CONSUME_PER_GB = 0.0085
KVS_STORAGE_PER_GB_MONTH = 0.023
# Kinesis Data Streams, provisioned: per shard hour, per million 25 KB PUT payload units.
KDS_SHARD_HOUR = 0.015
KDS_PUT_UNITS_PER_MILLION = 0.014
# Assumptions (CLI flags override): camera bitrate, processor output, sampler rate.
DEFAULT_BITRATE_MBPS = 1.0  # 720p/1080p H.264 security camera at a modest bitrate
PROCESSOR_RECORDS_PER_SECOND = 1.0  # aws-facts §2: about one analysed frame a second
DEFAULT_SAMPLER_INTERVAL_SECONDS = 5.0
SAMPLER_CALLS_PER_FRAME = 1.0


@dataclass(frozen=True)
class CostAssumptions:
    retention_hours: int = 72
    bitrate_mbps: float = DEFAULT_BITRATE_MBPS
    sampler_interval_seconds: float = DEFAULT_SAMPLER_INTERVAL_SECONDS

    @property
    def gb_per_hour(self) -> float:
        return self.bitrate_mbps * 1e6 / 8 * 3600 / 1e9


@dataclass(frozen=True)
class CameraCost:
    camera_id: str
    detector: str
    hours: float  # hours a month the camera streams and recognition runs
    recognition: float
    kvs_ingest: float
    kvs_storage: float
    kds: float

    @property
    def total(self) -> float:
        return self.recognition + self.kvs_ingest + self.kvs_storage + self.kds


def camera_cost(camera: Camera, assume: CostAssumptions) -> CameraCost:
    weekly = weekly_hours(camera.schedule)
    hours = weekly * HOURS_PER_MONTH / 168
    ingest_gb = hours * assume.gb_per_hour
    # Stored at any moment: what streamed during the last `retention` hours.
    stored_gb = assume.retention_hours * (weekly / 168) * assume.gb_per_hour
    if camera.detector is Detector.STREAM_PROCESSOR:
        recognition = hours * 60 * REKOGNITION_STREAMING_PER_MINUTE
        consume = ingest_gb * KVS_CONSUME_PER_GB
        put_units = hours * 3600 * PROCESSOR_RECORDS_PER_SECOND / 1e6
        kds = HOURS_PER_MONTH * KDS_SHARD_HOUR + put_units * KDS_PUT_UNITS_PER_MILLION
    else:
        frames = hours * 3600 / assume.sampler_interval_seconds
        recognition = frames * SAMPLER_CALLS_PER_FRAME * REKOGNITION_IMAGE_PER_CALL
        consume = 0.0  # GetImages is billed by the image; folded into the Rekognition line
        kds = 0.0  # samplers share the main detections stream
    return CameraCost(
        camera_id=camera.id,
        detector=camera.detector.value,
        hours=hours,
        recognition=recognition,
        kvs_ingest=ingest_gb * KVS_INGEST_PER_GB + consume,
        kvs_storage=stored_gb * KVS_STORAGE_PER_GB_MONTH,
        kds=kds,
    )


def cost_table(inventory: Inventory, assume: CostAssumptions) -> str:
    """A Markdown table (it also reads well in a terminal)."""
    rows = [camera_cost(c, assume) for c in inventory.cameras]
    lines = [
        "| camera | detector | hours/month | recognition $ | KVS in+out $ | KVS storage $ "
        "| KDS $ | total $/month |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.camera_id} | {r.detector} | {r.hours:.0f} | {r.recognition:.2f} "
            f"| {r.kvs_ingest:.2f} | {r.kvs_storage:.2f} | {r.kds:.2f} | {r.total:.2f} |"
        )
    total = sum(r.total for r in rows)
    lines.append(f"| **all cameras** | | | | | | | **{total:.2f}** |")
    return "\n".join(lines)
