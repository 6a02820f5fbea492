"""Configuration (FR-011): defaults in code, ``settings.toml``, ``--config``, ``QORCH_*``.

The schema is a tree of attrs classes whose fields carry their default, their bounds and
a one-line description. From it we derive

* the dynaconf validators that check every value at start-up,
* the embedded defaults (so qorch runs with no file at all), and
* ``settings.toml`` itself (``qorch config show --toml``; a test keeps the file equal).

Layers, lowest first: embedded defaults; one settings file (``--config FILE``, else
``$QORCH_CONFIG``, else ``./settings.toml`` if present); environment variables
``QORCH_<SECTION>__<KEY>`` (values parsed as TOML, e.g. ``QORCH_PLUGINS__BLOCKED='["x"]'``;
a plugin name may spell its hyphens ``_``, which a shell can export:
``QORCH_PLUGINS__COST_MODEL__RISK_AVERSE__EBIT_PRICE``). Names without a double
underscore (``QORCH_URL``, ``QORCH_API_KEY``, ``QORCH_CONFIG``) are not settings.
A bad value stops start-up with a :class:`~qorch.errors.ConfigError` that names the key,
the value, where it came from and what was expected. Unknown keys are errors too, with a
suggestion, so a typo never silently falls back to a default.

Plugin options live under ``[plugins.<kind>.<name>]`` and are checked by the plugin
system (:func:`qorch.plugins.PluginSystem.check_config`), not here.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import typing
from pathlib import Path
from typing import Any

import attrs

from qorch.converters import Rejected, converter, integer, number, one_of, short, structure
from qorch.errors import ConfigError

ENV_PREFIX = "QORCH"
ENV_CONFIG_FILE = "QORCH_CONFIG"
DEFAULT_FILE = "settings.toml"


def setting(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """Declare one setting: its default, a one-line description and its bounds, which
    become the field's attrs validator (:mod:`qorch.converters`)."""
    meta = {"doc": doc}
    validator = None
    if choices:
        validator = one_of(*choices)
    elif isinstance(default, int) and not isinstance(default, bool):
        validator = integer(ge, le)
    elif isinstance(default, float):
        validator = number(ge, le)
    if isinstance(default, list):
        return attrs.field(factory=lambda: list(default), metadata=meta)
    return attrs.field(default=default, validator=validator, metadata=meta)


@attrs.frozen
class PathsSettings:
    """Where qorch keeps its files."""

    data_dir: str = setting(".qorch", "directory for the store and node identities")


@attrs.frozen
class LimitsSettings:
    """Input limits (FR-014), checked before anything is parsed."""

    max_qasm_bytes: int = setting(1_048_576, "largest circuit source accepted, in bytes", ge=1)
    max_qubits: int = setting(1024, "most qubits a circuit may declare", ge=1)
    max_operations: int = setting(
        200_000, "most operations a circuit may hold after custom gates are expanded", ge=1
    )


@attrs.frozen
class LoggingSettings:
    """Structured logs (FR-012)."""

    level: str = setting(
        "INFO",
        "lowest level written",
        choices=("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"),
    )
    format: str = setting(
        "auto",
        "text on a terminal and JSON lines otherwise, or force one",
        choices=("auto", "text", "json"),
    )


@attrs.frozen
class CompilerSettings:
    """The distributed compiler (FR-004)."""

    placement: str = setting("partition", "placement strategy, by name (see `qorch plugins`)")
    cost_model: str = setting("weighted", "cost model, by name (see `qorch plugins`)")
    min_fidelity: float = setting(
        0.0, "default lowest gate and link fidelity a job accepts", ge=0.0, le=1.0
    )
    seed: int = setting(0, "default seed of the placement search (NFR-001)", ge=0)


@attrs.frozen
class NetworkSettings:
    """Service nodes and how the coordinator reaches them (FR-001, FR-002, FR-005, FR-014)."""

    transport: str = setting("libp2p", "transport, by name (see `qorch plugins`)")
    listen: str = setting("/ip4/127.0.0.1/tcp/0", "multiaddr a node or coordinator listens on")
    bootstrap: list[str] = setting([], "multiaddrs (with /p2p/<peer-id>) to join through")
    advert_ttl_s: float = setting(
        10.0, "seconds an advert stays valid; then its node is unavailable", ge=0.1
    )
    refresh_s: float = setting(
        3.0, "seconds between a node's heartbeat adverts (changes go out at once)", ge=0.05
    )
    max_clock_skew_s: float = setting(
        5.0, "adverts stamped further in the future than this are rejected", ge=0.0
    )
    max_advert_bytes: int = setting(65_536, "largest advert accepted, in bytes", ge=256)
    max_message_bytes: int = setting(
        4_194_304, "largest request or response on the wire, in bytes", ge=1024
    )
    request_timeout_s: float = setting(5.0, "timeout of one request to a node", ge=0.01)


