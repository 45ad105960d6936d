"""docker-compose.yml and its companion files, checked by parsing them (no Docker engine).

The compose stack must keep DESIGN.md's public contract: the published ports, the env names,
a healthy bus and store before any service starts, and images that run the console script
their service declares.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from inbox_core.channels import GROUP
from inbox_core.settings import AgentTokens, CoreSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

INFRA_SERVICES = ("nats", "mongo")
APP_SERVICES = ("ingest-mail", "ingest-social", "ingest-marketplace", "router", "notifier")
ALL_SERVICES = INFRA_SERVICES + APP_SERVICES

# DESIGN.md, "Public contract": the env name and default of each service's ports.
CONTRACT_PORTS: dict[str, dict[str, int]] = {
    "notifier": {"INBOX_API_PORT": 8080},
    "ingest-social": {"INBOX_SOCIAL_PORT": 8081},
    "ingest-mail": {"INBOX_MAIL_HTTP_PORT": 8082, "INBOX_SMTP_PORT": 2525},
    "ingest-marketplace": {"INBOX_MARKET_PORT": 8083},
    "router": {"INBOX_ROUTER_PORT": 8084},
}
# The port serving /healthz and /metrics.
HTTP_PORTS = {
    "notifier": 8080,
    "ingest-social": 8081,
    "ingest-mail": 8082,
    "ingest-marketplace": 8083,
    "router": 8084,
}
# Published on the host: the contract's ports, plus NATS client and monitoring, and MongoDB.
PUBLISHED_PORTS: dict[str, set[int]] = {
    "nats": {4222, 8222, 8443},  # client, monitoring, WebSocket
    "mongo": {27017},
    **{name: set(ports.values()) for name, ports in CONTRACT_PORTS.items()},
}

# Every env name of DESIGN.md's public contract (plus the log and trace settings).
CONTRACT_ENV = (
    "NATS_URL",
    "MONGODB_URL",
    "INBOX_DATA_DIR",
    "INBOX_MONGODB_DB",
    "INBOX_API_PORT",
    "INBOX_SOCIAL_PORT",
    "INBOX_MAIL_HTTP_PORT",
    "INBOX_SMTP_PORT",
    "INBOX_MARKET_PORT",
    "INBOX_ROUTER_PORT",
    "INBOX_AGENT_TOKENS",
    "INBOX_MAIL_DOMAINS",
    "SMTP_RELAY_URL",
    "FACEBOOK_APP_SECRET",
    "FACEBOOK_VERIFY_TOKEN",
    "FACEBOOK_PAGE_TOKEN",
    "META_GRAPH_URL",
    "KAKAO_SKILL_TOKEN",
    "NAVER_TALKTALK_TOKEN",
    "NAVER_TALKTALK_URL",
    "NAVER_COMMERCE_CLIENT_ID",
    "NAVER_COMMERCE_CLIENT_SECRET",
    "NAVER_COMMERCE_URL",
    "NAVER_COMMERCE_ACCOUNT",
    "COUPANG_ACCESS_KEY",
    "COUPANG_SECRET_KEY",
    "COUPANG_VENDOR_ID",
    "COUPANG_URL",
    "INBOX_MARKET_POLL_S",
    "INBOX_STREAM_REPLICAS",
    "INBOX_MAX_DELIVER",
    "INBOX_LOG_LEVEL",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "INBOX_INSECURE_WEBHOOKS",
    "INBOX_PUBLIC_URL",
)
# Read by inbox_core.settings.CoreSettings but not part of the contract: operational tuning.
TUNING_ENV = (
    "INBOX_HOST",
    "INBOX_NAK_DELAY_S",
    "INBOX_NAK_MAX_DELAY_S",
    "INBOX_ACK_WAIT_S",
    "INBOX_SHUTDOWN_GRACE_S",
    "INBOX_MONGODB_POOL",
)
KNOWN_ENV = frozenset(CONTRACT_ENV + TUNING_ENV)
# Never given a value in .env.example.
SECRET_ENV = (
    "INBOX_AGENT_TOKENS",
    "SMTP_RELAY_URL",
    "FACEBOOK_APP_SECRET",
    "FACEBOOK_VERIFY_TOKEN",
    "FACEBOOK_PAGE_TOKEN",
    "KAKAO_SKILL_TOKEN",
    "NAVER_TALKTALK_TOKEN",
    "NAVER_COMMERCE_CLIENT_SECRET",
    "COUPANG_ACCESS_KEY",
    "COUPANG_SECRET_KEY",
)

# `NAME=value` or, commented out, `#NAME=value`.
ENV_LINE = re.compile(r"^(?P<comment>#?)(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
INIT_WRAPPERS = frozenset({"tini", "dumb-init", "--"})


# --- helpers -------------------------------------------------------------------------------


def _load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(published, target) pairs from short (`[ip:]host:container[/proto]`) or long syntax."""
    pairs: set[tuple[int, int]] = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            pairs.add((int(entry["published"]), int(entry["target"])))
            continue
        spec = str(entry).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        assert len(parts) >= 2, f"port {entry!r} publishes no fixed host port"
        pairs.add((int(parts[-2]), int(parts[-1])))
    return pairs


