"""``facewatch demo``: the default scenario through the local stack, with progress and a report.

A scenario whose sites name regions runs one local stack per region (each its own moto server
and account, as each region is its own deployment): every camera's frames go to its site's
region, alerts come from each region's own stack, and the demo ends with one audit merged from
every region's table (read here, nothing copied between regions).
"""

from __future__ import annotations

import dataclasses
import html
import os
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from facewatch.alerts.event import ALERT_DETAIL_TYPE
from facewatch.alerts.updated import UPDATED_DETAIL_TYPE
from facewatch.audit.history import IncidentHistory
from facewatch.audit.lifecycle import Actor
from facewatch.audit.merged import MergedHistory, RegionalHistory
from facewatch.detections.classification import FaceClass, classify
from facewatch.detections.records import ProcessorRecord
from facewatch.fleet.inventory import Inventory
from facewatch.settings import ThresholdSettings
from facewatch_tools.local.eventbridge import BusEvent
from facewatch_tools.local.functions import FunctionRuntime
from facewatch_tools.local.outcome import alert_latencies
from facewatch_tools.local.report import Latencies, html_report, incident_table, summary
from facewatch_tools.local.scenario import Scenario, load_scenario
from facewatch_tools.local.server import LOCAL_REGION
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


def serve_until_stopped(stacks: Mapping[str, LocalStack]) -> None:
    """`demo --serve`: the stacks keep running (their clip endpoints answer the report's links)
    until Ctrl-C or SIGTERM."""
    import threading  # noqa: PLC0415

    from facewatch_tools.local.session import stop_on_signals  # noqa: PLC0415

    stop = threading.Event()
    stop_on_signals(stop)
    for stack in stacks.values():
        stack.start_background(interval=0.25)
    stop.wait()
    for stack in stacks.values():
        stack.stop_background()


TICKER_RULE = "AlertTickerFunctionTick"  # the alert ticker's schedule (template.yaml)