@attrs.frozen
class NodeSettings:
    """A service node started with ``qorch node`` (DESIGN §6)."""

    name: str = setting("node-1", "the node's name (its node id in adverts)")
    node_type: str = setting(
        "superconducting",
        "a node type plugin, or a preset of 'simulated': superconducting | trapped-ion",
    )
    qubits: int = setting(0, "capacity; 0 takes the node type's", ge=0)
    time_scale: float = setting(
        0.0, "sleep this fraction of each fragment's simulated duration", ge=0.0
    )
    seed: int = setting(0, "seed of the node's simulated failures (NFR-001)", ge=0)


@attrs.frozen
class QualitySettings:
    """Quality monitoring (FR-008): below these a node or link is degraded."""

    min_node_fidelity: float = setting(
        0.9, "lowest reported two-qubit gate fidelity of a healthy node", ge=0.0, le=1.0
    )
    min_link_fidelity: float = setting(
        0.8, "lowest reported link (ebit) fidelity of a healthy link", ge=0.0, le=1.0
    )
    max_link_failure_rate: float = setting(
        0.5, "highest share of failed or timed-out calls to a node over the window", ge=0.0, le=1.0
    )
    max_rtt_ms: float = setting(250.0, "highest median round trip to a healthy node", ge=0.0)
    window: int = setting(20, "recent calls per node the failure rate and RTT look at", ge=1)


@attrs.frozen
class RuntimeSettings:
    """Running jobs on the nodes (FR-006, FR-007)."""

    orchestration: str = setting(
        "distributed",
        "who drives a plan: distributed (nodes choreograph it) or centralized (a hub with a "
        "static inventory); see `qorch plugins`",
    )
    fallback: str = setting("replan-affected", "fallback policy, by name (see `qorch plugins`)")
    max_fallbacks: int = setting(2, "re-plans one job may make after failures", ge=0)
    attempts: int = setting(3, "tries per fragment before the fallback policy decides", ge=1)
    backoff_base_s: float = setting(0.05, "delay before the first retry", ge=0.0)
    backoff_cap_s: float = setting(2.0, "longest delay between retries", ge=0.0)
    backoff_jitter: float = setting(
        0.5, "share of each delay drawn at random (seeded)", ge=0.0, le=1.0
    )
    reserve_timeout_s: float = setting(2.0, "timeout of one reserve call", ge=0.001)
    execute_local_timeout_s: float = setting(5.0, "timeout of executing a local fragment", ge=0.001)
    execute_remote_timeout_s: float = setting(
        5.0, "timeout of executing a remote interaction", ge=0.001
    )
    deadline_s: float = setting(60.0, "how long a job's reservations last", ge=0.1)
    shots: int = setting(4000, "default shots of the world simulator", ge=1)
    plan_wait_s: float = setting(
        10.0, "how long a job with no plan waits for unavailable nodes to return", ge=0.0
    )
    peer_wait_s: float = setting(
        2.0,
        "distributed: how long a node waits for a peer's notice before asking it (then "
        "escalating to the coordinator)",
        ge=0.001,
    )


@attrs.frozen
class WorldSettings:
    """The world simulator (DESIGN §6)."""

    idle_time: str = setting(
        "measured",
        "how long qubits wait between operations, for idle decoherence: measured (the "
        "execution records' real times), planned (the cost model's latencies: "
        "reproducible) or none",
        choices=("measured", "planned", "none"),
    )


@attrs.frozen
class CoordinatorSettings:
    """The coordinator service and its HTTP job API (FR-009)."""

    host: str = setting("127.0.0.1", "address the HTTP API listens on")
    port: int = setting(8700, "port of the HTTP API (0: any free port)", ge=0, le=65535)
    concurrency: int = setting(4, "jobs run at the same time", ge=1, le=256)


