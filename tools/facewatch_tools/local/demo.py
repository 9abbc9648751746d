"""``facewatch demo``: the default scenario through the local stack, with progress and a report."""

from __future__ import annotations

import html
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch.detections.classification import FaceClass, classify
from facewatch.detections.records import ProcessorRecord
from facewatch.fleet.inventory import Inventory
from facewatch.settings import ThresholdSettings
from facewatch_tools.local.outcome import alert_latencies
from facewatch_tools.local.report import Latencies, html_report, incident_table, summary
from facewatch_tools.local.scenario import load_scenario
from facewatch_tools.local.simulator import SimFrame, frames, play
from facewatch_tools.local.stack import LocalStack
from facewatch_tools.template import ROOT


def settings_in_force(stack: LocalStack, environ: Mapping[str, str]) -> str:
    """The detection settings face_events runs with; those taken from the environment marked."""
    runtime = next(
        stack.runtimes[stack.deployed.function_by_arn(m.function_arn).name]
        for m in stack.deployed.mappings
        if m.source_arn.endswith(f"/{stack.detections_stream}")
    )
    env = runtime.environment
    shown = [
        name
        for name in sorted(runtime.spec.settings)
        if name in env and not name.startswith(("POWERTOOLS_", "FACEWATCH_"))
    ]
    return ", ".join(
        f"{name}={env[name]}" + (" (from your environment)" if name in environ else "")
        for name in shown
    )


class Demo:
    def __init__(
        self,
        scenario: Path | None,
        speed: float,
        report: Path,
        out: TextIO,
        *,
        template_path: Path | None = None,
        root: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        # The same settings as `facewatch replay`: the caller's environment, where the
        # template lets a function be configured (MIN_DETECTIONS, FACE_MATCH_THRESHOLD, ...).
        self.environ = dict(os.environ if environ is None else environ)
        self.scenario = load_scenario(scenario)
        self.template_path = template_path or ROOT / "template.yaml"
        self.root = root
        self.speed = speed
        self.report = report
        self.out = out
        self._last_progress = 0.0

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def run(self) -> int:
        began = time.time()
        scenario = self.scenario
        self.say(f"facewatch demo: {scenario.name} ({scenario.duration:.0f} s at {self.speed:g}x)")
        self.say("starting the local stack: moto on 127.0.0.1, the project's template.yaml ...")
        with LocalStack(
            template_path=self.template_path,
            root=self.root,
            slack_routes=scenario.slack_routes(),
            overrides=self.environ,
        ) as stack:
            deployed = stack.deployed
            self.say(
                f"  {stack.stack_name} up in {time.time() - began:.1f} s at {stack.endpoint.url}: "
                f"{len(deployed.functions)} function(s), {len(deployed.mappings)} event source "
                f"mapping(s), {len(deployed.relays)} rule target(s) delivered by the runner"
            )
            self.say(f"  settings in force: {settings_in_force(stack, self.environ)}")
            stack.load_registry(Inventory(sites=scenario.sites, cameras=scenario.cameras))
            stack.subscribe_phones(scenario.phones)
            arns = {camera.id: stack.video_stream_arn(camera.id) for camera in scenario.cameras}
            planned = frames(scenario, time.time(), arns)
            stack.start_background()

            def put(batch: list[SimFrame]) -> None:
                stack.put_records([(f.data(), f.camera_id) for f in batch])

            def progress(offset: float, count: int) -> None:
                now = time.time()
                if now - self._last_progress >= 1.0 or count == len(planned):
                    self._last_progress = now
                    alerts = sum(
                        1 for e in stack.alert_events() if e.detail_type == ALERT_DETAIL_TYPE
                    )
                    self.say(
                        f"  t={offset:5.1f} s  records {count:4d}/{len(planned)}  "
                        f"alerts {alerts}  slack {len(stack.slack.posts)}  "
                        f"sms {len(stack.sms_messages())}"
                    )

            playback = play(planned, put, speed=self.speed, on_progress=progress)
            stack.stop_background()
            stack.pump()
            return self._results(stack, playback.put_at, began)

    def _results(
        self, stack: LocalStack, put_at: list[tuple[SimFrame, float]], began: float
    ) -> int:
        face_events = next(
            stack.runtimes[stack.deployed.function_by_arn(m.function_arn).name]
            for m in stack.deployed.mappings
            if m.source_arn.endswith(f"/{stack.detections_stream}")
        )
        env = face_events.environment
        thresholds = ThresholdSettings.from_env(env)
        puts = []
        for frame, when in put_at:
            record = ProcessorRecord.model_validate(frame.record)
            unknown = any(
                classify(e, thresholds).face_class is FaceClass.UNKNOWN for e in record.faces
            )
            puts.append((record.frame_time, record.camera_id, unknown, when))
        alerts = [e for e in stack.alert_events() if e.detail_type == ALERT_DETAIL_TYPE]
        to_alert = alert_latencies(puts, alerts, int(env.get("MIN_DETECTIONS", "2")))
        latencies = Latencies(to_alert=list(to_alert.values()))
        for post in stack.slack.posts:
            text = post.text()
            for incident_id, alert_latency in to_alert.items():
                if incident_id in text:
                    event = next(e for e in alerts if e.detail.get("incidentId") == incident_id)
                    latencies.to_slack.append(alert_latency + post.received_at - event.seen_at)
                    break
        incidents = stack.incidents()
        sms = stack.sms_messages()
        self.say("")
        self.say(f"incidents ({len(incidents)}):")
        self.say(incident_table(incidents) if incidents else "  none")
        self.say("")
        self.say(f"Slack messages ({len(stack.slack.posts)}):")
        for post in stack.slack.posts:
            first = post.text().splitlines()[0] if post.text() else "(no text)"
            self.say(f"  #{post.route}: {first}")
        if not stack.notifier_functions("slack"):
            self.say("  (the template has no Slack notifier yet: alert events are on the bus)")
        self.say(f"SMS messages ({len(sms)}):")
        for phone, text in sms:
            self.say(f"  {phone}: {text}")
        self.say("")
        self.say(f"record -> alert event:   {summary(latencies.to_alert)}")
        self.say(f"record -> Slack message: {summary(latencies.to_slack)}")
        failures = stack.failed_deliveries()
        if failures:
            self.say(f"failed deliveries: {len(failures)} (first: {failures[0].error})")
        notes = [f"Scenario: {self.scenario.name}; {len(put_at)} records at {self.speed:g}x."]
        self.report.write_text(
            html_report(
                title="facewatch demo",
                incidents=incidents,
                slack=stack.slack.posts,
                sms=sms,
                alerts=alerts,
                latencies=latencies,
                notes=notes,
            ),
            encoding="utf-8",
        )
        self.say(f"report: {html.escape(str(self.report.resolve()))}")
        self.say(f"done in {time.time() - began:.1f} s; the local stack is stopped.")
        return 0
