"""The plugin kernel (DESIGN §4): entry points in guards, selection, options, lifecycle, observers.

Fake plugin packs are real distributions written to a temporary directory on sys.path,
found by ``importlib.metadata`` exactly as a pip-installed pack would be.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import attrs
import pytest
from loguru import logger

from qorch.config import NetworkSettings, PluginsSettings, Settings, StoreSettings
from qorch.errors import CircuitError, ConfigError, PluginError
from qorch.hookspecs import hookimpl
from qorch.ingest.load import load_circuit_as
from qorch.ir import Circuit, Operation, Register
from qorch.plugins import PluginSystem
from qorch.registry import KINDS


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Write fake distributions: ``site(dist, version, ep_name, module, source)``."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    added = []

    def make(dist: str, version: str, ep_name: str, module: str, source: str) -> None:
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[qorch]\n{ep_name} = {module}\n")
        importlib.invalidate_caches()
        added.append(module)

    yield make
    for module in added:
        sys.modules.pop(module, None)


GOOD_PACK = """
    import attrs
    from qorch.hookspecs import hookimpl

    @attrs.frozen
    class FidelityOnlyOptions:
        weight: float = 1.0

    class FidelityOnly:
        '''Cost is the fidelity risk alone.'''
        def __init__(self, options):
            self.options = options

        def cost(self, terms):
            return self.options.weight * terms.fidelity_risk

    @hookimpl
    def qorch_register_cost_models(register):
        register("pack-fidelity", FidelityOnly, options=FidelityOnlyOptions)
"""

WRONG_PACK = """
    from qorch.hookspecs import hookimpl

    class NoCost:
        '''Has no cost method.'''

    def factory():
        return NoCost()

    @hookimpl
    def qorch_register_cost_models(register):
        register("late", factory)

    @hookimpl
    def qorch_register_fault_injectors(register):
        register("eventless", NoCost())