@attrs.frozen
class ApiSettings:
    """The HTTP API's security baseline (FR-014) and event streams (FR-009)."""

    auth_required: bool = setting(
        False, "every endpoint but /health needs an API key (`qorch keys create`)"
    )
    rate_limit_per_minute: int = setting(
        0, "requests a key (or client address) may make per minute; 0: no limit", ge=0
    )
    rate_limit_burst: int = setting(
        60, "requests a key may make at once before the per-minute rate applies", ge=1
    )
    max_body_bytes: int = setting(
        2_000_000, "request bodies larger than this are refused with 413, dropped unparsed", ge=1024
    )
    event_buffer: int = setting(
        1000,
        "events buffered per websocket client; a slower client loses the oldest",
        ge=1,
        le=1_000_000,
    )


@attrs.frozen
class StoreSettings:
    """Persistence (FR-010)."""

    backend: str = setting("sqlite", "store implementation, by name (see `qorch plugins`)")


@attrs.frozen
class PluginsSettings:
    """Plugin selection. Options of implementation N of kind K: ``[plugins.K.N]``."""

    blocked: list[str] = setting(
        [], "plugins (entry-point names) or implementations ('kind:name') not to load"
    )


@attrs.frozen
class Settings:
    """The whole validated configuration. ``plugin_options[kind][name]`` is raw."""

    paths: PathsSettings = attrs.field(factory=PathsSettings)
    limits: LimitsSettings = attrs.field(factory=LimitsSettings)
    logging: LoggingSettings = attrs.field(factory=LoggingSettings)
    compiler: CompilerSettings = attrs.field(factory=CompilerSettings)
    network: NetworkSettings = attrs.field(factory=NetworkSettings)
    quality: QualitySettings = attrs.field(factory=QualitySettings)
    node: NodeSettings = attrs.field(factory=NodeSettings)
    runtime: RuntimeSettings = attrs.field(factory=RuntimeSettings)
    world: WorldSettings = attrs.field(factory=WorldSettings)
    coordinator: CoordinatorSettings = attrs.field(factory=CoordinatorSettings)
    api: ApiSettings = attrs.field(factory=ApiSettings)
    store: StoreSettings = attrs.field(factory=StoreSettings)
    plugins: PluginsSettings = attrs.field(factory=PluginsSettings)
    plugin_options: dict[str, dict[str, dict[str, Any]]] = attrs.field(factory=dict)
    sources: dict[str, str] = attrs.field(factory=dict, eq=False, repr=False)

    def data_path(self) -> Path:
        """The data directory as a path (not created)."""
        return Path(self.paths.data_dir).expanduser()

    def options_for(self, kind: str, name: str) -> dict[str, Any]:
        """Raw options table ``[plugins.<kind>.<name>]`` (empty if absent); a table whose
        name spells the hyphens of ``name`` as ``_`` (an environment variable's spelling)
        counts too, under the one with hyphens."""
        tables = self.plugin_options.get(kind, {})
        return {**tables.get(name.replace("-", "_"), {}), **tables.get(name, {})}


@attrs.frozen
class SettingSpec:
    """One leaf of the schema: dotted key, default and description."""

    key: str
    default: Any
    doc: str


def schema() -> list[SettingSpec]:
    """Every setting the kernel knows, in file order."""
    specs = []
    hints = typing.get_type_hints(Settings)
    for section in attrs.fields(Settings):
        if section.name in ("plugin_options", "sources"):
            continue
        for f in attrs.fields(hints[section.name]):
            factory = isinstance(f.default, attrs.Factory)  # type: ignore[arg-type]  # a class, typed as a function
            default = f.default.factory() if factory else f.default
            specs.append(SettingSpec(f"{section.name}.{f.name}", default, f.metadata["doc"]))
    return specs


def defaults() -> dict[str, dict[str, Any]]:
    """The embedded defaults as nested ``{section: {key: value}}``."""
    out: dict[str, dict[str, Any]] = {}
    for spec in schema():
        section, key = spec.key.split(".", 1)
        out.setdefault(section, {})[key] = spec.default
    return out


def is_setting_variable(name: str) -> bool:
    """Whether the environment variable ``name`` is a setting: ``QORCH_<SECTION>__<KEY>``.

    Names without a double underscore are outside the settings namespace: the client
    variables ``QORCH_URL`` and ``QORCH_API_KEY``, ``QORCH_CONFIG`` (the file to read)
    and any other tool's ``QORCH_*`` are never read as settings (FR-011)."""
    upper = name.upper()
    return upper.startswith(ENV_PREFIX + "_") and "__" in upper[len(ENV_PREFIX) + 1 :]


def _env_name(key: str) -> str:
    return ENV_PREFIX + "_" + key.upper().replace(".", "__")


