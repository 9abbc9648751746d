"""`facewatch proxy run|check`: the office proxy (RTSP cameras -> one KVS stream each)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from facewatch.fleet.inventory import InventoryError, load_inventory
from facewatch_tools.proxy.backoff import Backoff, BackoffPolicy
from facewatch_tools.proxy.child import spawn_process
from facewatch_tools.proxy.elements import missing_elements, missing_pygobject
from facewatch_tools.proxy.health import HealthBoard
from facewatch_tools.proxy.heartbeat import DEFAULT_NAMESPACE, HeartbeatPublisher
from facewatch_tools.proxy.kvs_credentials import KvsCredentialFile, child_environment
from facewatch_tools.proxy.pipeline import (
    Codec,
    PipelineSettings,
    SinkKind,
    SinkSettings,
    build_argv,
)
from facewatch_tools.proxy.prometheus import MetricsServer
from facewatch_tools.proxy.redaction import RedactingFilter, redact
from facewatch_tools.proxy.rtsp_credentials import (
    CredentialsError,
    RtspCredentials,
    load_credentials,
    locate,
)
from facewatch_tools.proxy.runner import ProxyRunner
from facewatch_tools.proxy.supervisor import CameraSpec, CameraSupervisor, Timeouts

# Not under "facewatch": that is the Lambdas' Powertools logger (JSON on stdout).
logger = logging.getLogger("facewatch_tools.proxy")

EXIT_CONFIG = 1  # a runtime error (bad configuration); 2 is for usage errors
DEFAULT_METRICS_PORT = 9464
_HANDLER_NAME = "facewatch-proxy"


class ConfigError(Exception):
    """Bad configuration: printed as is (already free of secrets), exit code 1."""


def register(subparsers: Any) -> None:
    proxy = subparsers.add_parser(
        "proxy", help="office proxy: each camera's RTSP feed to its own KVS stream"
    )
    commands = proxy.add_subparsers(dest="proxy_command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="stream every camera of a site until SIGTERM")
    _common(run)
    run.add_argument(
        "--metrics-port",
        type=int,
        default=DEFAULT_METRICS_PORT,
        help="Prometheus text on 127.0.0.1:PORT/metrics (0 = any free port)",
    )
    run.add_argument(
        "--no-heartbeat", action="store_true", help="do not publish the CloudWatch heartbeat"
    )
    run.add_argument("--heartbeat-interval", type=float, default=60.0, metavar="SECONDS")
    run.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="CloudWatch namespace")
    run.add_argument("--latency-ms", type=int, default=200, help="rtspsrc latency (jitter buffer)")
    run.add_argument("--backoff-initial", type=float, default=1.0, metavar="SECONDS")
    run.add_argument(
        "--backoff-max",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="upper bound of any restart delay",
    )
    run.add_argument(
        "--stall-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="restart a pipeline that passed no frame for this long",
    )
    run.add_argument(
        "--kvs-credential-file",
        type=Path,
        default=None,
        help="where kvssink's credential file is kept "
        "(default: $RUNTIME_DIRECTORY/kvs-credential or a private temp dir)",
    )
    run.add_argument(
        "--kvs-storage-mb",
        type=int,
        default=None,
        help="kvssink storage-size per camera (SDK default 128)",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    run.set_defaults(func=run_command)
    check = commands.add_parser(
        "check", help="check inventory, RTSP credentials and GStreamer elements; print pipelines"
    )
    _common(check)
    check.set_defaults(func=check_command)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", required=True, help="site id from the inventory")
    parser.add_argument("--inventory", type=Path, default=Path("cameras.yaml"))
    parser.add_argument(
        "--credentials",
        type=Path,
        default=None,
        help="RTSP credentials file (default: $CREDENTIALS_DIRECTORY/"
        "rtsp-credentials, then /etc/facewatch/rtsp-credentials.yaml)",
    )
    parser.add_argument(
        "--sink",
        type=SinkKind,
        choices=list(SinkKind),
        default=SinkKind.KVSSINK,
        help="kvssink (production), filesink (one .mkv per run) or fakesink",
    )
    parser.add_argument("--output-dir", type=Path, default=None, help="filesink: directory")
    parser.add_argument(
        "--region", default=None, help="AWS region for kvssink and CloudWatch (default: the host's)"
    )
    parser.add_argument("--codec", type=Codec, choices=list(Codec), default=Codec.H264,
                        help="codec tried first; the proxy switches when a camera announces "
                        "the other one")  # fmt: skip


def _site_cameras(args: argparse.Namespace, credentials: RtspCredentials) -> list[CameraSpec]:
    try:
        inventory = load_inventory(args.inventory)
    except (InventoryError, OSError) as exc:
        raise ConfigError(str(exc)) from None
    try:
        inventory.site(args.site)
    except KeyError:
        known = ", ".join(s.id for s in inventory.sites) or "none"
        raise ConfigError(
            f"site {args.site!r} is not in {args.inventory} (sites: {known})"
        ) from None
    specs = []
    for camera in inventory.cameras_at(args.site):
        if camera.rtsp_url is None:
            logger.warning("camera %s has no rtsp_url in the inventory: not proxied", camera.id)
            continue
        specs.append(
            CameraSpec(camera.id, camera.rtsp_url, credentials.for_camera(camera.id), args.codec)
        )
    if not specs:
        raise ConfigError(f"site {args.site!r} has no camera with an rtsp_url in {args.inventory}")
    return specs


def _credentials(args: argparse.Namespace) -> tuple[RtspCredentials, Path | None]:
    path = locate(args.credentials)
    try:
        return load_credentials(path), path
    except CredentialsError as exc:
        raise ConfigError(str(exc)) from None


def _region(args: argparse.Namespace) -> str | None:
    if args.region:
        return str(args.region)
    import boto3  # noqa: PLC0415 - only when AWS is used

    region = boto3.session.Session().region_name
    return str(region) if region else None


def _sink(args: argparse.Namespace, region: str | None, kvs_file: Path | None) -> SinkSettings:
    if args.sink is SinkKind.FILESINK and args.output_dir is None:
        raise ConfigError("--sink filesink needs --output-dir")
    if args.sink is SinkKind.KVSSINK and not region:
        raise ConfigError("kvssink needs an AWS region: pass --region or set AWS_REGION")
    return SinkSettings(
        kind=args.sink,
        output_dir=args.output_dir,
        aws_region=region if args.sink is SinkKind.KVSSINK else None,
        kvs_credential_path=kvs_file,
        kvs_storage_mb=getattr(args, "kvs_storage_mb", None),
    )


def _setup_logging(level: str, secrets: list[str]) -> RedactingFilter:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    redacting = RedactingFilter(secrets)
    handler.addFilter(redacting)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only our own handler (a second run in one process must not log twice).
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    root.addHandler(handler)
    root.setLevel(level)
    return redacting


def check_command(args: argparse.Namespace) -> int:
    """Print what `run` would do and every problem found; exit 0 only if there is none."""
    problems: list[str] = []
    try:
        credentials, path = _credentials(args)
    except ConfigError as exc:
        credentials, path = RtspCredentials(), None
        problems.append(str(exc))
    try:
        specs = _site_cameras(args, credentials)
    except ConfigError as exc:
        print(f"problem: {exc}")
        return EXIT_CONFIG
    region = None if args.sink is not SinkKind.KVSSINK else _region(args)
    try:
        sink = _sink(args, region, Path("<kvs-credential-file>"))
    except ConfigError as exc:
        problems.append(str(exc))
        sink = SinkSettings(kind=args.sink, output_dir=args.output_dir or Path("<output-dir>"))
    settings = PipelineSettings(sink=sink)
    problems += missing_elements(settings.required_elements())
    if any(spec.login for spec in specs):
        problems += missing_pygobject()
    print(f"site {args.site}: {len(specs)} camera(s); RTSP credentials: {path or 'none'}")
    secrets = credentials.secrets()
    for spec in specs:
        login = "login " + spec.login.username if spec.login else "no login"
        argv = build_argv(spec.camera_id, spec.url, spec.login, spec.codec, settings, run=1)
        print(f"  {spec.camera_id}: {redact(spec.url, secrets)} ({login})")
        print(f"    {redact(' '.join(argv), secrets)}")
    for problem in problems:
        print(f"problem: {problem}")
    return EXIT_CONFIG if problems else 0


def run_command(args: argparse.Namespace) -> int:
    redacting = _setup_logging(args.log_level, [])
    try:
        credentials, path = _credentials(args)
        redacting.add_secrets(credentials.secrets())
        specs = _site_cameras(args, credentials)
        kvs = args.sink is SinkKind.KVSSINK
        region = _region(args) if kvs or not args.no_heartbeat else None
        if not args.no_heartbeat and not region:
            raise ConfigError(
                "the CloudWatch heartbeat needs an AWS region: pass --region, set AWS_REGION, "
                "or pass --no-heartbeat"
            )
        missing = missing_elements(_sink(args, region, None).required_elements())
        if missing:
            raise ConfigError("\n".join(missing))
        policy = BackoffPolicy(initial=args.backoff_initial, maximum=args.backoff_max)
        PipelineSettings(latency_ms=args.latency_ms)  # validates the flags before any side effect
    except (ConfigError, ValueError) as exc:
        logger.error("%s", exc)
        return EXIT_CONFIG
    own_dir: Path | None = None
    kvs_file: Path | None = args.kvs_credential_file
    if kvs and kvs_file is None:
        runtime = os.environ.get("RUNTIME_DIRECTORY")  # systemd RuntimeDirectory=, mode 0700
        if runtime is None:
            own_dir = Path(tempfile.mkdtemp(prefix="facewatch-proxy-"))  # private, 0700
        kvs_file = Path(runtime or own_dir or ".") / "kvs-credential"
    settings = PipelineSettings(latency_ms=args.latency_ms, sink=_sink(args, region, kvs_file))
    if settings.sink.output_dir is not None:
        settings.sink.output_dir.mkdir(parents=True, exist_ok=True)
    logger.info("proxy for site %s; RTSP credentials from %s", args.site, path or "nowhere")
    try:
        return asyncio.run(
            _serve(
                args, specs=specs, settings=settings, policy=policy, credentials=credentials,
                region=region, kvs_file=kvs_file,
            )
        )  # fmt: skip
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


async def _serve(
    args: argparse.Namespace,
    *,
    specs: list[CameraSpec],
    settings: PipelineSettings,
    policy: BackoffPolicy,
    credentials: RtspCredentials,
    region: str | None,
    kvs_file: Path | None,
) -> int:
    board = HealthBoard(args.site, stall_after=args.stall_timeout)
    env = child_environment(dict(os.environ), credential_file=kvs_file is not None)
    timeouts = Timeouts(stall=args.stall_timeout, first_frame=max(20.0, 2 * args.stall_timeout))
    supervisors = []
    for spec in specs:
        supervisor = CameraSupervisor(
            spec, settings, board, Backoff(policy), spawn_process, env=env, timeouts=timeouts,
            secrets=tuple(credentials.secrets()),
        )  # fmt: skip
        board.add(spec.camera_id, supervisor.url)
        supervisors.append(supervisor)
    heartbeat = None
    kvs_credentials = None
    if not args.no_heartbeat or kvs_file is not None:
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        session = boto3.session.Session(region_name=region)
        if not args.no_heartbeat:
            # Short timeouts: a dead uplink must not hold up a beat or the shutdown.
            config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3})
            heartbeat = HeartbeatPublisher(
                session.client("cloudwatch", config=config), args.site, board.snapshot,
                args.namespace,
            )  # fmt: skip
        if kvs_file is not None:
            kvs_credentials = KvsCredentialFile(kvs_file, session.get_credentials)
    try:
        server = MetricsServer(board.snapshot, args.metrics_port)
    except OSError as exc:
        logger.error("cannot serve metrics on 127.0.0.1:%d: %s", args.metrics_port, exc.strerror)
        return EXIT_CONFIG
    server.start()
    logger.info("metrics on http://127.0.0.1:%d/metrics", server.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = ProxyRunner(
        supervisors, heartbeat=heartbeat, heartbeat_interval=args.heartbeat_interval,
        kvs_credentials=kvs_credentials, stop_grace=timeouts.stop_grace + 5,
    )  # fmt: skip
    try:
        await runner.run(stop)
    except Exception as exc:
        logger.error("proxy failed: %s", exc)
        return 1
    finally:
        server.stop()
    return 0
