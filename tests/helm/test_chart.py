#!/usr/bin/python3
"""The Helm chart (helm/ferry) and its image (helm/Dockerfile).

Renders the chart with a real helm and checks the manifests, then runs a
real ferry with each ferry.conf the chart renders (ports and addresses
moved to free loopback ports, the data directory to a temporary one):
the group's in raft-only, the sidecar's in front of a real redis-server.
Bad values must fail with a message that names them. The image's runtime
packages must cover every library the binary links, and its build stage's
sources must build ferry.

    tests/helm/test_chart.py HELM FERRY
"""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHART = os.path.join(ROOT, "helm", "ferry")
HELM, FERRY = sys.argv[1], os.path.abspath(sys.argv[2])
procs = []
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)
    return cond


def helm(*args):
    return subprocess.run([HELM, *args], capture_output=True, text=True)


def render(*sets):
    args = ["template", "t", CHART]
    for s in sets:
        args += ["--set", s]
    r = helm(*args)
    if r.returncode != 0:
        raise SystemExit("helm template %s failed:\n%s" % (" ".join(sets), r.stderr))
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def start(argv, log):
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def connect(where):
    """A connection to 127.0.0.1:where, or to the unix socket at path where."""
    if isinstance(where, int):
        return socket.create_connection(("127.0.0.1", where), 5)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(where)
    return s


def resp(where, *cmd):
    """One command over RESP (where: a port or a unix socket's path); the
    reply's first line."""
    with connect(where) as s:
        s.sendall(("*%d\r\n" % len(cmd) + "".join(
            "$%d\r\n%s\r\n" % (len(a), a) for a in cmd)).encode())
        data = b""
        while not data.endswith(b"\r\n") or (data.startswith(b"$") and data.count(b"\r\n") < 2):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode()


def http(port, path, ca=None):
    """GET path on 127.0.0.1:port; over HTTPS, checked against ca, when given."""
    # The test certificate names localhost.
    url = "https://localhost:%d%s" % (port, path) if ca else "http://127.0.0.1:%d%s" % (port, path)
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def container(pod_spec, name, init=False):
    for c in pod_spec.get("initContainers" if init else "containers") or []:
        if c["name"] == name:
            return c
    return None


