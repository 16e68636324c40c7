"""The Compose topology's smoke test, without a container engine.

Runs every Vox service of docker-compose.yml (profile "app") on this host
with the exact command and environment the Compose file gives it, against
the local Kafka (its SASL_SSL listener, as the containers use the broker's)
and PostgreSQL that deploy/local/services.sh runs. What a container would
get differently is mapped, and only that:

* the `vox` in a command is the binary under test (argument 1);
* host names: kafka:19093 -> the local SASL_SSL listener, postgres:5432 ->
  a fresh database on the local PostgreSQL; the SCRAM password and the
  broker CA are the local broker's;
* mounted files: /run/vox -> a private directory made here like
  deploy/compose/secrets.sh makes secrets/vox (a KEK, `vox cert create`
  and `vox audit keygen`),
  /run/vox-kafka/ca.pem -> the local broker's CA;
* listen addresses 0.0.0.0 -> 127.0.0.1 (servers here listen on loopback;
  a second instance of a port, which its own container would have, gets a
  free one),
  and each service gets a data directory and a topic namespace of its own
  (the image's VOX_DATA_DIR; the namespace keeps other tests' topics apart).

Then, as README's walkthrough does with `docker compose exec`: a tenant,
collections and a client made with the ingest service's environment, the
examples pushed to the ingest service, and the read model read with the
projector's environment until all 40 items are there; the tenant's audit
log, verified with the auditor's environment once a checkpoint covers it. The people API
service must answer `GET /healthz` ("ok") and `GET /readyz` (200: it has
read the configuration) on the operations port its command gives, over
HTTPS with the CA made here. Finally every service gets SIGTERM and must
exit within the Compose file's stop_grace_period.

Usage: python3 compose-smoke.py VOX_BINARY [COMPOSE_FILE]
Needs: PyYAML, and `eval "$(deploy/local/services.sh env)"` in the environment.
"""

import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def die(message):
    print(f"compose smoke: FAIL {message}", flush=True)
    sys.exit(1)


def env_or_die(name):
    value = os.environ.get(name)
    if not value:
        die(f"{name} is not set: run eval \"$(deploy/local/services.sh env)\" first")
    return value


def duration_seconds(text):
    match = re.fullmatch(r"(\d+)(ms|s|m)", str(text))
    if not match:
        die(f"stop_grace_period {text!r} is not a duration this test understands")
    n, unit = int(match.group(1)), match.group(2)
    return n / 1000 if unit == "ms" else n * (60 if unit == "m" else 1)