def _config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError([f"config file {str(path)!r} does not exist or is not a file"])
        return path
    if os.environ.get(ENV_CONFIG_FILE):
        return _config_file(os.environ[ENV_CONFIG_FILE])
    path = Path(DEFAULT_FILE)
    return path if path.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}".lower()
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def load_settings(config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Load, layer and validate the configuration; raise :class:`ConfigError` if invalid.

    ``config_file`` is the ``--config`` argument. Every problem is reported at once.
    """
    from dynaconf import Dynaconf  # start-up: settings objects are built without it too

    path = _config_file(config_file)
    file_data = _read_toml(path) if path else {}
    file_keys = set(_flatten(file_data))
    env_keys = {
        name[len(ENV_PREFIX) + 1 :].lower().replace("__", "."): name
        for name in os.environ
        if is_setting_variable(name)
    }

    dyn = Dynaconf(
        envvar_prefix=ENV_PREFIX,
        # absolute: dynaconf looks for a relative name next to the running script
        # (.venv/bin/qorch) and in its parents before the working directory
        settings_files=[str(path.resolve())] if path else [],
        environments=False,
        merge_enabled=True,
        load_dotenv=False,
        core_loaders=["TOML"],
        ignore_unknown_envvars=False,
    )
    specs = schema()

    def source(key: str) -> str:
        if key in env_keys:
            return f"environment variable {env_keys[key]}"
        if key in file_keys:
            return str(path)
        return "built-in default"

    problems = _unknown_settings(set(file_keys) | set(env_keys), {s.key for s in specs}, source)
    sections: dict[str, dict[str, Any]] = {}
    for spec in specs:
        value = dyn.get(spec.key)
        if value is not None:  # absent: the field's default
            section, key = spec.key.split(".", 1)
            sections.setdefault(section, {})[key] = _plain(value)
    try:
        built = structure(sections, Settings)
    except Rejected as exc:
        problems += [
            f"{p.where} = {short(p.value)} (from {source(p.where)}): {p.message}"
            for p in exc.problems
        ]
    if problems:
        raise ConfigError(problems)
    raw_plugins = dyn.get("plugins") or {}
    plugin_options: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, tables in raw_plugins.items():
        if str(kind).lower() == "blocked":
            continue
        plugin_options[str(kind).lower()] = {
            str(name).lower(): _plain(opts) for name, opts in dict(tables).items()
        }
    return attrs.evolve(
        built,
        plugin_options=plugin_options,
        sources={s.key: source(s.key) for s in specs},
    )


def _unknown_settings(loaded: set[str], known: set[str], source: Any) -> list[str]:
    """A problem for each key of the file or the environment that is no setting, with the
    closest setting's name; ``[plugins.<kind>.<name>]`` tables are the plugin system's."""
    problems = []
    for key in sorted(loaded - known):
        if key.startswith("plugins.") and key.count(".") >= 2:
            continue  # [plugins.<kind>.<name>] tables: checked by the plugin system
        hint = difflib.get_close_matches(key, known, n=1)
        problems.append(
            f"unknown setting {key!r} (from {source(key)})"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
            + (
                "; plugin options belong in a table [plugins.<kind>.<name>]"
                if key.startswith("plugins.")
                else ""
            )
        )
    return problems


def _plain(value: Any) -> Any:
    """Dynaconf boxes → plain dicts/lists, keys lower-cased."""
    if isinstance(value, dict):
        return {str(k).lower(): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def settings_as_dict(settings: Settings) -> dict[str, Any]:
    """The effective settings as nested plain data, plugin options under ``plugins``."""
    data = converter.unstructure(settings)
    data.pop("sources", None)
    options = data.pop("plugin_options", {})
    data["plugins"].update(options)
    return data


def to_toml(data: dict[str, Any], docs: dict[str, str] | None = None) -> str:
    """Render nested settings as TOML, with ``# doc`` comments where ``docs`` has them."""
    docs = docs or {}
    lines: list[str] = []

    def emit(table: dict[str, Any], path: list[str]) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in table.items() if isinstance(v, dict)}
        if path and (scalars or not tables):
            lines.append(f"\n[{'.'.join(path)}]")
        for k, v in scalars.items():
            doc = docs.get(".".join([*path, k]))
            if doc:
                lines.append(f"# {doc}")
            lines.append(f"{k} = {_toml_value(v)}")
        for k, v in tables.items():
            emit(v, [*path, k])

    emit(data, [])
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # inside a list: an inline table
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)