def check_probes(c, admin_port, what, scheme="HTTP"):
    port = {p["name"]: p["containerPort"] for p in c["ports"]}
    check(port.get("admin") == admin_port, "%s: admin port %s" % (what, port))
    check(c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin", "scheme": scheme},
          what + " liveness")
    check(c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin", "scheme": scheme},
          what + " readiness")
    check(c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "admin", "scheme": scheme},
          what + " startup")
    sc = c["securityContext"]
    check(sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"], what + " securityContext")
    check(c["args"][0] == "/etc/ferry/ferry.conf", what + " args")


def check_config_file(text, what):
    """ferry --check-config accepts the rendered file as it is."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(text)
    r = subprocess.run([FERRY, "--check-config", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    check(r.returncode == 0, "%s: ferry --check-config: %s%s" % (what, r.stdout, r.stderr))


def localize(text, **repl):
    """The rendered config with some options replaced (loopback, free ports)."""
    for name, value in repl.items():
        name = name.replace("_", "-")
        text, n = re.subn(r"(?m)^%s .*$" % re.escape(name), "%s %s" % (name, value), text)
        check(n == 1, "option %s appears once" % name)
    return text


def run_config(text, tmp, name):
    path = os.path.join(tmp, name + ".conf")
    with open(path, "w") as f:
        f.write(text)
    log = open(os.path.join(tmp, name + ".log"), "w")
    return start([FERRY, path], log)


def make_certs(tmp):
    """tmp/certs: ca.crt (and key); redis.crt/.key for localhost, signed by
    it; tls.crt/.key, a client certificate signed by it. None on failure."""
    certs = os.path.join(tmp, "certs")
    if os.path.isdir(certs):
        return certs
    os.makedirs(certs)
    req = "openssl req -newkey rsa:2048 -nodes -subj"
    for cmd in ("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key "
                "-out ca.crt",
                req + " /CN=localhost -keyout redis.key -out redis.csr",
                "printf 'subjectAltName=DNS:localhost\\n' >san.cnf",
                "openssl x509 -req -in redis.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
                "-extfile san.cnf -out redis.crt",
                req + " /CN=ferry -keyout tls.key -out client.csr",
                "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
                "-out tls.crt"):
        r = subprocess.run(cmd, shell=True, cwd=certs, capture_output=True, text=True)
        if not check(r.returncode == 0, "%s: %s" % (cmd, r.stderr)):
            return None
    return certs


def test_group(tmp):
    chart = yaml.safe_load(open(os.path.join(CHART, "Chart.yaml")))
    values = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
    check(values["image"]["tag"] == chart["appVersion"], "image.tag follows appVersion")
    m = render()
    name = "t-ferry-group"
    check(("StatefulSet", name) in m and ("Service", name) in m and
          ("Service", name + "-headless") in m, "group objects: %s" % list(m))
    check(("ConfigMap", "t-ferry-sidecar") not in m, "no sidecar config without an upstream")
    check(not any(k == "Deployment" for k, _ in m), "no application by default")
    sts = m[("StatefulSet", name)]
    check(sts["spec"]["replicas"] == 1, "one member")
    check(sts["spec"]["serviceName"] == name + "-headless", "serviceName")
    pod = sts["spec"]["template"]["spec"]
    c = container(pod, "ferry")
    check_probes(c, 9180, "group")
    check(any(v["name"] == "data" and v["mountPath"] == "/data" for v in c["volumeMounts"]), "data volume")
    check(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi",
          "volume size")
    check(pod["terminationGracePeriodSeconds"] > 10, "grace period covers shutdown-timeout")
    check(pod["securityContext"]["runAsNonRoot"], "non-root")
    sel = sts["spec"]["selector"]["matchLabels"]
    check(all(sts["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()),
          "selector matches the pod's labels")
    check(m[("Service", name)]["spec"]["selector"] == sel, "service selects the members")
    conf = m[("ConfigMap", name)]["data"]["ferry.conf"]
    check_config_file(conf, "group")
    check("phase raft-only" in conf and "sync yes" in conf, "group config: %s" % conf)

    # The group's config, run: a store-served node answering Redis clients
    # and the admin endpoint.
    port, admin = free_port(), free_port()
    os.makedirs(os.path.join(tmp, "data"))  # the volume's mount point
    conf = localize(conf, bind="127.0.0.1", port=port, admin_bind="127.0.0.1", admin_port=admin,
                    dir=os.path.join(tmp, "data", "ferry"))
    p = run_config(conf, tmp, "group")
    if not check(wait_port(port), "group ferry listens"):
        return
    check(resp(port, "SET", "k", "v") == "+OK\r\n", "SET on the group")
    check(resp(port, "GET", "k") == "$1\r\nv\r\n", "GET on the group")
    check(http(admin, "/readyz") == (200, "ready\n"), "group /readyz")
    status, body = http(admin, "/metrics")
    check(status == 200 and 'ferry_info{version="0.1.0",phase="raft-only"} 1' in body, "group /metrics")
    check(stop(p) == 0, "group ferry exits 0 on SIGTERM")

    # TLS for the group's clients: the options, the Secret, the ports; then
    # the config run, a client with a certificate served on the TLS port.
    m = render("group.tls.enabled=true", "group.tls.secret=group-tls")
    sts = m[("StatefulSet", name)]
    pod = sts["spec"]["template"]["spec"]
    c = container(pod, "ferry")
    check({"name": "redis-tls", "containerPort": 6381} in c["ports"], "TLS container port")
    check({"name": "tls", "mountPath": "/etc/ferry-tls/server", "readOnly": True} in c["volumeMounts"],
          "TLS mount")
    check(any(v.get("secret", {}).get("secretName") == "group-tls" for v in pod["volumes"]),
          "TLS secret volume")
    check({"name": "redis-tls", "port": 6381, "targetPort": "redis-tls"} in
          m[("Service", name)]["spec"]["ports"], "TLS service port")
    conf = m[("ConfigMap", name)]["data"]["ferry.conf"]
    check("tls-port 6381\n" in conf and "tls-auth-clients yes\n" in conf, "TLS options: %s" % conf)
    check("admin-tls" not in conf, "admin endpoint in plain HTTP by default")
    check_probes(c, 9180, "group with TLS")
    check_config_file(conf, "group with TLS")
    # The admin endpoint over HTTPS too: the option, the probes' scheme.
    m = render("group.tls.enabled=true", "group.tls.secret=group-tls", "group.tls.admin=true")
    c = container(m[("StatefulSet", name)]["spec"]["template"]["spec"], "ferry")
    check_probes(c, 9180, "group with admin TLS", scheme="HTTPS")
    conf = m[("ConfigMap", name)]["data"]["ferry.conf"]
    check("admin-tls yes\n" in conf, "admin-tls: %s" % conf)
    check_config_file(conf, "group with admin TLS")
    certs = make_certs(tmp)
    if certs is None:
        return
    port, tport, admin = free_port(), free_port(), free_port()
    conf = localize(conf, bind="127.0.0.1", port=port, tls_port=tport, admin_bind="127.0.0.1",
                    admin_port=admin, dir=os.path.join(tmp, "data", "ferry"),
                    tls_cert_file=os.path.join(certs, "redis.crt"),
                    tls_key_file=os.path.join(certs, "redis.key"),
                    tls_ca_cert_file=os.path.join(certs, "ca.crt"))
    p = run_config(conf, tmp, "group-tls")
    if check(wait_port(tport), "group ferry listens on its TLS port"):
        r = subprocess.run(["redis-cli", "--tls", "--cacert", os.path.join(certs, "ca.crt"),
                            "--cert", os.path.join(certs, "tls.crt"), "--key",
                            os.path.join(certs, "tls.key"), "-p", str(tport), "GET", "k"],
                           capture_output=True, text=True, timeout=30)
        check(r.stdout == "v\n", "GET over TLS on the group: %r %r" % (r.stdout, r.stderr))
        status, body = http(admin, "/healthz", ca=os.path.join(certs, "ca.crt"))
        check(status == 200 and body.strip() == "ok", "/healthz over HTTPS: %s %r" % (status, body))
        check(stop(p) == 0, "group ferry with TLS exits 0 on SIGTERM")


def test_sidecar(tmp):
    sets = ["app.enabled=true", "app.image=example/app:1", "sidecar.upstream=redis.example:6379"]
    m = render(*sets)
    dep = m[("Deployment", "t-ferry-app")]
    pod = dep["spec"]["template"]["spec"]
    check([c["name"] for c in pod["containers"]] == ["app", "ferry"], "app and sidecar containers")
    app = container(pod, "app")
    check({"name": "REDIS_PORT", "value": "6380"} in app["env"], "app told where Redis is")
    c = container(pod, "ferry")
    check_probes(c, 9180, "sidecar")
    check("env" not in c and c["args"] == ["/etc/ferry/ferry.conf"], "no secrets by default")
    check(pod["volumes"][0]["configMap"]["name"] == "t-ferry-sidecar", "sidecar config volume")
    conf = m[("ConfigMap", "t-ferry-sidecar")]["data"]["ferry.conf"]
    check_config_file(conf, "sidecar")
    check("bind 127.0.0.1\n" in conf and "upstream redis.example:6379\n" in conf, "sidecar config")

    # Native sidecar: an init container that keeps running.
    m = render(*sets, "sidecar.native=true")
    pod = m[("Deployment", "t-ferry-app")]["spec"]["template"]["spec"]
    init = container(pod, "ferry", init=True)
    check(init is not None and init["restartPolicy"] == "Always", "native sidecar")
    check([c["name"] for c in pod["containers"]] == ["app"], "native: app alone in containers")

    # Secrets: on the command line through the environment, not in the
    # ConfigMap.
    m = render(*sets, "sidecar.upstreamPasswordSecret.name=redis-auth",
               "sidecar.requirepassSecret.name=ferry-auth", "sidecar.requirepassSecret.key=pw")
    c = container(m[("Deployment", "t-ferry-app")]["spec"]["template"]["spec"], "ferry")
    check(c["args"] == ["/etc/ferry/ferry.conf", "--upstream-password", "$(FERRY_UPSTREAM_PASSWORD)",
                        "--requirepass", "$(FERRY_REQUIREPASS)"], "secret args: %s" % c["args"])
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]}
    check(env == {"FERRY_UPSTREAM_PASSWORD": {"name": "redis-auth", "key": "password"},
                  "FERRY_REQUIREPASS": {"name": "ferry-auth", "key": "pw"}}, "secret env: %s" % env)

    # extraConfig reaches both files, and ferry takes it.
    m = render(*sets, "extraConfig.maxclients=20000", "extraConfig.loglevel=verbose")
    for cm in ("t-ferry-sidecar", "t-ferry-group"):
        conf2 = m[("ConfigMap", cm)]["data"]["ferry.conf"]
        check("maxclients 20000\n" in conf2 and "loglevel verbose" in conf2, "extraConfig in " + cm)
        check_config_file(conf2, cm + " with extraConfig")

    # The unix socket: in the config, in a volume both containers mount,
    # and the application told where it is.
    m = render(*sets, "sidecar.unixSocket=true")
    pod = m[("Deployment", "t-ferry-app")]["spec"]["template"]["spec"]
    mount = {"name": "ferry-socket", "mountPath": "/run/ferry"}
    check(mount in container(pod, "ferry")["volumeMounts"], "ferry mounts the socket's directory")
    app = container(pod, "app")
    check(app.get("volumeMounts") == [mount], "the application mounts it: %s" % app.get("volumeMounts"))
    check({"name": "REDIS_SOCKET", "value": "/run/ferry/ferry.sock"} in app["env"], "REDIS_SOCKET")
    check({"name": "ferry-socket", "emptyDir": {}} in pod["volumes"], "the socket's emptyDir")
    unix_conf = m[("ConfigMap", "t-ferry-sidecar")]["data"]["ferry.conf"]
    check("unixsocket /run/ferry/ferry.sock\nunixsocketperm 770\n" in unix_conf, "socket options")
    check_config_file(unix_conf, "sidecar with a unix socket")
    check("ferry-socket" not in str(render(*sets)), "no socket volume by default")

    # TLS to the upstream: the options, and the Secrets mounted where they
    # point.
    tls_sets = [*sets, "sidecar.upstreamTLS.enabled=true", "sidecar.upstreamTLS.caSecret.name=redis-ca",
                "sidecar.upstreamTLS.clientSecret=ferry-client",
                "sidecar.upstreamTLS.serverName=localhost"]
    m = render(*tls_sets)
    pod = m[("Deployment", "t-ferry-app")]["spec"]["template"]["spec"]
    mounts = {v["name"]: v["mountPath"] for v in container(pod, "ferry")["volumeMounts"]}
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    check(mounts.get("ferry-tls-ca") == "/etc/ferry-tls/ca" and
          mounts.get("ferry-tls-client") == "/etc/ferry-tls/client", "TLS mounts: %s" % mounts)
    check(secrets == {"ferry-tls-ca": "redis-ca", "ferry-tls-client": "ferry-client"},
          "TLS secrets: %s" % secrets)
    tls_conf = m[("ConfigMap", "t-ferry-sidecar")]["data"]["ferry.conf"]
    check("upstream-tls yes\nupstream-tls-ca-cert-file /etc/ferry-tls/ca/ca.crt\n"
          "upstream-tls-cert-file /etc/ferry-tls/client/tls.crt\n"
          "upstream-tls-key-file /etc/ferry-tls/client/tls.key\n"
          "upstream-tls-server-name localhost\n" in tls_conf, "TLS options: %s" % tls_conf)
    check_config_file(tls_conf, "sidecar with upstream TLS")
    check("upstream-tls" not in str(render(*sets)), "no TLS by default")

    # The admin endpoint over HTTPS: the options, the Secret mounted where
    # they point, the probes' scheme; and a Secret is required.
    m = render(*sets, "sidecar.adminTLS.enabled=true", "sidecar.adminTLS.secret=ferry-admin")
    pod = m[("Deployment", "t-ferry-app")]["spec"]["template"]["spec"]
    c = container(pod, "ferry")
    check_probes(c, 9180, "sidecar with admin TLS", scheme="HTTPS")
    check({"name": "ferry-tls-admin", "mountPath": "/etc/ferry-tls/admin", "readOnly": True} in
          c["volumeMounts"], "admin TLS mount: %s" % c["volumeMounts"])
    check({"name": "ferry-tls-admin", "secret": {"secretName": "ferry-admin", "items": [
        {"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]}} in
        pod["volumes"], "admin TLS secret volume: %s" % pod["volumes"])
    admin_tls_conf = m[("ConfigMap", "t-ferry-sidecar")]["data"]["ferry.conf"]
    check("tls-cert-file /etc/ferry-tls/admin/tls.crt\ntls-key-file /etc/ferry-tls/admin/tls.key\n"
          "admin-tls yes\n" in admin_tls_conf, "admin TLS options: %s" % admin_tls_conf)
    check("tls-port" not in admin_tls_conf, "no TLS port for the application")
    check_config_file(admin_tls_conf, "sidecar with admin TLS")
    check("admin-tls" not in str(render(*sets)), "admin endpoint in plain HTTP by default")
    r = helm("template", "t", CHART, "--set", ",".join(sets + ["sidecar.adminTLS.enabled=true"]))
    check(r.returncode != 0 and "sidecar.adminTLS.secret" in r.stderr,
          "admin TLS without a Secret refused: %s" % r.stderr)

    # The sidecar's config, run in front of a real redis-server.
    rport = free_port()
    redis = start(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no"], open(os.devnull, "w"))
    if not check(wait_port(rport), "redis-server listens"):
        return
    port, admin = free_port(), free_port()
    conf = localize(conf, port=port, admin_bind="127.0.0.1", admin_port=admin,
                    upstream="127.0.0.1:%d" % rport)
    p = run_config(conf, tmp, "sidecar")
    if check(wait_port(port), "sidecar ferry listens"):
        check(resp(port, "SET", "k", "through") == "+OK\r\n", "SET through the sidecar")
        check(resp(rport, "GET", "k") == "$7\r\nthrough\r\n", "the write reached Redis")
        check(http(admin, "/readyz") == (200, "ready\n"), "sidecar /readyz")
        check(stop(p) == 0, "sidecar ferry exits 0 on SIGTERM")
    # ... and the one with the unix socket, reached on it.
    port, admin = free_port(), free_port()
    path = os.path.join(tmp, "ferry.sock")
    unix_conf = localize(unix_conf, port=port, admin_bind="127.0.0.1", admin_port=admin,
                         upstream="127.0.0.1:%d" % rport, unixsocket=path)
    p = run_config(unix_conf, tmp, "sidecar-unix")
    if check(wait_port(port), "sidecar ferry with a unix socket listens"):
        check(resp(path, "GET", "k") == "$7\r\nthrough\r\n", "GET on the unix socket")
        check(os.stat(path).st_mode & 0o777 == 0o770, "the socket's mode is 770")
        check(stop(p) == 0, "sidecar ferry exits 0 on SIGTERM")
        check(not os.path.exists(path), "the socket is removed at exit")
    stop(redis)

    # ... and the one with upstream TLS, in front of redis-server's TLS port,
    # with certificates in the places the Secrets would be.
    certs = make_certs(tmp)
    if certs is None:
        return
    tport = free_port()
    redis = start(["redis-server", "--port", "0", "--tls-port", str(tport), "--bind", "127.0.0.1",
                   "--tls-cert-file", os.path.join(certs, "redis.crt"),
                   "--tls-key-file", os.path.join(certs, "redis.key"),
                   "--tls-ca-cert-file", os.path.join(certs, "ca.crt"), "--tls-auth-clients", "yes",
                   "--save", "", "--appendonly", "no"], open(os.devnull, "w"))
    if not check(wait_port(tport), "redis-server's TLS port listens"):
        stop(redis)
        return
    port, admin = free_port(), free_port()
    tls_conf = localize(tls_conf, port=port, admin_bind="127.0.0.1", admin_port=admin,
                        upstream="127.0.0.1:%d" % tport,
                        upstream_tls_ca_cert_file=os.path.join(certs, "ca.crt"),
                        upstream_tls_cert_file=os.path.join(certs, "tls.crt"),
                        upstream_tls_key_file=os.path.join(certs, "tls.key"))
    p = run_config(tls_conf, tmp, "sidecar-tls")
    if check(wait_port(port), "sidecar ferry with upstream TLS listens"):
        check(resp(port, "SET", "k", "over tls") == "+OK\r\n", "SET through TLS")
        check(resp(port, "GET", "k") == "$8\r\nover tls\r\n", "GET through TLS")
        check(stop(p) == 0, "sidecar ferry with upstream TLS exits 0 on SIGTERM")
    # ... and the one with the admin endpoint over HTTPS, which needs no
    # tls-port: probed as the kubelet would, over HTTPS, against the CA.
    port, admin = free_port(), free_port()
    admin_tls_conf = localize(admin_tls_conf, port=port, admin_bind="127.0.0.1", admin_port=admin,
                              upstream="127.0.0.1:%d" % tport,
                              tls_cert_file=os.path.join(certs, "redis.crt"),
                              tls_key_file=os.path.join(certs, "redis.key"))
    p = run_config(admin_tls_conf, tmp, "sidecar-admin-tls")
    if check(wait_port(admin), "sidecar ferry's HTTPS admin endpoint listens"):
        status, body = http(admin, "/healthz", ca=os.path.join(certs, "ca.crt"))
        check(status == 200 and body.strip() == "ok", "sidecar /healthz over HTTPS: %s %r" %
              (status, body))
        check(stop(p) == 0, "sidecar ferry with admin TLS exits 0 on SIGTERM")
    stop(redis)


def test_dependent_chart(tmp):
    """An application chart that depends on ferry and includes the sidecar."""
    app = os.path.join(tmp, "app-chart")
    shutil.copytree(os.path.join(ROOT, "tests", "helm", "app-chart"), app)
    chart_yaml = os.path.join(app, "Chart.yaml")
    text = open(chart_yaml).read().replace("file://../../../helm/ferry", "file://" + CHART)
    open(chart_yaml, "w").write(text)
    r = helm("dependency", "build", app)
    if not check(r.returncode == 0, "helm dependency build: %s" % r.stderr):
        return
    r = helm("template", "shop", app)
    if not check(r.returncode == 0, "the dependent chart renders: %s" % r.stderr):
        return
    m = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(r.stdout) if d}
    check(not any(k == "StatefulSet" for k, _ in m), "group disabled by the application's values")
    pod = m[("Deployment", "shop-shop")]["spec"]["template"]["spec"]
    check([c["name"] for c in pod["containers"]] == ["shop", "ferry"], "sidecar beside the application")
    c = container(pod, "ferry")
    check(c["image"] == "ferry:0.1.0", "image from ferry's defaults: %s" % c["image"])
    check_probes(c, 9180, "dependent chart's sidecar")
    cm = pod["volumes"][0]["configMap"]["name"]
    check(("ConfigMap", cm) in m, "the volume names ferry's ConfigMap (%s in %s)" % (cm, list(m)))
    if ("ConfigMap", cm) in m:
        conf = m[("ConfigMap", cm)]["data"]["ferry.conf"]
        check("upstream redis.shop:6379\n" in conf, "the application's upstream: %s" % conf)
        check_config_file(conf, "dependent chart's sidecar")
    # The unix socket through the helpers: volume, and both mounts.
    r = helm("template", "shop", app, "--set", "ferry.sidecar.unixSocket=true")
    if not check(r.returncode == 0, "the dependent chart renders with a socket: %s" % r.stderr):
        return
    m = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(r.stdout) if d}
    pod = m[("Deployment", "shop-shop")]["spec"]["template"]["spec"]
    mount = {"name": "ferry-socket", "mountPath": "/run/ferry"}
    check(mount in container(pod, "shop").get("volumeMounts", []) and
          mount in container(pod, "ferry")["volumeMounts"], "dependent chart: both mount the socket")
    check({"name": "ferry-socket", "emptyDir": {}} in pod["volumes"], "dependent chart: socket volume")


def test_bad_values():
    cases = [
        (["group.replicas=3"], "group.replicas: 3 members would never talk to each other"),
        (["sidecar.upstream=redis.example:6379", "sidecar.phase=raft"],
         'sidecar.phase: "raft" does not run yet'),
        (["app.enabled=true", "app.image=x"], "sidecar.upstream: host:port of the existing Redis is required"),
        (["app.enabled=true", "sidecar.upstream=r:6379"], "app.image: the application's image is required"),
        (["sidecar.upstream=redis"], "sidecar.upstream: Does not match pattern"),
        (["group.replica=2"], "Additional property replica is not allowed"),
        (["group.storeSize=lots"], "group.storeSize: Does not match pattern"),
        (["sidecar.port=70000"], "sidecar.port: Must be less than or equal to 65535"),
        (["group.tls.enabled=true"], "group.tls.secret: a kubernetes.io/tls Secret"),
        (["group.tls.authClients=maybe"], "group.tls.authClients: group.tls.authClients must be one"),
    ]
    for sets, want in cases:
        args = ["template", "t", CHART]
        for s in sets:
            args += ["--set", s]
        r = helm(*args)
        check(r.returncode != 0 and want in r.stderr,
              "%s: want an error with %r, got %d: %s" % (sets, want, r.returncode, r.stderr.strip()))


def test_image(tmp):
    dockerfile = open(os.path.join(ROOT, "helm", "Dockerfile")).read()
    runtime = re.search(r"(?m)^# runtime-libraries: (.*)$", dockerfile).group(1).split()
    check(all(pkg in dockerfile.split("runtime-libraries")[1] for pkg in runtime), "listed packages installed")
    # Every library ferry links comes from one of those packages (libc6 is
    # in the base image).
    ldd = subprocess.run(["ldd", FERRY], capture_output=True, text=True, check=True).stdout
    for lib in re.findall(r"=> (/\S+)", ldd):
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(lib)], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        pkg = owner.stdout.split(":")[0]
        check(pkg == "libc6" or pkg in runtime, "%s (from %r) is not in the image's runtime packages"
              % (lib, pkg))
    # The build stage copies these and runs this make command: it must build.
    copied = re.findall(r"(?m)^COPY (?!--)(\S+)", dockerfile)
    # .dockerignore leaves everything out but what it lets in by name.
    ignore = [l.strip() for l in open(os.path.join(ROOT, ".dockerignore"))
              if l.strip() and not l.startswith("#")]
    check(ignore[0] == "*", ".dockerignore starts by leaving everything out")
    for path in copied:
        check("!" + path.rstrip("/") in ignore, "%s is copied but .dockerignore leaves it out" % path)
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    for path in copied:
        if os.path.isdir(os.path.join(ROOT, path)):
            shutil.copytree(os.path.join(ROOT, path), os.path.join(src, path),
                            ignore=shutil.ignore_patterns("*.o", "*.d"))
        else:
            shutil.copy(os.path.join(ROOT, path), src)
    make = re.search(r"(?m)^RUN (make .*)$", dockerfile).group(1).split()
    r = subprocess.run(make + ["-j2"], cwd=src, capture_output=True, text=True)
    check(r.returncode == 0 and os.access(os.path.join(src, "build", "ferry"), os.X_OK),
          "the build stage builds ferry: %s" % r.stderr[-2000:])


def main():
    r = helm("lint", "--strict", CHART)
    check(r.returncode == 0, "helm lint --strict: %s%s" % (r.stdout, r.stderr))
    tmp = tempfile.mkdtemp(prefix="ferry-helm-")
    try:
        test_group(tmp)
        test_sidecar(tmp)
        test_dependent_chart(tmp)
        test_bad_values()
        test_image(tmp)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("KEEP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("test_chart: %d failures" % failures)
        return 1
    print("test_chart: the chart renders, its configs run, bad values are refused, the image builds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