"""


def test_an_implementation_without_its_kinds_interface_is_refused(site):
    """Registration checks an object against its kind's Protocol (qorch.interfaces): the
    plugin is reported broken naming the kind, the interface and the missing member; a
    factory, which cannot be checked before it is called, is checked when created."""
    site("qorch-wrongpack", "0.2", "wrongpack", "wrongpack_mod", WRONG_PACK)
    plugins = PluginSystem()
    (broken,) = [b for b in plugins.broken if b.plugin == "wrongpack"]
    assert "fault 'eventless' does not implement FaultInjector: missing events" in broken.error
    with pytest.raises(PluginError, match="cost_model 'late' does not implement CostModel: "):
        plugins.create("cost_model", "late")


def test_a_pip_installed_pack_is_listed_with_its_distribution(site):
    site("qorch-goodpack", "1.2.3", "goodpack", "goodpack_mod", GOOD_PACK)
    plugins = PluginSystem()
    impl = plugins.get("cost_model", "pack-fidelity")
    assert (impl.distribution, impl.version, impl.plugin) == ("qorch-goodpack", "1.2.3", "goodpack")
    assert impl.summary == "Cost is the fidelity risk alone."
    listed = plugins.describe()
    by_name = {i["name"]: i for i in listed["kinds"]["cost_model"]}
    assert by_name["pack-fidelity"]["distribution"] == "qorch-goodpack"
    assert by_name["weighted"]["distribution"] == "qorch-core"
    assert listed["kinds"]["store"][0]["distribution"] == "qorch-sqlite"
    assert listed["kinds"]["parser"][0]["distribution"] == "qorch-core"


def test_options_come_from_the_plugins_table_and_are_checked(site):
    site("qorch-goodpack", "1.2.3", "goodpack", "goodpack_mod", GOOD_PACK)
    settings = Settings(plugin_options={"cost_model": {"pack-fidelity": {"weight": 2.5}}})
    plugins = PluginSystem(settings)
    plugins.check_config()
    model = plugins.create("cost_model", "pack-fidelity")
    assert model.options.weight == 2.5
    bad = Settings(plugin_options={"cost_model": {"pack-fidelity": {"weight": "x", "w": 1}}})
    with pytest.raises(ConfigError) as info:
        PluginSystem(bad).check_config()
    assert info.value.problems == [
        "plugins.cost_model.pack-fidelity.w: unknown key; expected one of weight",
        "plugins.cost_model.pack-fidelity.weight = 'x': expected a number",
    ]


def test_a_broken_pack_is_reported_and_the_others_still_load(site):
    site("qorch-brokenpack", "0.1", "brokenpack", "brokenpack_mod", "import not_a_module_xyz\n")
    site("qorch-goodpack", "1.2.3", "goodpack", "goodpack_mod", GOOD_PACK)
    plugins = PluginSystem()
    assert plugins.get("cost_model", "pack-fidelity")
    assert plugins.get("store", "sqlite")
    (broken,) = plugins.broken
    assert (broken.plugin, broken.distribution, broken.stage) == (
        "brokenpack",
        "qorch-brokenpack",
        "load",
    )
    assert "not_a_module_xyz" in broken.error
    plugins.check_config()  # not selected: not fatal


def test_a_broken_pack_is_fatal_when_config_selects_what_it_would_provide(site):
    site("qorch-mongo", "0.1", "mongo", "mongo_mod", "raise RuntimeError('no driver')\n")
    settings = Settings(store=StoreSettings(backend="mongo"))
    with pytest.raises(ConfigError) as info:
        PluginSystem(settings).check_config()
    (problem,) = info.value.problems
    assert "no store named 'mongo'; available: sqlite" in problem
    assert "mongo (qorch-mongo 0.1) failed to load: RuntimeError: no driver" in problem


def test_a_pack_whose_hook_raises_registers_nothing(site):
    site(
        "qorch-halfpack",
        "0.1",
        "halfpack",
        "halfpack_mod",
        """
        from qorch.hookspecs import hookimpl

        @hookimpl
        def qorch_register_cost_models(register):
            register("half", lambda: None)
            raise ValueError("oops")
    """,
    )
    plugins = PluginSystem()
    assert "half" not in plugins.registry.names("cost_model")
    assert plugins.broken[0].stage == "register" and "oops" in plugins.broken[0].error


def test_a_pack_with_an_unknown_hook_is_broken(site):
    site(
        "qorch-typo",
        "0.1",
        "typo",
        "typo_mod",
        """
        from qorch.hookspecs import hookimpl

        @hookimpl
        def qorch_register_cost_model(register):
            pass
    """,
    )
    plugins = PluginSystem()
    assert plugins.broken[0].plugin == "typo"
    assert "qorch_register_cost_model" in plugins.broken[0].error


def test_duplicate_names_are_an_error_naming_both_plugins(site):
    site(
        "qorch-otherstore",
        "0.2",
        "otherstore",
        "otherstore_mod",
        """
        from qorch.hookspecs import hookimpl

        @hookimpl
        def qorch_register_stores(register):
            register("sqlite", lambda: None)
    """,
    )
    with pytest.raises(PluginError) as info:
        PluginSystem()
    msg = str(info.value)
    assert "duplicate store name 'sqlite'" in msg
    assert "'sqlite' (qorch-sqlite)" in msg and "'otherstore' (qorch-otherstore)" in msg


def test_blocking_a_plugin_or_one_implementation(site):
    site(
        "qorch-otherstore",
        "0.2",
        "otherstore",
        "otherstore_mod",
        """
        from qorch.hookspecs import hookimpl

        @hookimpl
        def qorch_register_stores(register):
            register("sqlite", lambda: None)
            register("other", lambda: None)
    """,
    )
    plugins = PluginSystem(Settings(plugins=PluginsSettings(blocked=["otherstore"])))
    assert plugins.registry.names("store") == ["sqlite"] and not plugins.broken
    plugins = PluginSystem(Settings(plugins=PluginsSettings(blocked=["store:sqlite"])))
    assert plugins.registry.names("store") == ["other"]
    # blocking the default pack lets another pack's "sqlite" take the name
    plugins = PluginSystem(Settings(plugins=PluginsSettings(blocked=["sqlite"])))
    assert plugins.get("store", "sqlite").plugin == "otherstore"


def test_unknown_names_list_what_is_available(plugins):
    with pytest.raises(PluginError, match=r"no placement named 'magic'; available: greedy, "):
        plugins.get("placement", "magic")
    with pytest.raises(PluginError, match=r"no transport named 'x'; available: libp2p, tcp"):
        plugins.get("transport", "x")
    with pytest.raises(
        PluginError, match=r"no fallback named 'x'; available: none, replan-affected, replan-all"
    ):
        plugins.get("fallback", "x")
    with pytest.raises(
        PluginError,
        match=r"no fault named 'x'; available: coordinator-crash, fidelity-degradation, ",
    ):
        plugins.get("fault", "x")
    with pytest.raises(PluginError, match="available: qasm2, qasm3, qiskit"):
        plugins.get("parser", "quil")
    with pytest.raises(PluginError):
        plugins.selected("parser")  # parsers are chosen per input, not by config


def test_unknown_kinds_and_names_in_option_tables():
    settings = Settings(plugin_options={"placer": {"x": {}}, "store": {"sqlit": {"a": 1}}})
    with pytest.raises(ConfigError) as info:
        PluginSystem(settings).check_config()
    got = info.value.problems
    assert got[0].startswith("[plugins.placer]: no such kind")
    assert "no store named 'sqlit'; available: sqlite" in got[1]


# -- a local plugin implementing every hook ------------------------------------------------


@attrs.frozen
class NoOptions:
    """Options with nothing in them."""


class EveryHook:
    """Implements every hook, recording calls."""

    def __init__(self, fail_in: str | None = None) -> None:
        self.calls: list[tuple] = []
        self.fail_in = fail_in

    def _maybe_fail(self, hook: str) -> None:
        if self.fail_in == hook:
            raise RuntimeError(f"failing in {hook}")

    @hookimpl
    def qorch_register_parsers(self, register):
        register("upper", UpperParser())

    @hookimpl
    def qorch_register_cost_models(self, register):
        register("c", lambda: None, options=NoOptions)

    @hookimpl
    def qorch_register_placement_strategies(self, register):
        register("p", lambda: None)

    @hookimpl
    def qorch_register_transports(self, register):
        register("t", lambda: None)

    @hookimpl
    def qorch_register_fallback_policies(self, register):
        register("f", lambda: None)

    @hookimpl
    def qorch_register_orchestrations(self, register):
        register("o", lambda: None)

    @hookimpl
    def qorch_register_stores(self, register):
        register("s", lambda: None)

    @hookimpl
    def qorch_register_node_types(self, register):
        register("n", lambda: None)

    @hookimpl
    def qorch_register_fault_injectors(self, register):
        register("x", lambda: None)

    @hookimpl
    def qorch_select_parser(self, source, format):
        return "upper" if format == "upper" else None

    @hookimpl
    def qorch_configure(self, settings):
        self._maybe_fail("configure")
        self.calls.append(("configure", settings.limits.max_qubits))

    @hookimpl
    def qorch_startup(self, role, settings):
        self._maybe_fail("startup")
        self.calls.append(("startup", role))

    @hookimpl
    def qorch_shutdown(self, role):
        self._maybe_fail("shutdown")
        self.calls.append(("shutdown", role))

    @hookimpl
    def qorch_on_job_state(self, job_id, old, new, at, detail):
        self._maybe_fail("observe")
        self.calls.append(("job", job_id, old, new))

    @hookimpl
    def qorch_on_fragment_state(self, job_id, fragment_id, node, state, at, detail):
        self.calls.append(("fragment", fragment_id, node, state))

    @hookimpl
    def qorch_on_advert(self, node_id, accepted, reason, advert):
        self.calls.append(("advert", node_id, accepted, reason))


class UpperParser:
    """Reads a made-up format: one upper-case gate name per line on qubit 0."""

    formats = ("upper",)

    def parse(self, source, limits):
        ops = [Operation(line.strip().lower(), [0]) for line in source.text.splitlines()]
        return Circuit([Register("q", 1)], [], ops)


def test_every_registration_hook_reaches_its_kind():
    plugins = PluginSystem(entry_points=False, extra=[("every", EveryHook())])
    names = {k.name: plugins.registry.names(k.name) for k in KINDS}
    assert names["parser"] == ["qasm2", "qasm3", "qiskit", "upper"]
    for kind, name in [
        ("cost_model", "c"),
        ("placement", "p"),
        ("transport", "t"),
        ("fallback", "f"),
        ("orchestration", "o"),
        ("store", "s"),
        ("node_type", "n"),
        ("fault", "x"),
    ]:
        assert name in names[kind], kind
        assert plugins.get(kind, name).plugin == "every"
    assert plugins.get("cost_model", "c").distribution == "(local)"


def test_qorch_select_parser_lets_a_plugin_claim_its_format():
    plugins = PluginSystem(entry_points=False, extra=[("every", EveryHook())])
    fmt, circuit = load_circuit_as("H\nX\n", plugins=plugins, format="upper")
    assert fmt == "upper" and [op.name for op in circuit.operations] == ["h", "x"]
    # the built-in detection still answers for everything else
    assert load_circuit_as("OPENQASM 3.0;\nqubit q;\n", plugins=plugins)[0] == "qasm3"


def test_a_parser_producing_an_invalid_circuit_is_caught():
    plugins = PluginSystem(entry_points=False, extra=[("every", EveryHook())])
    with pytest.raises(CircuitError, match="invalid circuit"):
        load_circuit_as("CX\n", plugins=plugins, format="upper")


def test_lifecycle_hooks_in_order():
    hook = EveryHook()
    plugins = PluginSystem(entry_points=False, extra=[("every", hook)])
    plugins.configure()
    plugins.startup("cli")
    plugins.shutdown("cli")
    assert hook.calls == [("configure", 1024), ("startup", "cli"), ("shutdown", "cli")]


@pytest.mark.parametrize("stage", ["configure", "startup"])
def test_a_failing_configure_or_startup_aborts_naming_the_plugin(stage):
    plugins = PluginSystem(entry_points=False, extra=[("every", EveryHook(fail_in=stage))])
    with pytest.raises(PluginError, match=f"plugin 'every' failed in qorch_{stage}"):
        plugins.configure() if stage == "configure" else plugins.startup("node")


class JobObserver:
    """Only observes job states, and fails doing it."""

    @hookimpl
    def qorch_on_job_state(self, job_id, old, new, at, detail):
        raise RuntimeError("observer bug")


def test_observers_that_raise_are_logged_and_the_others_still_run():
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="ERROR")
    good, bad = EveryHook(), JobObserver()
    plugins = PluginSystem(entry_points=False, extra=[("bad", bad), ("good", good)])
    plugins.notify("qorch_on_job_state", job_id="j1", old=None, new="QUEUED", at="t", detail={})
    plugins.notify(
        "qorch_on_fragment_state",
        job_id="j1",
        fragment_id="f0",
        node="n1",
        state="DONE",
        at="t",
        detail={},
    )
    plugins.notify("qorch_on_advert", node_id="n1", accepted=False, reason="stale", advert={})
    logger.remove(sink)
    assert good.calls == [
        ("job", "j1", None, "QUEUED"),
        ("fragment", "f0", "n1", "DONE"),
        ("advert", "n1", False, "stale"),
    ]
    assert any("plugin bad raised in qorch_on_job_state" in m for m in messages)
    with pytest.raises(PluginError):
        plugins.notify("qorch_startup", role="x")


def test_a_failing_shutdown_is_logged_not_raised():
    plugins = PluginSystem(entry_points=False, extra=[("every", EveryHook(fail_in="shutdown"))])
    plugins.shutdown("cli")


def test_register_validates_its_arguments():
    class Bad:
        @hookimpl
        def qorch_register_cost_models(self, register):
            register("", lambda: None)

    class BadOptions:
        @hookimpl
        def qorch_register_cost_models(self, register):
            register("x", lambda: None, options=dict)

    plugins = PluginSystem(entry_points=False, extra=[("bad", Bad()), ("bad2", BadOptions())])
    assert [b.plugin for b in plugins.broken] == ["bad", "bad2"]
    assert "non-empty string" in plugins.broken[0].error
    assert "attrs class" in plugins.broken[1].error


def test_a_plugin_name_can_only_be_used_once():
    plugins = PluginSystem(entry_points=False, extra=[("builtin", EveryHook())])
    assert plugins.broken[0].plugin == "builtin" and "already taken" in plugins.broken[0].error


def test_an_implementation_without_options_refuses_an_options_table():
    plugins = PluginSystem(
        Settings(plugin_options={"parser": {"qasm2": {"x": 1}}}), entry_points=False
    )
    with pytest.raises(ConfigError, match="takes no options"):
        plugins.check_config()


def test_the_json_listing_marks_what_configuration_selects():
    from qorch.config import CompilerSettings

    kinds = PluginSystem(Settings()).describe()["kinds"]
    chosen = {k: [i["name"] for i in impls if i["selected"]] for k, impls in kinds.items()}
    assert chosen["placement"] == ["partition"] and chosen["cost_model"] == ["weighted"]
    assert chosen["transport"] == ["libp2p"] and chosen["store"] == ["sqlite"]
    assert chosen["parser"] == ["qasm2", "qasm3", "qiskit"]  # chosen per input: all usable
    other = Settings(compiler=CompilerSettings(placement="greedy"))
    placement = PluginSystem(other).describe()["kinds"]["placement"]
    assert [i["name"] for i in placement if i["selected"]] == ["greedy"]


def test_an_old_name_still_selects_its_implementation_with_a_warning():
    """``central`` is the old name of the ``tcp`` transport (issue 17): configuration that
    says ``central`` gets ``tcp`` and one warning; listings show the new name only."""
    messages: list[str] = []
    sink = logger.add(messages.append, level="WARNING", format="{message}")
    try:
        settings = Settings(network=NetworkSettings(transport="central"))
        plugins = PluginSystem(settings)
        assert plugins.selected("transport").name == "tcp"
        assert plugins.get("transport", "central").name == "tcp"
    finally:
        logger.remove(sink)
    assert [m for m in messages if "'central' is now called 'tcp'" in m] != []
    assert len([m for m in messages if "'central'" in m]) == 1  # once, not per lookup
    assert "central" not in plugins.registry.names("transport")
    (tcp,) = [i for i in plugins.describe()["kinds"]["transport"] if i["name"] == "tcp"]
    assert tcp["aliases"] == ["central"]