def _volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) pairs from short (`source:target[:mode]`) or long syntax."""
    mounts: list[tuple[str, str]] = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append((str(entry.get("source", "")), str(entry["target"])))
        else:
            source, target = str(entry).split(":")[:2]
            mounts.append((source, target))
    return mounts


def _is_bind_mount(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _option(args: list[str], *names: str) -> str | None:
    """The value of `--name value` or `--name=value` in an argument list."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return test if isinstance(test, str) else " ".join(str(t) for t in test)


def _duration_s(value: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value))
    assert parts, f"not a compose duration: {value!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def _exec_or_shell_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def _dockerfile_command(path: Path) -> list[str]:
    """What the final image runs: ENTRYPOINT then CMD, as the last of each define them."""
    entrypoint: list[str] = []
    cmd: list[str] = []
    for keyword, args in _dockerfile_instructions(path):
        if keyword == "FROM":
            entrypoint, cmd = [], []
        elif keyword == "ENTRYPOINT":
            entrypoint = _exec_or_shell_form(args)
        elif keyword == "CMD":
            cmd = _exec_or_shell_form(args)
    return entrypoint + cmd


def _build_paths(name: str) -> tuple[Path, Path]:
    build = _load_compose()["services"][name]["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (ROOT / build.get("context", ".")).resolve()
    return context, context / build.get("dockerfile", "Dockerfile")


def _console_scripts(name: str) -> set[str]:
    pyproject = tomllib.loads((ROOT / "services" / name / "pyproject.toml").read_text("utf-8"))
    return set(pyproject["project"].get("scripts", {}))


def _env_example() -> dict[str, tuple[bool, str]]:
    """name → (commented out, value) for each assignment line of .env.example."""
    entries: dict[str, tuple[bool, str]] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = ENV_LINE.match(line.strip())
        if match:
            name = match["name"]
            assert name not in entries, f"{name} is listed twice in .env.example"
            entries[name] = (match["comment"] == "#", match["value"].strip())
    return entries


def _dockerfile_installs(dockerfile: Path, context: Path, *, with_deps: bool = False) -> set[Path]:
    """The folders of `context` that the Dockerfile's `pip install` runs install (`with_deps`:
    only those installed with their dependencies): each path in a RUN goes back through the
    COPY that put it there, and its globs are matched."""
    instructions = _dockerfile_instructions(dockerfile)
    copied: dict[str, Path] = {}  # image path → context path
    for keyword, args in instructions:
        tokens = [t for t in _exec_or_shell_form(args) if not t.startswith("--")]
        if keyword == "COPY" and len(tokens) == 2:
            copied[tokens[1].rstrip("/")] = context / tokens[0].rstrip("/")
    installed: set[Path] = set()
    for keyword, args in instructions:
        if keyword != "RUN" or "pip install" not in args or (with_deps and "--no-deps" in args):
            continue
        for path in re.findall(r"/[\w./*-]+", args):
            for image_dir, source in copied.items():
                if path == image_dir or path.startswith(image_dir + "/"):
                    pattern = str(source.relative_to(context)) + path[len(image_dir) :]
                    installed |= {p.resolve() for p in context.glob(pattern.strip("/"))}
    return installed


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return _load_compose()["services"]


# --- services ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SERVICES, ids=ALL_SERVICES)
def test_service_is_defined_in_compose(services: dict[str, Any], name: str) -> None:
    assert name in services


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_app_service_builds_from_dockerfile_in_tree(name: str) -> None:
    context, dockerfile = _build_paths(name)
    # The Dockerfiles copy libs/inbox-core, so the context is the repository root.
    assert context == ROOT, f"{name} builds from {context}, not the repository root"
    assert dockerfile.is_file(), f"{name}: {dockerfile.relative_to(ROOT)} does not exist"


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_dockerfile_copies_only_paths_in_context(name: str) -> None:
    context, dockerfile = _build_paths(name)
    if not dockerfile.is_file():
        pytest.fail(f"{dockerfile.relative_to(ROOT)} does not exist")
    copies = [args for keyword, args in _dockerfile_instructions(dockerfile) if keyword == "COPY"]
    assert copies, f"{dockerfile.relative_to(ROOT)} copies nothing"
    for args in copies:
        tokens = _exec_or_shell_form(args)
        if any(t.startswith("--from") for t in tokens):
            continue  # from another stage, not from the context
        sources = [t for t in tokens if not t.startswith("--")][:-1]
        missing = [s for s in sources if not (context / s).exists() and not any(context.glob(s))]
        assert not missing, f"{dockerfile.relative_to(ROOT)} copies missing {missing}"


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_dockerfile_runs_declared_console_script(name: str) -> None:
    _, dockerfile = _build_paths(name)
    if not dockerfile.is_file():
        pytest.fail(f"{dockerfile.relative_to(ROOT)} does not exist")
    command = _dockerfile_command(dockerfile)
    while command and Path(command[0]).name in INIT_WRAPPERS:
        command = command[1:]
    assert command, f"{dockerfile.relative_to(ROOT)} has no CMD"
    scripts = _console_scripts(name)
    assert Path(command[0]).name in scripts, f"runs {command[0]!r}, declared: {sorted(scripts)}"


@pytest.mark.parametrize("name", list(PUBLISHED_PORTS), ids=list(PUBLISHED_PORTS))
def test_published_ports_match_contract(services: dict[str, Any], name: str) -> None:
    expected = {(port, port) for port in PUBLISHED_PORTS[name]}
    assert _published_ports(services[name]) == expected


@pytest.mark.parametrize("name", list(CONTRACT_PORTS), ids=list(CONTRACT_PORTS))
def test_container_listens_on_published_port(services: dict[str, Any], name: str) -> None:
    # `environment` wins over .env, so a port changed there cannot move the container's port
    # away from the one compose publishes and probes.
    env = _environment(services[name])
    assert {k: env.get(k) for k in CONTRACT_PORTS[name]} == {
        k: str(v) for k, v in CONTRACT_PORTS[name].items()
    }
    assert env.get("INBOX_HOST", "0.0.0.0") == "0.0.0.0"


@pytest.mark.parametrize("name", ALL_SERVICES, ids=ALL_SERVICES)
def test_service_has_healthcheck(services: dict[str, Any], name: str) -> None:
    healthcheck = services[name].get("healthcheck") or {}
    assert not healthcheck.get("disable", False)
    assert _healthcheck_text(services[name]).strip() not in ("", "NONE")


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_app_healthcheck_probes_own_healthz(services: dict[str, Any], name: str) -> None:
    text = _healthcheck_text(services[name])
    assert f"localhost:{HTTP_PORTS[name]}/healthz" in text
    assert "python" in text  # the slim image has neither curl nor wget


def test_nats_healthcheck_requires_jetstream(services: dict[str, Any]) -> None:
    assert "8222/healthz?js-enabled-only=true" in _healthcheck_text(services["nats"])


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_app_service_waits_for_healthy_bus_and_store(services: dict[str, Any], name: str) -> None:
    depends_on = services[name].get("depends_on") or {}
    assert isinstance(depends_on, dict), "the list form of depends_on cannot wait for health"
    conditions = {dep: (depends_on.get(dep) or {}).get("condition") for dep in INFRA_SERVICES}
    assert conditions == {"nats": "service_healthy", "mongo": "service_healthy"}


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_app_service_reaches_bus_and_store_by_service_name(
    services: dict[str, Any], name: str
) -> None:
    env = _environment(services[name])
    nats_url, mongo_url = urlsplit(env["NATS_URL"]), urlsplit(env["MONGODB_URL"])
    assert (nats_url.scheme, nats_url.hostname, nats_url.port) == ("nats", "nats", 4222)
    assert (mongo_url.scheme, mongo_url.hostname, mongo_url.port) == ("mongodb", "mongo", 27017)
    query = parse_qs(mongo_url.query)
    assert query.get("replicaSet") == [_option(_command(services["mongo"]), "--replSet")]
    assert query.get("w") == ["majority"]
    assert env.get("INBOX_DATA_DIR") == "/data"


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_app_service_starts_without_env_file(services: dict[str, Any], name: str) -> None:
    env_files = services[name].get("env_file") or []
    env_files = [env_files] if isinstance(env_files, str) else env_files
    # A plain path is required: without .env the service would not start.
    entries = [e if isinstance(e, dict) else {"path": e, "required": True} for e in env_files]
    dotenv = [e for e in entries if e.get("path") == ".env"]
    assert dotenv, f"{name} does not read .env"
    assert all(e.get("required") is False for e in dotenv), f"{name} fails without .env"


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_app_service_restarts_and_drains_on_stop(services: dict[str, Any], name: str) -> None:
    service = services[name]
    assert service.get("restart") == "unless-stopped"
    # Longer than the service's own drain (INBOX_SHUTDOWN_GRACE_S), or Docker kills it mid-drain.
    grace = CoreSettings.model_fields["shutdown_grace_s"].default
    assert _duration_s(service.get("stop_grace_period", "10s")) >= max(30.0, 2 * grace)


@pytest.mark.parametrize("name", APP_SERVICES, ids=APP_SERVICES)
def test_compose_environment_uses_contract_names(services: dict[str, Any], name: str) -> None:
    assert set(_environment(services[name])) <= KNOWN_ENV


def test_notifier_keeps_data_dir_on_named_volume(services: dict[str, Any]) -> None:
    notifier = services["notifier"]
    data_dir = _environment(notifier)["INBOX_DATA_DIR"]
    sources = [src for src, target in _volumes(notifier) if target == data_dir]
    assert sources, f"nothing is mounted on {data_dir}: the admin token is lost on recreate"
    assert all(src in (_load_compose().get("volumes") or {}) for src in sources)


# The notifier lists every channel registration (badges, GET /api/channels); ingest-social and
# ingest-marketplace run the channels that name them as host, so they need the dependencies.
CHANNEL_IMAGES = {"notifier": False, "ingest-social": True, "ingest-marketplace": True}


@pytest.mark.parametrize("name", list(CHANNEL_IMAGES), ids=list(CHANNEL_IMAGES))
def test_image_installs_every_channel_package(name: str, tmp_path: Path) -> None:
    # A new connector package too, with no edit to the Dockerfile: it is read against a copy
    # of the tree's pyprojects plus a new connector's.
    for pyproject in [
        *ROOT.glob("services/*/pyproject.toml"),
        ROOT / "libs/inbox-core/pyproject.toml",
    ]:
        copy = tmp_path / pyproject.relative_to(ROOT)
        copy.parent.mkdir(parents=True)
        copy.write_bytes(pyproject.read_bytes())
    new = tmp_path / "services" / "ingest-line" / "pyproject.toml"
    new.parent.mkdir()
    new.write_text('[project.entry-points."inbox.channels"]\nline = "line.registry:CHANNEL"\n')
    channel_packages = {
        p.parent.resolve()
        for p in tmp_path.glob("services/*/pyproject.toml")
        if tomllib.loads(p.read_text("utf-8")).get("project", {}).get("entry-points", {}).get(GROUP)
    }
    assert len(channel_packages) == 4  # ingest-mail, -social, -marketplace and the new one
    _, dockerfile = _build_paths(name)
    installed = _dockerfile_installs(dockerfile, tmp_path, with_deps=CHANNEL_IMAGES[name])
    missing = channel_packages - installed
    assert not missing, f"the {name} image lacks {sorted(p.name for p in missing)}"


# --- mongo ---------------------------------------------------------------------------------


def test_mongo_command_starts_replica_set(services: dict[str, Any]) -> None:
    replica_set = _option(_command(services["mongo"]), "--replSet")
    assert replica_set, "mongo runs standalone: no change streams, no transactions"
    healthcheck = _healthcheck_text(services["mongo"])
    assert "rs.initiate(" in healthcheck
    assert f"'{replica_set}'" in healthcheck or f'"{replica_set}"' in healthcheck
    # The member's host must resolve for the services: the compose service name.
    assert "mongo:27017" in healthcheck


def test_mongo_data_on_named_volume(services: dict[str, Any]) -> None:
    sources = [src for src, target in _volumes(services["mongo"]) if target == "/data/db"]
    assert sources and not any(_is_bind_mount(src) for src in sources)


# --- nats ----------------------------------------------------------------------------------


def test_nats_config_file_exists_and_enables_jetstream(services: dict[str, Any]) -> None:
    nats = services["nats"]
    config_path = _option(_command(nats), "-c", "--config")
    assert config_path, "nats-server runs without a config file"
    sources = [src for src, target in _volumes(nats) if target == config_path]
    assert len(sources) == 1, f"{config_path} is not mounted"
    config = (ROOT / sources[0]).resolve()
    assert config.is_file(), f"{sources[0]} does not exist"
    text = config.read_text(encoding="utf-8")
    assert re.search(r"^\s*jetstream\s*[{:]", text, re.MULTILINE)
    store_dir = re.search(r"^\s*store_dir\s*[:=]\s*\"?([^\"\s]+)", text, re.MULTILINE)
    assert store_dir, "JetStream store_dir is not set"
    store_sources = [src for src, target in _volumes(nats) if target == store_dir[1]]
    assert store_sources and not any(_is_bind_mount(src) for src in store_sources)


@pytest.mark.parametrize(
    ("config", "sync_always"),
    [("deploy/nats/nats.conf", False), ("deploy/nats/nats-durable.conf", True)],
    ids=["default", "durable"],
)
def test_nats_config_sync_interval_matches_its_purpose(config: str, sync_always: bool) -> None:
    text = (ROOT / config).read_text(encoding="utf-8")
    active = re.search(r"^\s*sync_interval\s*[:=]\s*\"?always\b", text, re.MULTILINE)
    assert bool(active) is sync_always


def test_cluster_example_replicates_streams_three_times() -> None:
    text = (ROOT / "deploy/nats/cluster-3node.conf.example").read_text(encoding="utf-8")
    assert re.search(r"^\s*cluster\s*\{", text, re.MULTILINE)
    assert len(re.findall(r"nats-route://", text)) == 3
    assert "INBOX_STREAM_REPLICAS=3" in text


# --- .env.example --------------------------------------------------------------------------


def test_env_example_names_are_in_contract() -> None:
    assert set(_env_example()) - KNOWN_ENV == set()


def test_contract_env_names_are_in_env_example() -> None:
    assert set(CONTRACT_ENV + TUNING_ENV) - set(_env_example()) == set()


def test_core_settings_env_names_are_in_env_example() -> None:
    aliases = {
        field.validation_alias
        for model in (CoreSettings, AgentTokens)
        for field in model.model_fields.values()
        if isinstance(field.validation_alias, str)
    }
    assert aliases - set(_env_example()) == set()


def test_env_example_sets_nothing_when_copied() -> None:
    # An empty `NAME=` is a value, not the default (an empty URL replaces the real platform's).
    active = [name for name, (commented, _) in _env_example().items() if not commented]
    assert active == []


def test_env_example_leaves_secrets_empty() -> None:
    entries = _env_example()
    filled = [name for name in SECRET_ENV if entries.get(name, (True, ""))[1]]
    assert filled == []


def test_env_example_describes_every_name() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    undocumented = [
        match["name"]
        for i, line in enumerate(lines)
        if (match := ENV_LINE.match(line.strip()))
        and not (i > 0 and lines[i - 1].startswith("# ") and len(lines[i - 1]) > 3)
    ]
    assert undocumented == []
