"""Authentication from the command line, run as an operator would: `serve --auth jwt` with its
settings handed to the server process through the environment, and the starts it refuses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .jwts import AUDIENCE, ISSUER, new_key, write_jwks
from .test_cli import ROOT, clean_env, cli, free_port, wait_until_healthy

NAMESPACES = {"query": "{ namespaces { name } }"}


def refused(*args: str) -> str:
    """stderr of a `serve` that must refuse to start: exit status 2, one line."""
    result = cli("serve", "--port", str(free_port()), "--store", "sqlite://", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "example.test"])
def test_serve_without_authentication_refuses_a_non_loopback_address(host: str) -> None:
    line = refused("--host", host)
    assert "without authentication" in line
    assert "--insecure-no-auth" in line


def test_serve_with_jwt_and_no_jwks_refuses_to_start() -> None:
    assert "SUBGRAPH_JWKS" in refused("--auth", "jwt", "--jwt-issuer", "i",
                                      "--jwt-audience", "a")


def test_serve_with_a_jwks_that_does_not_load_refuses_to_start(tmp_path: Path) -> None:
    line = refused("--auth", "jwt", "--jwks", str(tmp_path / "missing.json"),
                   "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE)
    assert "cannot load the JWKS" in line


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--auth", "basic"], "`jwt` or `none`"),
        (["--auth", "jwt", "--jwks", "http://idp.test/jwks", "--jwt-issuer", "i",
          "--jwt-audience", "a"], "https"),
        (["--auth", "jwt", "--jwks", "k.json", "--jwt-audience", "a"], "--jwt-issuer"),
        (["--auth", "jwt", "--jwks", "k.json", "--jwt-issuer", "i"], "--jwt-audience"),
    ],
)
def test_serve_refuses_authentication_settings_that_cannot_work(
    args: list[str], error: str
) -> None:
    assert error in refused(*args)


class Launcher:
    """Starts `python -m subgraph serve` on a free port over a fresh SQLite file."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        self.jwks_path = tmp_path / "jwks.json"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> None:
        with self.log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "subgraph", "serve", "--port", str(self.port),
                 "--store", f"sqlite:///{self.tmp_path}/db", *args],
                cwd=ROOT, env={**clean_env(), **(env or {})}, stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        wait_until_healthy(process, self.base, self.log)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    try:
        yield launcher
    finally:
        for process in launcher.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=15)


def test_serve_with_jwt_from_the_environment_verifies_tokens(launcher: Launcher) -> None:
    key = new_key("ES256", "ec-cli")
    write_jwks(launcher.jwks_path, key)
    launcher.start(env={
        "SUBGRAPH_AUTH": "jwt", "SUBGRAPH_JWKS": str(launcher.jwks_path),
        "SUBGRAPH_JWT_ISSUER": ISSUER, "SUBGRAPH_JWT_AUDIENCE": AUDIENCE,
    })
    with httpx.Client(base_url=launcher.base, timeout=10) as http:
        missing = http.post("/graphql", json=NAMESPACES)
        assert missing.status_code == 401, missing.text
        assert missing.headers["www-authenticate"] == "Bearer"
        sdl = http.post("/graphql", json={"query": "{ _service { sdl } }"})
        assert sdl.status_code == 200 and "type Query" in sdl.json()["data"]["_service"]["sdl"]
        good = http.post("/graphql", json=NAMESPACES,
                         headers={"authorization": f"Bearer {key.sign()}"})
        assert good.status_code == 200 and good.json()["data"]["namespaces"], good.text
        wrong = http.post("/graphql", json=NAMESPACES,
                          headers={"authorization": f"Bearer {key.sign(aud='x')}"})
        assert wrong.status_code == 401
        metrics = http.get("/metrics").text
    assert 'subgraph_authentication_total{result="ok"} 1.0' in metrics
    assert 'subgraph_authentication_total{result="wrong_audience"} 1.0' in metrics


def test_serve_with_jwt_options_verifies_tokens(launcher: Launcher) -> None:
    key = new_key("EdDSA", "ed-cli")
    write_jwks(launcher.jwks_path, key)
    launcher.start("--auth", "jwt", "--jwks", str(launcher.jwks_path), "--jwt-issuer", ISSUER,
                   "--jwt-audience", AUDIENCE, "--jwt-leeway", "0")
    with httpx.Client(base_url=launcher.base, timeout=10) as http:
        assert http.post("/graphql", json=NAMESPACES).status_code == 401
        good = http.post("/graphql", json=NAMESPACES,
                         headers={"authorization": f"Bearer {key.sign()}"})
        assert good.status_code == 200, good.text


def test_serve_without_authentication_on_loopback_warns_and_answers(
    launcher: Launcher,
) -> None:
    launcher.start()
    response = httpx.post(f"{launcher.base}/graphql", json=NAMESPACES, timeout=10)
    assert response.status_code == 200 and response.json()["data"]["namespaces"]
    assert "authentication is off" in launcher.log.read_text()


def test_insecure_no_auth_lets_it_serve_beyond_loopback(launcher: Launcher) -> None:
    launcher.start("--host", "0.0.0.0", env={"SUBGRAPH_INSECURE_NO_AUTH": "1"})
    text = launcher.log.read_text()
    assert "--insecure-no-auth: serving on 0.0.0.0 without authentication" in text
