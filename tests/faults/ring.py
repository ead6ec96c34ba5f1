"""The Cassandra ring of the fault suite, and its nodes' control through `scripts/services`.

`SUBGRAPH_TEST_RING` names the ring: its nodes' addresses in node order, e.g.
`127.0.0.11,127.0.0.12,127.0.0.13` (`:port` optional, the same for all).  The nodes must be the
ones `scripts/services start cassandra --nodes 3 --mode durable,durable,fast` started from this
run dir with `DATA_GATEWAY_CASSANDRA_ADDRESS_BASE=10` (`make test-faults` does both): node N is
then 127.0.0.<base+N>, which is how a kill or restart here finds its node.

`LAYOUT`: nodes 1 and 2 durable; node 3 fast, the victim of scenario 2 (a node that forgets the
schema it learnt when killed -9), which no other scenario kills.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services"
RING_ENV = "SUBGRAPH_TEST_RING"
JVM_OPTS_ENV = "DATA_GATEWAY_CASSANDRA_JVM_OPTS"
LAYOUT = {1: "durable", 2: "durable", 3: "fast"}


class RingError(Exception):
    """The ring named in the environment cannot be used (the suite skips, saying why)."""


class Ring:
    """A ring of loopback nodes 127.0.0.<base+1>...; node control through scripts/services."""

    def __init__(self, spec: str) -> None:
        hosts: list[str] = []
        ports: set[str] = set()
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            host, _, port = part.partition(":")
            hosts.append(host)
            ports.add(port or "9042")
        if len(ports) != 1:
            raise RingError(f"{RING_ENV}={spec!r}: every node must use the same port")
        last = [h.rsplit(".", 1) for h in hosts]
        if not hosts or any(p[0] != "127.0.0" or not p[1].isdigit() for p in last):
            raise RingError(f"{RING_ENV}={spec!r}: expected 127.0.0.N addresses")
        base = int(last[0][1]) - 1
        if [int(p[1]) for p in last] != list(range(base + 1, base + 1 + len(hosts))):
            raise RingError(f"{RING_ENV}={spec!r}: addresses must be consecutive, node 1 first")
        self.hosts = hosts
        self.port = int(ports.pop())
        self.base = base
        self.env = dict(os.environ, DATA_GATEWAY_CASSANDRA_ADDRESS_BASE=str(base))

    @classmethod
    def from_env(cls) -> Ring | None:
        spec = os.environ.get(RING_ENV, "").strip()
        return cls(spec) if spec else None

    def __len__(self) -> int:
        return len(self.hosts)

    def address(self, node: int) -> str:
        return self.hosts[node - 1]

    def url(self, keyspace: str, consistency: str = "LOCAL_QUORUM") -> str:
        """The store URL of a subgraph on this ring: RF = the ring's size (at most 3)."""
        return (
            f"cassandra://{','.join(self.hosts)}:{self.port}/{keyspace}"
            f"?replication_factor={min(3, len(self))}"
            f"&read_consistency={consistency}&write_consistency={consistency}"
        )

    def services(self, *args: str, timeout: float = 300, jvm_opts: str = "") -> float:
        """Run `scripts/services ARGS` for this ring; returns the seconds it took."""
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(SERVICES), *args], cwd=ROOT,
            env={**self.env, JVM_OPTS_ENV: jvm_opts},
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        if result.returncode != 0:
            raise RingError(f"scripts/services {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return time.monotonic() - started

    def status(self) -> str:
        result = subprocess.run(
            [sys.executable, str(SERVICES), "status"], cwd=ROOT, env=self.env,
            capture_output=True, text=True, timeout=60, check=False,
        )
        return next((line for line in result.stdout.splitlines()
                     if line.startswith("cassandra:")), "cassandra: ?")

    def modes(self) -> dict[int, str]:
        """Node -> mode of the running nodes, from `scripts/services status`."""
        line = self.status()
        running = {i for i, h in enumerate(self.hosts, 1) if f"{h}:{self.port}" in line}
        modes = dict.fromkeys(running, "fast")
        _, _, listed = line.partition("; modes: ")
        for entry in listed.split(";")[0].split(","):
            name, _, mode = entry.strip().partition("=")
            if name.startswith("node") and name[4:].isdigit():
                modes[int(name[4:])] = mode
        return modes

    def with_extra_jvm_options(self) -> set[int]:
        """Running nodes started with extra JVM options (scenario 2's victim)."""
        _, _, listed = self.status().partition("; extra JVM options: ")
        return {int(n[4:]) for n in listed.split(";")[0].split(",") if n[4:].isdigit()}

    def check_controlled(self) -> None:
        """Every node was started by scripts/services from this run dir (it runs, or is down
        and `whole_ring` starts it again)."""
        line = self.status()
        missing = [h for h in self.hosts if f"{h}:{self.port}" not in line and f"({h})" not in line]
        if "running" not in line or missing:
            raise RingError(
                f"{RING_ENV} names {', '.join(self.hosts)}, but scripts/services (run dir "
                f"{os.environ.get('DATA_GATEWAY_RUN_DIR', '<repo>/.run')}, address base "
                f"{self.base}) reports: {line}"
            )

    def kill(self, node: int) -> float:
        return self.services("kill", "cassandra", "--node", str(node))

    def stop(self, node: int) -> float:
        return self.services("stop", "cassandra", "--node", str(node))

    def start(self, node: int, mode: str | None = None, jvm_opts: str = "") -> float:
        extra = ("--mode", mode) if mode else ()
        return self.services("start", "cassandra", "--node", str(node), *extra,
                             jvm_opts=jvm_opts)

    def ignore_schema_of_peers(self, node: int) -> str:
        """JVM options that keep `node` from pulling the schema from the others (Cassandra's
        `cassandra.skip_schema_check_for_endpoints`): its schema lags for as long as it runs."""
        peers = ",".join(h for i, h in enumerate(self.hosts, 1) if i != node)
        return f"-Dcassandra.skip_schema_check_for_endpoints={peers}"

    def system_log(self, node: int) -> Path:
        """Node `node`'s system.log (where scripts/services puts it)."""
        override = os.environ.get("DATA_GATEWAY_RUN_DIR")
        run = Path(override).resolve() if override else ROOT / ".run"
        service = "cassandra" if self.base == 0 else f"cassandra-{self.base}"
        return run / service / f"node{node}" / "system.log"

    def serves_keyspace(self, node: int, keyspace: str) -> bool:
        """Whether node `node`, as a coordinator, knows `keyspace` (its live schema: after a
        restart its system_schema tables may hold rows its live schema never loaded)."""
        from cassandra import InvalidRequest
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import WhiteListRoundRobinPolicy

        address = self.address(node)
        only = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]))
        cluster = Cluster([address], port=self.port, protocol_version=5,
                          execution_profiles={EXEC_PROFILE_DEFAULT: only})
        try:
            session = cluster.connect()
            try:
                session.execute(f"SELECT key FROM {keyspace}.schema_meta LIMIT 1")
            except InvalidRequest as error:
                if "does not exist" in str(error) or "unconfigured table" in str(error):
                    return False
                raise
            return True
        finally:
            cluster.shutdown()