def interpolate(value, variables):
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} in a string."""

    def one(m):
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in variables:
            return variables[name]
        if op == ":-":
            return arg
        die(f"the Compose file needs {name} ({arg})")

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, str(value))


def main():
    vox = str(Path(sys.argv[1]).resolve())
    compose_file = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docker-compose.yml"
    compose = yaml.safe_load(compose_file.read_text())
    services = {
        name: s
        for name, s in compose["services"].items()
        if "app" in s.get("profiles", []) and (s.get("command") or [None])[0] == "vox"
    }
    if not services:
        die("no Vox services in the app profile")

    work = Path(tempfile.mkdtemp(prefix="vox-compose-smoke-"))
    os.chmod(work, 0o700)
    secrets = work / "run-vox"
    secrets.mkdir(mode=0o700)
    kek = secrets / "kek"
    kek.write_text(os.urandom(32).hex() + "\n")
    os.chmod(kek, 0o600)
    subprocess.run(
        [vox, "cert", "create", "--dir", str(secrets / "tls"), "--name", "localhost", "--name", "127.0.0.1"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [vox, "audit", "keygen", "--name", "vox-compose", "--out", str(secrets / "audit.key")],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    sasl_brokers = env_or_die("VOX_TEST_KAFKA_SASL_BROKERS")
    sasl_password = env_or_die("VOX_TEST_KAFKA_SASL_PASSWORD")
    sasl_ca = env_or_die("VOX_TEST_KAFKA_SASL_CA")
    base_url = env_or_die("VOX_DATABASE_URL")
    database = "compose_smoke_" + uuid.uuid4().hex[:12]
    admin_url = base_url
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {database}"], check=True)
    database_url = re.sub(r"/[^/?]*(\?|$)", f"/{database}\\1", base_url.split("://", 1)[1])
    database_url = base_url.split("://", 1)[0] + "://" + database_url
    namespace = "t" + uuid.uuid4().hex[:12] + "."

    def host_env(service, name):
        env = {}
        for key, value in (service.get("environment") or {}).items():
            value = interpolate(value, {"VOX_KAFKA_SASL_PASSWORD": sasl_password, "VOX_LOG": "info"})
            value = value.replace("kafka:19093", sasl_brokers)
            value = value.replace("/run/vox-kafka/ca.pem", sasl_ca)
            value = value.replace("/run/vox/", str(secrets) + "/")
            if key == "VOX_DATABASE_URL":
                if "@postgres:5432/" not in value:
                    die(f"{name}: VOX_DATABASE_URL {value!r} does not name the postgres service")
                value = database_url
            env[key] = value
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VOX_")}
        clean.update(env)
        clean["VOX_TOPIC_NAMESPACE"] = namespace
        clean["VOX_DATA_DIR"] = str(work / f"data-{name}")
        return clean

    bound = set()

    def host_command(service):
        command = [vox] + [str(a) for a in service["command"][1:]]
        command = [a.replace("0.0.0.0:", "127.0.0.1:").replace("/run/vox/", str(secrets) + "/") for a in command]
        # Containers have a network each; here two instances of a service share one: the
        # second one's listener gets a free port.
        for i, a in enumerate(command):
            if a.startswith("127.0.0.1:"):
                if a in bound:
                    command[i] = "127.0.0.1:0"
                bound.add(a)
        return command

    # Admin commands first (the topics and the tenant), with the ingest service's environment.
    ingest_name = next((n for n, s in services.items() if s["command"][1] == "ingest"), None)
    api_name = next((n for n, s in services.items() if s["command"][1] == "api"), None)
    project_name = next((n for n, s in services.items() if s["command"][1] == "project"), None)
    audit_name = next((n for n, s in services.items() if s["command"][1:3] == ["audit", "run"]), None)
    if not ingest_name or not api_name or not project_name or not audit_name:
        die("the app profile needs an ingest, a people API (vox api), a projector and an auditor (vox audit run) service")
    ingest_env = host_env(services[ingest_name], ingest_name)

    def cli(args, env):
        done = subprocess.run([vox] + args, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            die(f"vox {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    cli(["tenant", "create", "acme", "--name", "Acme Oy"], ingest_env)
    cli(["collection", "create", "--tenant", "acme", "nps-2026"], ingest_env)
    cli(["collection", "create", "--tenant", "acme", "support"], ingest_env)
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in cli(["client", "create", "--tenant", "acme", "--name", "crm"], ingest_env).splitlines()
        if line.startswith("export ")
    )

    def flag_value(command, flag):
        for i, a in enumerate(command):
            if a == flag and i + 1 < len(command):
                return command[i + 1]
            if a.startswith(flag + "="):
                return a.split("=", 1)[1]
        return None

    processes = {}
    commands = {}
    logs = {}
    try:
        for name, service in services.items():
            logs[name] = open(work / f"{name}.log", "w")
            commands[name] = host_command(service)
            processes[name] = subprocess.Popen(
                commands[name], env=host_env(service, name), stdout=logs[name], stderr=subprocess.STDOUT
            )
        # The ingest service's published port.
        published = [p for p in services[ingest_name].get("ports", []) if str(p).endswith(":8443")]
        if not published:
            die(f"{ingest_name} does not publish 8443")
        url = "https://127.0.0.1:8443"
        push_env = dict(os.environ)
        push_env.update(exports)
        deadline = time.time() + 60
        while True:
            for name, p in processes.items():
                if p.poll() is not None:
                    die(f"{name} exited with {p.returncode}:\n{(work / f'{name}.log').read_text()[-3000:]}")
            pushed = subprocess.run(
                [vox, "push", str(ROOT / "examples/feedback.ndjson"), "--url", url,
                 "--ca-cert", str(secrets / "tls/ca.pem")],
                env=push_env, capture_output=True, text=True,
            )
            if pushed.returncode == 0:
                break
            if time.time() > deadline:
                die(f"vox push never succeeded: {pushed.stderr.strip()[-2000:]}")
            time.sleep(1)
        project_env = host_env(services[project_name], project_name)
        deadline = time.time() + 90
        while True:
            rows = cli(["inspect", "feedback", "--tenant", "acme"], project_env).splitlines()
            if len(rows) >= 40:
                break
            if time.time() > deadline:
                die(f"only {len(rows)} of 40 items reached the read model")
            time.sleep(1)
        # The tenant's audit log, with the auditor's environment: the operator's changes and
        # the batches, checkpointed and verified.
        audit_env = host_env(services[audit_name], audit_name)
        deadline = time.time() + 60
        while True:
            verified = subprocess.run([vox, "audit", "verify", "--tenant", "acme"], env=audit_env,
                                      capture_output=True, text=True)
            out = verified.stdout.strip()
            sizes = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
            if verified.returncode == 0 and sizes.get("latest_checkpoint", "none") != "none" \
                    and int(sizes.get("size", "0")) >= 5 and sizes["latest_checkpoint"] == sizes["size"]:
                break
            if verified.returncode not in (0,):
                die(f"vox audit verify: {out} {verified.stderr.strip()}")
            if time.time() > deadline:
                die(f"the audit log of acme was not checkpointed in 60 s: {out}")
            time.sleep(1)
        print(f"compose smoke: {audit_name} keeps the audit log: {out}", flush=True)
        # The people API's operations listener, at the address its command gives.
        ops = flag_value(commands[api_name], "--ops-listen")
        if not ops or ops.endswith(":0"):
            die(f"{api_name}: its command gives no fixed --ops-listen address")
        tls = ssl.create_default_context(cafile=str(secrets / "tls/ca.pem"))
        deadline = time.time() + 60
        for path, want in (("/healthz", "ok"), ("/readyz", None)):
            while True:
                if processes[api_name].poll() is not None:
                    die(f"{api_name} exited with {processes[api_name].returncode}:\n"
                        f"{(work / f'{api_name}.log').read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"https://{ops}{path}", context=tls, timeout=5) as answer:
                        body = answer.read().decode().strip()
                    if want is None or body == want:
                        break
                    error = f"answered {body!r}"
                except (urllib.error.URLError, OSError) as e:
                    error = str(e)
                if time.time() > deadline:
                    die(f"{api_name}: GET https://{ops}{path} never answered {want or '200'}: {error}")
                time.sleep(1)
        print(f"compose smoke: {api_name} answers /healthz and /readyz on {ops}", flush=True)
        print(f"compose smoke: {len(services)} services ({', '.join(services)}) ran with the Compose "
              f"file's commands and environment; 40 items pushed reached the read model", flush=True)
        # Shutdown within the grace period Compose gives.
        for name, p in processes.items():
            grace = duration_seconds(services[name].get("stop_grace_period", "10s"))
            started = time.time()
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                die(f"{name} did not stop within its stop_grace_period of {grace:g} s")
            took = time.time() - started
            print(f"compose smoke: {name} stopped in {took:.1f} s (grace {grace:g} s)", flush=True)
            if p.returncode not in (0, -signal.SIGTERM):
                die(f"{name} exited with {p.returncode} on SIGTERM")
    finally:
        for p in processes.values():
            if p.poll() is None:
                p.kill()
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("compose smoke: passed", flush=True)


if __name__ == "__main__":
    main()