def subscribe_desks(stack: LocalStack, scenario: Scenario, here: Inventory) -> None:
    """What `facewatch subscribers add` does: the org-wide phones in every region, a site's
    phones (``--site``) only for that site's alerts, in its region."""
    stack.subscribe_phones(scenario.phones_of(None))
    for site in here.sites:
        if phones := scenario.phones_of(site.id):
            stack.subscribe_phones(phones, {"site": [site.id]})


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
        serve: Callable[[Mapping[str, LocalStack]], None] | None = None,
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
        # Called with the stacks still up once the report is written (`demo --serve` waits for
        # Ctrl-C): the clip links of the report, Slack and SMS open only while a stack runs.
        self.serve = serve
        self._last_progress = 0.0
        self._follow_up_at: dict[int, float] = {}  # id(stack) -> when its follow-up began

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def run(self) -> int:
        began = time.time()
        scenario = self.scenario
        inventory = Inventory(sites=scenario.sites, cameras=scenario.cameras)
        regions = [r or LOCAL_REGION for r in inventory.regions]
        self.say(f"facewatch demo: {scenario.name} ({scenario.duration:.0f} s at {self.speed:g}x)")
        self.say(
            f"starting {len(regions)} local stack(s), one per region ({', '.join(regions)}): "
            "moto on 127.0.0.1, the project's template.yaml ..."
        )
        with ExitStack() as running:
            stacks: dict[str, LocalStack] = {}
            for region in regions:
                started = time.time()
                stack = running.enter_context(
                    LocalStack(
                        template_path=self.template_path,
                        root=self.root,
                        slack_routes=scenario.slack_routes(),
                        region=region,
                        overrides=self.environ,
                    )
                )
                stacks[region] = stack
                deployed = stack.deployed
                self.say(
                    f"  {region}: {stack.stack_name} up in {time.time() - started:.1f} s at "
                    f"{stack.endpoint.url}: {len(deployed.functions)} function(s), "
                    f"{len(deployed.mappings)} event source mapping(s), {len(deployed.relays)} "
                    "rule target(s) delivered by the runner"
                )
                if len(stacks) == 1:  # the same template and settings in every region
                    self.say(f"  settings in force: {settings_in_force(stack, self.environ)}")
                here = inventory.in_region(region)
                stack.load_registry(here)  # this region's sites only
                subscribe_desks(stack, scenario, here)
            first = next(iter(stacks.values()))
            self.say(f"  settings in force: {settings_in_force(first, self.environ)}")
            home = {
                camera.id: stacks[inventory.site(camera.site).region or LOCAL_REGION]
                for camera in scenario.cameras
            }
            arns = {cam: stack.video_stream_arn(cam) for cam, stack in home.items()}
            planned = frames(scenario, time.time(), arns)
            for stack in stacks.values():
                stack.start_background()

            def put(batch: list[SimFrame]) -> None:
                for stack in stacks.values():
                    mine = [f for f in batch if home[f.camera_id] is stack]
                    if mine:
                        stack.put_records([(f.data(), f.camera_id) for f in mine])

            def progress(offset: float, count: int) -> None:
                now = time.time()
                if now - self._last_progress >= 1.0 or count == len(planned):
                    self._last_progress = now
                    alerts = sum(
                        1
                        for stack in stacks.values()
                        for e in stack.alert_events()
                        if e.detail_type == ALERT_DETAIL_TYPE
                    )
                    slack = sum(len(stack.slack.posts) for stack in stacks.values())
                    updated = sum(  # chat.update: the messages growing with their incidents
                        len(m.versions) - 1
                        for stack in stacks.values()
                        for m in stack.slack.top_level()
                    )
                    sms = sum(len(stack.sms_messages()) for stack in stacks.values())
                    self.say(
                        f"  t={offset:5.1f} s  records {count:4d}/{len(planned)}  "
                        f"alerts {alerts}  slack {slack} (+{updated} updates)  sms {sms}"
                    )

            playback = play(planned, put, speed=self.speed, on_progress=progress)
            for stack in stacks.values():
                stack.stop_background()
                stack.pump()
                self._follow_up(stack)
            code = self._results(stacks, home, playback.put_at, began)
            if self.serve is not None:
                self.serve(stacks)
            return code

    def _follow_up(self, stack: LocalStack) -> None:
        """What the minute after a visit brings: the ticker brings each Slack message up to date
        (the incident grew after its alert), an operator acknowledges the first incident, and
        once the cameras have been quiet for the incident window the visits end. What Slack
        showed before this came live, from face_events' ``Incident Updated``."""
        self._follow_up_at[id(stack)] = time.time()
        ticker = next((r.spec.rule for r in stack.relays if r.spec.rule == TICKER_RULE), None)
        if ticker is None:
            return
        alerts = [e for e in stack.alert_events() if e.detail_type == ALERT_DETAIL_TYPE]
        now = time.time()
        stack.run_schedule(ticker, at=now + 1)
        stack.pump()
        if alerts:
            history = IncidentHistory(stack.client("dynamodb"), stack.deployed.outputs["TableName"])
            operator = Actor(id="security-desk", name="security desk", channel="cli")
            history.change_status(alerts[0].detail["incidentId"], "acknowledged", operator, now + 2)
        stack.run_schedule(ticker, at=now + 3)
        stack.pump()
        window = float(self._face_events(stack).environment.get("INCIDENT_WINDOW_SECONDS", "60"))
        stack.run_schedule(ticker, at=now + window + 5)
        stack.pump()

    def _say_slack(self, stack: LocalStack, region: str = "") -> None:
        posts = [p for p in stack.slack.posts if not p.payload.get("thread_ts")]
        title = f"Slack messages in {region}" if region else "Slack messages"
        self.say(f"{title} ({len(posts)}):")  # thread replies: under their message
        prefix = f"{region} " if region else ""
        for post in posts:
            first = post.text().splitlines()[0] if post.text() else "(no text)"
            self.say(f"  {prefix}#{post.route}: {first}")
        follow_up = self._follow_up_at.get(id(stack), float("inf"))
        live = 0
        for message in stack.slack.top_level():
            if len(message.versions) > 1 or stack.slack.replies(message):
                self.say(f"  message {message.ts} in #{message.channel}, as it changed:")
                for number, (version, at) in enumerate(
                    zip(message.versions, message.changed_at, strict=True), 1
                ):
                    status = [
                        e.get("text", "")
                        for b in version.get("blocks", [])
                        if b.get("block_id") == "facewatch_status"
                        for e in b.get("elements", [])
                    ]
                    line = " · ".join([version.get("text", ""), *status])
                    cause = ""
                    if number > 1:  # before the follow-up only face_events' events update it
                        cause = " [live]" if at < follow_up else " [follow-up]"
                        live += 1 if at < follow_up else 0
                    self.say(f"    v{number}{cause}: {line}")
                for reply in stack.slack.replies(message):
                    self.say(f"    thread: {reply.versions[-1].get('text', '')}")
        updates = [e for e in stack.alert_events() if e.detail_type == UPDATED_DETAIL_TYPE]
        if updates or live:
            interval = self._face_events(stack).environment.get(
                "SLACK_UPDATE_MIN_INTERVAL_SECONDS", "10"
            )
            self.say(
                f"  [live]: {live} chat.update from {len(updates)} Incident Updated while the "
                f"visits went on (at most one per incident per {interval} s); [follow-up]: the "
                "alert ticker (trailing changes within a minute, end of visit) and the operator"
            )

    def _face_events(self, stack: LocalStack) -> FunctionRuntime:
        return next(
            stack.runtimes[stack.deployed.function_by_arn(m.function_arn).name]
            for m in stack.deployed.mappings
            if m.source_arn.endswith(f"/{stack.detections_stream}")
        )

    def _results(
        self,
        stacks: dict[str, LocalStack],
        home: dict[str, LocalStack],
        put_at: list[tuple[SimFrame, float]],
        began: float,
    ) -> int:
        to_alert: dict[str, float] = {}
        alerts = []
        latencies = Latencies(to_alert=[])
        for stack in stacks.values():
            mine = [(f, when) for f, when in put_at if home[f.camera_id] is stack]
            found, stack_alerts = self._alert_latencies(stack, mine)
            to_alert |= found
            alerts += stack_alerts
            for post in stack.slack.posts:
                text = post.text()
                for incident_id, alert_latency in found.items():
                    if incident_id in text:
                        event = next(
                            e for e in stack_alerts if e.detail.get("incidentId") == incident_id
                        )
                        latencies.to_slack.append(alert_latency + post.received_at - event.seen_at)
                        break
        latencies.to_alert = list(to_alert.values())
        # The report's clip column: the signed link of the clip endpoint (what Slack and SMS
        # carry), not the alert's HLS session URL, which expires and needs KVS to play.
        incidents = [
            dataclasses.replace(i, clip_url=stack.clip_link(i.incident_id) if i.alerted else None)
            for stack in stacks.values()
            for i in stack.incidents()
        ]
        posts = [(region, p) for region, stack in stacks.items() for p in stack.slack.posts]
        sms = [m for stack in stacks.values() for m in stack.sms_messages()]
        several = len(stacks) > 1
        self.say("")
        for region, stack in stacks.items():
            rows = stack.incidents()
            title = f"incidents in {region}" if several else "incidents"
            self.say(f"{title} ({len(rows)}):")
            self.say(incident_table(rows) if rows else "  none")
        self.say("")
        for region, stack in stacks.items():
            self._say_slack(stack, region if several else "")
        if not any(stack.notifier_functions("slack") for stack in stacks.values()):
            self.say("  (the template has no Slack notifier yet: alert events are on the bus)")
        self.say(f"SMS messages ({len(sms)}):")
        for phone, text in sms:
            self.say(f"  {phone}: {text}")
        if several:
            self._merged_audit(stacks)
        self.say("")
        self.say(f"record -> alert event:   {summary(latencies.to_alert)}")
        self.say(f"record -> Slack message: {summary(latencies.to_slack)}")
        failures = [f for stack in stacks.values() for f in stack.failed_deliveries()]
        if failures:
            self.say(f"failed deliveries: {len(failures)} (first: {failures[0].error})")
        notes = [
            f"Scenario: {self.scenario.name}; {len(put_at)} records at {self.speed:g}x; "
            f"regions: {', '.join(stacks)}."
        ]
        self.report.write_text(
            html_report(
                title="facewatch demo",
                incidents=incidents,
                slack=[p for _, p in posts],
                sms=sms,
                alerts=alerts,
                latencies=latencies,
                notes=notes,
            ),
            encoding="utf-8",
        )
        self.say(f"report: {html.escape(str(self.report.resolve()))}")
        bases = ", ".join(sorted({s.clip_base_url or "-" for s in stacks.values()}))
        if self.serve is None:
            self.say(f"done in {time.time() - began:.1f} s; the local stacks are stopped.")
            self.say(
                f"clip links (report, Slack, SMS) point at the local clip endpoint ({bases}): "
                "they open while a demo runs with --serve"
            )
        else:
            self.say(f"done in {time.time() - began:.1f} s.")
            self.say(
                f"clip links (report, Slack, SMS) open at {bases} while the local stacks run; "
                "Ctrl-C stops them"
            )
        return 0

    def _alert_latencies(
        self, stack: LocalStack, put_at: list[tuple[SimFrame, float]]
    ) -> tuple[dict[str, float], list[BusEvent]]:
        face_events = self._face_events(stack)
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
        return alert_latencies(puts, alerts, int(env.get("MIN_DETECTIONS", "2"))), alerts

    def _merged_audit(self, stacks: dict[str, LocalStack]) -> None:
        """What `facewatch audit incidents` answers across the regions: read from each region's
        own table and merged here."""

        def opener(stack: LocalStack) -> Callable[[], IncidentHistory]:
            table = stack.deployed.outputs["TableName"]
            return lambda: IncidentHistory(stack.client("dynamodb"), table)

        merged = MergedHistory([RegionalHistory(r, opener(s)) for r, s in stacks.items()])
        found = list(merged.incidents())
        self.say("")
        self.say(f"one audit, every region ({len(found)} incidents, oldest first):")
        for incident in found:
            self.say(
                f"  {incident.first_seen.isoformat(timespec='seconds')}  {incident.region:<15} "
                f"{incident.incident_id:<18} {incident.site_id:<10} {incident.camera_id:<22} "
                f"{incident.status}"
            )
        for region, why in merged.unreachable.items():
            self.say(f"  region {region} could not be reached: {why}")
