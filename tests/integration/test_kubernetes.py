"""deploy/kubernetes/ checked offline (issue 13, "Kubernetes and containers (on paper here,
checked offline)"). No cluster and no registry can be reached here: nothing in it ran on
Kubernetes and the image was not built. What can be checked without them is: every YAML
document parses, with the kinds and API versions expected; the Service selects the coordinator's
pod and exposes the port it listens on, and the workers connect to that Service's name and port;
the keys that prepare.sh puts into the Secrets (run for real, with `zdag keygen`, against a
kubectl that only records what it is asked) reach exactly the paths of --curve-secret,
--coordinator-key and --authorized-keys through the init containers; resource requests and
--cpus/--slots agree; every container runs as the image's non-root user; the Dockerfile has
Debian 12 stages, a non-root USER and exactly the runtime libraries the built zdag needs; every
zdag command and option in the manifests is in the built binary's --help. Last, the pods'
command lines run for real on this host: their volumes laid out as kubelet would (Secret files
0440), the init containers' scripts run, then the coordinator's and a worker's exact arguments
(paths and ports mapped to this host's), and the pipeline runs over CurveZMQ."""
import glob
import math
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
import unittest
import urllib.request
from fractions import Fraction

import yaml  # python3-yaml

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase, free_port  # noqa: E402
from test_cli_docs import help_options  # noqa: E402

SOURCE = os.environ.get("ZDAG_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
K8S = os.path.join(SOURCE, "deploy", "kubernetes")
KINDS = {"Service": "v1", "Job": "batch/v1", "Deployment": "apps/v1"}
VAR = re.compile(r"\$\((\w+)\)")
SUFFIX = {"m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(q):
    """A Kubernetes resource quantity ("500m", "2", "4Gi") as a Fraction."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(q))
    assert m and (m.group(2) in SUFFIX or not m.group(2)), q
    return Fraction(m.group(1)) * SUFFIX.get(m.group(2), 1)


def manifests():
    """{kind: object} of every document of the manifests (one object of each kind)."""
    found = {}
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        if os.path.basename(path) == "kustomization.yaml":
            continue
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                found.setdefault(doc["kind"], []).append(doc)
    return found


def argv(container):
    return list(container.get("command", [])) + list(container.get("args", []))


def option(args, name):
    """The value after the one `name` in args."""
    at = [i for i, a in enumerate(args) if a == name]
    assert len(at) == 1, (name, args)
    return args[at[0] + 1]


def env_source(container, text):
    """What text is: ("literal", text) or, for a whole $(VAR), (kind, that env var's source)."""
    m = VAR.fullmatch(text)
    if not m:
        return "literal", text
    for e in container.get("env", []):
        if e["name"] == m.group(1):
            if "value" in e:
                return "literal", e["value"]
            (kind, source), = e["valueFrom"].items()
            return kind, source
    raise AssertionError(f"$({m.group(1)}) is not in the container's env")


def resolve(container, text, pod_name="zdag-worker-test"):
    """text with its $(VAR)s expanded as the kubelet would (resource fields rounded up)."""
    def one(m):
        kind, src = env_source(container, m.group(0))
        if kind == "literal":
            return src
        if kind == "fieldRef":
            assert src["fieldPath"] == "metadata.name", src
            return pod_name
        assert kind == "resourceFieldRef", kind
        res, field = src["resource"].split(".")
        value = quantity(container["resources"][res][field]) / quantity(src.get("divisor", 1))
        return str(math.ceil(value))
    return VAR.sub(one, text)


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def main_container(obj):
    (c,) = pod_spec(obj)["containers"]
    return c


def mount_of(container, path):
    """The volumeMount holding path (the longest mountPath that is a prefix of it)."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if (path == mp or path.startswith(mp + "/")) and (not best or len(mp) > len(best[0])):
            best = (mp, m)
    assert best, f"{path} is on no volume of {container['name']}"
    return best[1]


def install_lines(init):
    """The `install` commands of an init container's `sh -c` script, as argv lists."""
    (script,) = init["args"]
    assert init["command"] == ["sh", "-c"], init["command"]
    lines = [shlex.split(line) for line in script.splitlines() if line.strip()]
    assert lines[0] == ["set", "-e"], lines[0]
    for words in lines[1:]:
        assert words[0] == "install", words
    return lines[1:]


def install_mode(words):
    return int(option(words, "-m"), 8)


class KubernetesTest(ZdagTestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.objs = manifests()
        for kind, api in KINDS.items():
            assert len(cls.objs.get(kind, [])) == 1, (kind, cls.objs.keys())
        cls.service = cls.objs["Service"][0]
        cls.job = cls.objs["Job"][0]
        cls.workers = cls.objs["Deployment"][0]

    def pods(self):
        return [self.job, self.workers]

    def service_port(self, name):
        (p,) = [p for p in self.service["spec"]["ports"] if p["name"] == name]
        return p

    def container_port(self, container, name):
        (p,) = [p for p in container["ports"] if p["name"] == name]
        return p["containerPort"]

    def test_documents_parse_with_their_kinds(self):
        seen = []
        for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
            with open(path) as f:
                for doc in yaml.safe_load_all(f):
                    seen.append(os.path.basename(path))
                    if os.path.basename(path) == "kustomization.yaml":
                        self.assertEqual(doc["kind"], "Kustomization")
                        continue
                    self.assertEqual(doc["apiVersion"], KINDS[doc["kind"]], path)
                    self.assertRegex(doc["metadata"]["name"], r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
        self.assertEqual(sorted(set(seen)), ["coordinator.yaml", "kustomization.yaml",
                                             "worker.yaml"])
        with open(os.path.join(K8S, "kustomization.yaml")) as f:
            self.assertEqual(yaml.safe_load(f)["resources"], ["coordinator.yaml", "worker.yaml"])
        self.assertEqual(self.job["spec"]["template"]["spec"]["restartPolicy"], "Never")
        sel = self.workers["spec"]["selector"]["matchLabels"]
        self.assertLessEqual(sel.items(), self.workers["spec"]["template"]["metadata"]["labels"]
                             .items())

    def test_service_selects_the_coordinator_and_its_ports(self):
        selector = self.service["spec"]["selector"].items()
        self.assertLessEqual(selector, self.job["spec"]["template"]["metadata"]["labels"].items())
        self.assertFalse(selector <= self.workers["spec"]["template"]["metadata"]["labels"].items())
        coord = main_container(self.job)
        args = argv(coord)
        listen = re.fullmatch(r"tcp://0\.0\.0\.0:(\d+)", option(args, "--listen"))
        self.assertTrue(listen, option(args, "--listen"))
        zdag = self.service_port("zdag")
        self.assertEqual(self.container_port(coord, zdag["targetPort"]), int(listen.group(1)))
        metrics = re.fullmatch(r"0\.0\.0\.0:(\d+)", option(args, "--metrics"))
        self.assertEqual(self.container_port(coord, self.service_port("metrics")["targetPort"]),
                         int(metrics.group(1)))

    def test_workers_connect_to_the_service(self):
        args = argv(main_container(self.workers))
        m = re.fullmatch(r"tcp://([a-z0-9.-]+):(\d+)", option(args, "--connect"))
        self.assertTrue(m, option(args, "--connect"))
        name = self.service["metadata"]["name"]
        host = m.group(1).split(".")
        self.assertEqual(host[0], name)  # NAME, NAME.NS, NAME.NS.svc[.cluster.local]
        self.assertIn(host[2:], ([], ["svc"], ["svc", "cluster", "local"]))
        self.assertEqual(int(m.group(2)), self.service_port("zdag")["port"])

    def key_paths(self, obj, opts):
        """For each option of opts in obj's main container: (the install line of its init
        container that makes that path, the Secret volume and key it copies)."""
        spec = pod_spec(obj)
        main = main_container(obj)
        (init,) = spec["initContainers"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        lines = install_lines(init)
        found = {}
        for opt in opts:
            path = option(argv(main), opt)
            mount = mount_of(main, path)
            self.assertTrue(mount.get("readOnly"), (opt, mount))
            self.assertIn("emptyDir", volumes[mount["name"]], opt)
            (init_mount,) = [m for m in init["volumeMounts"] if m["name"] == mount["name"]]
            here = init_mount["mountPath"] + path[len(mount["mountPath"]):]
            if opt == "--authorized-keys":
                dirs = [w for w in lines if "-d" in w and w[-1] == here]
                self.assertEqual([install_mode(w) for w in dirs], [0o700])
                made = [w for w in lines if "-d" not in w and os.path.dirname(w[-1]) == here]
                self.assertTrue(made and all(w[-1].endswith(".pub") for w in made))
            else:
                made = [w for w in lines if w[-1] == here]
                self.assertEqual(len(made), 1, (opt, here, lines))
                self.assertEqual(install_mode(made[0]),
                                 0o600 if opt == "--curve-secret" else 0o644)
            for words in made:
                src = mount_of(init, words[-2])
                secret = volumes[src["name"]]["secret"]
                item = words[-2][len(src["mountPath"]) + 1:]
                (key,) = [i["key"] for i in secret["items"] if i["path"] == item]
                self.assertEqual(secret["defaultMode"], 0o440)
                found.setdefault(secret["secretName"], set()).add(key)
        return found

    def prepare(self):
        """Runs prepare.sh with the built zdag and a kubectl that records its arguments;
        returns {(kind, name): {key: file}} of what it created."""
        bin_dir = self.path("bin")
        os.mkdir(bin_dir)
        log = self.path("kubectl.log")
        fake = os.path.join(bin_dir, "kubectl")
        with open(fake, "w") as f:
            f.write(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> {log}\n'
                    f'echo --- >> {log}\n')
        os.chmod(fake, 0o755)
        pipe = self.write("pipe.yaml", "nodes:\n"
                                       "  a: {cmd: 'echo A', cpus: 2}\n"
                                       "  b: {deps: [a], cmd: 'cat \"$ZDAG_DEP_A\"',"
                                       " resources: {mem_mb: 4000}}\n")
        env = dict(self.env, ZDAG=ZDAG, PATH=bin_dir + os.pathsep + self.env["PATH"])
        p = subprocess.run(["sh", os.path.join(K8S, "prepare.sh"), pipe, "keys"], cwd=self.dir,
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("keys")).st_mode), 0o700)
        created = {}
        with open(log) as f:
            for call in f.read().split("---\n")[:-1]:
                words = call.splitlines()
                self.assertEqual(words[0], "create", words)
                kind = words[1] if words[1] == "configmap" else f"{words[1]} {words[2]}"
                at = len(kind.split()) + 1  # where NAME is
                name = words[at]
                files = {}
                for w in words[at + 1:]:
                    key, path = re.fullmatch(r"--from-file=([^=]+)=(.+)", w).groups()
                    files[key] = os.path.join(self.dir, path)
                    self.assertTrue(os.path.isfile(files[key]), path)
                created[(kind, name)] = files
        return created

    def test_secret_keys_reach_the_command_lines(self):
        want = self.key_paths(self.job, ["--curve-secret", "--authorized-keys"])
        for name, keys in self.key_paths(self.workers, ["--curve-secret",
                                                         "--coordinator-key"]).items():
            want.setdefault(name, set()).update(keys)
        created = self.prepare()
        secrets = {name: set(files) for (kind, name), files in created.items()
                   if kind == "secret generic"}
        self.assertEqual(secrets, want)
        for (kind, name), files in created.items():
            for key, path in files.items():
                if key.endswith(".key"):
                    self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
        # The pipeline's ConfigMap is the file zdag run is given.
        (cm,) = [v["configMap"] for v in pod_spec(self.job)["volumes"] if "configMap" in v]
        self.assertEqual(set(created[("configmap", cm["name"])]), {i["key"] for i in cm["items"]})
        pipeline = argv(main_container(self.job))[2]
        mount = mount_of(main_container(self.job), pipeline)
        self.assertEqual([i["path"] for i in cm["items"]],
                         [pipeline[len(mount["mountPath"]) + 1:]])

    def test_resources_agree_with_cpus_and_slots(self):
        worker = main_container(self.workers)
        args = argv(worker)
        req, lim = worker["resources"]["requests"], worker["resources"]["limits"]
        kind, src = env_source(worker, option(args, "--cpus"))
        self.assertEqual(kind, "resourceFieldRef")
        self.assertEqual((src["containerName"], src["resource"], quantity(src["divisor"])),
                         (worker["name"], "requests.cpu", 1))
        cpus = quantity(req["cpu"])
        self.assertEqual(cpus.denominator, 1, "a CPU request of whole cores: --cpus is rounded up")
        self.assertEqual(quantity(lim["cpu"]), cpus, "limits.cpu = requests.cpu")
        self.assertEqual(int(resolve(worker, option(args, "--cpus"))), cpus)
        slots = int(resolve(worker, option(args, "--slots")))
        self.assertGreaterEqual(slots, 1)
        kind, src = env_source(worker, option(args, "--slots"))
        if kind == "resourceFieldRef":
            self.assertEqual((src["containerName"], src["resource"]), (worker["name"],
                                                                      "requests.cpu"))
            self.assertEqual(slots, cpus)
        name, value = option(args, "--resource").split("=")
        self.assertEqual(name, "mem_mb")
        kind, src = env_source(worker, value)
        self.assertEqual((kind, src["containerName"], src["resource"], src["divisor"]),
                         ("resourceFieldRef", worker["name"], "requests.memory", "1Mi"))
        self.assertLessEqual(quantity(req["memory"]), quantity(lim["memory"]))
        self.assertEqual(int(resolve(worker, value)), quantity(req["memory"]) / 2**20)
        # The coordinator's pod is no host of the run: no local executors.
        self.assertEqual(option(argv(main_container(self.job)), "-w"), "0")

    def dockerfile(self):
        with open(os.path.join(K8S, "Dockerfile")) as f:
            text = f.read().replace("\\\n", " ")
        stages = []
        for line in text.splitlines():
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            if words[0] == "FROM":
                stages.append({"from": words[1:], "lines": []})
            else:
                stages[-1]["lines"].append(words)
        return stages

    def apt_packages(self, stage):
        pkgs = []
        for words in stage["lines"]:
            for part in " ".join(words).split("&&"):
                w = part.split()
                if w[:3] == ["RUN", "apt-get", "install"] or w[:2] == ["apt-get", "install"]:
                    pkgs += [x for x in w[w.index("install") + 1:] if not x.startswith("-")]
        return pkgs

    def test_dockerfile_stages_user_and_libraries(self):
        build, runtime = self.dockerfile()
        self.assertRegex(" ".join(build["from"]), r"^debian:(12|bookworm)\S* AS \w+$")
        self.assertRegex(" ".join(runtime["from"]), r"^debian:(12|bookworm)\S*$")
        text = " ".join(" ".join(w) for w in build["lines"])
        self.assertIn("cmake -S . -B /build", text)
        self.assertIn("cmake --build /build --target zdag", text)
        for flag in re.findall(r"-D(\w+)=", text):
            if not flag.startswith("CMAKE_"):
                with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
                    self.assertIn(f"option({flag} ", f.read())
        with open(os.path.join(SOURCE, "scripts", "install-deps.sh")) as f:
            deps = f.read()
        for pkg in self.apt_packages(build):
            self.assertRegex(deps, rf"[\s(]{re.escape(pkg)}[\s)]", f"{pkg} is no dependency")
        stage_name = build["from"][-1]
        self.assertTrue(any(w[:2] == ["COPY", f"--from={stage_name}"] for w in runtime["lines"]))
        (user,) = [w[1] for w in runtime["lines"] if w[0] == "USER"]
        uid = user.split(":")[0]
        self.assertRegex(uid, r"^[1-9][0-9]*$", "USER is a numeric uid, not root")
        for obj in self.pods():
            self.assertEqual(str(pod_spec(obj)["securityContext"]["runAsUser"]), uid)
        with open(os.path.join(K8S, "Dockerfile.dockerignore")) as f:
            ignored = f.read().split()
        self.assertTrue({".git", "build", "build-*"} <= set(ignored), ignored)
        # The manifests use the image of this version.
        with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
            version = re.search(r"project\(zdag VERSION (\S+)", f.read()).group(1)
        for obj in self.pods():
            spec = pod_spec(obj)
            for c in spec["containers"] + spec.get("initContainers", []):
                self.assertEqual(c["image"], f"zdag:{version}", c["name"])

    def test_runtime_stage_installs_the_libraries_zdag_links(self):
        # The Debian packages of the libraries the built zdag links, libc6 (every image's) and
        # the sanitizers of an ASan build aside, and nothing else.
        _, runtime = self.dockerfile()
        if not shutil.which("dpkg") or not shutil.which("readelf"):
            self.skipTest("dpkg and readelf are needed to name the libraries' packages")
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]",
                            subprocess.run(["readelf", "-d", ZDAG], capture_output=True,
                                           text=True, check=True).stdout)
        loaded = dict(re.findall(r"^\s*(\S+) => (/\S+)", subprocess.run(
            ["ldd", ZDAG], capture_output=True, text=True, check=True).stdout, re.M))
        want = set()
        for lib in needed:
            if re.match(r"lib(asan|ubsan|lsan|tsan)\.", lib):
                continue
            want.add(self.package_of(loaded[lib]))
        self.assertEqual(set(self.apt_packages(runtime)), want - {"libc6"})

    def package_of(self, path):
        """The Debian package that installed the library file path (dpkg knows the path as
        packaged: /lib/… or /usr/lib/… on a merged /usr)."""
        real = os.path.realpath(path)
        for p in (path, real, *(re.sub(r"^/usr/", "/", q) for q in (path, real)),
                  *("/usr" + q for q in (path, real) if not q.startswith("/usr/"))):
            out = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if out.returncode == 0:
                return out.stdout.split(":")[0]
        self.fail(f"no Debian package has {path}")

    def test_containers_run_as_non_root(self):
        for obj in self.pods():
            spec = pod_spec(obj)
            pod = spec["securityContext"]
            # A Secret volume's files are root's (mode 0440): the user reads them as fsGroup.
            self.assertEqual(pod.get("fsGroup"), pod["runAsGroup"])
            for c in spec["containers"] + spec.get("initContainers", []):
                sc = c.get("securityContext", {})
                self.assertTrue(sc.get("runAsNonRoot", pod.get("runAsNonRoot")), c["name"])
                self.assertNotEqual(sc.get("runAsUser", pod.get("runAsUser")), 0)
                self.assertIs(sc.get("allowPrivilegeEscalation"), False, c["name"])
                self.assertEqual(sc.get("capabilities", {}).get("drop"), ["ALL"])
                self.assertIs(sc.get("readOnlyRootFilesystem"), True, c["name"])
            # With a read-only root, what zdag writes is on writable volumes.
            main = main_container(obj)
            args = argv(main)
            writes = ["/tmp"] + [option(args, o) for o in ("--state-dir", "--report")
                                 if o in args] + ([main["workingDir"]] if "workingDir" in main
                                                  else [])
            for path in writes:
                self.assertFalse(mount_of(main, path).get("readOnly"), path)

    def test_commands_and_options_are_the_clis(self):
        for obj in self.pods():
            c = main_container(obj)
            args = argv(c)
            self.assertEqual(args[0], "zdag")
            known = help_options(self.zdag(args[1], "--help", check=0).stdout)
            shorts = {s for s, _ in known.values() if s}
            for a in args[2:]:
                if a.startswith("--"):
                    self.assertIn(a[2:], known, f"zdag {args[1]} has no {a}")
                elif re.fullmatch(r"-[a-zA-Z]", a):
                    self.assertIn(a[1:], shorts, f"zdag {args[1]} has no {a}")
        worker = main_container(self.workers)
        probe = worker["livenessProbe"]["httpGet"]
        self.assertEqual(probe["path"], "/metrics")
        port = self.container_port(worker, probe["port"])
        self.assertEqual(option(argv(worker), "--metrics"), f"0.0.0.0:{port}")
        annotations = self.workers["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/port"], str(port))

    def test_readmes_say_what_was_not_done(self):
        with open(os.path.join(K8S, "README.md")) as f:
            text = " ".join(f.read().split())
        self.assertIn("were not run against a Kubernetes cluster", text)
        self.assertIn("prepare.sh", text)
        with open(os.path.join(SOURCE, "README.md")) as f:
            readme = f.read()
        many = readme[readme.index("\n## Many hosts\n"):]
        many = many[:many.index("\n## ", 1)]
        self.assertIn("\n### On Kubernetes\n", many)
        self.assertIn("deploy/kubernetes/README.md", many)

    # --- the command lines, run on this host as the pods would run them ---

    def lay_out_volumes(self, obj, created, pod):
        """Makes each volume of obj's pod a directory of self.dir/pod, filled as kubelet
        would: Secret and ConfigMap items as files (0440 for Secrets), emptyDirs empty."""
        dirs = {}
        for v in pod_spec(obj)["volumes"]:
            d = dirs[v["name"]] = self.path(pod, v["name"])
            os.makedirs(d)
            for kind, key in (("secret", "secretName"), ("configMap", "name")):
                if kind not in v:
                    continue
                files = created[("secret generic" if kind == "secret" else "configmap",
                                 v[kind][key])]
                for item in v[kind]["items"]:
                    dst = os.path.join(d, item["path"])
                    shutil.copyfile(files[item["key"]], dst)
                    os.chmod(dst, v[kind].get("defaultMode", 0o644))
        return dirs

    def mapped(self, container, dirs, ports, text):
        """text with the container's mount paths and ports turned into this host's."""
        mounts = {m["mountPath"]: dirs[m["name"]] for m in container["volumeMounts"]}
        alternatives = "|".join(re.escape(p) for p in sorted(mounts, key=len, reverse=True))
        text = re.sub(rf"(?<![\w/])({alternatives})(?=/|\s|$)", lambda m: mounts[m.group(1)],
                      text)  # in one pass: a mapped path is not mapped again
        host = re.escape(self.service["metadata"]["name"])
        return re.sub(rf"(0\.0\.0\.0|{host}):(\d+)",
                      lambda m: f"127.0.0.1:{ports[int(m.group(2))]}", text)

    def start_pod(self, obj, dirs, ports, pod):
        """Runs obj's init containers to their end, then starts its container."""
        spec = pod_spec(obj)
        for init in spec.get("initContainers", []):
            cmd = [self.mapped(init, dirs, ports, a) for a in argv(init)]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
        c = main_container(obj)
        cmd = [ZDAG] + [self.mapped(c, dirs, ports, resolve(c, a)) for a in argv(c)[1:]]
        tmp = dirs[mount_of(c, "/tmp")["name"]]
        cwd = self.mapped(c, dirs, ports, c.get("workingDir", "/"))
        return subprocess.Popen(cmd, cwd=cwd, env=dict(self.env, TMPDIR=tmp), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def test_the_pods_command_lines_run_a_pipeline(self):
        created = self.prepare()
        jobs, workers = (self.lay_out_volumes(self.job, created, "job"),
                         self.lay_out_volumes(self.workers, created, "worker"))
        ports = {7700: free_port(), 9100: free_port(), 9101: free_port()}
        # A Secret's file as kubelet leaves it is refused as a key: hence the init containers.
        raw = [ZDAG, "worker", "--connect", "tcp://127.0.0.1:1", "--curve-secret",
               os.path.join(workers["secret"], "worker.key"), "--coordinator-key",
               os.path.join(workers["secret"], "coord.pub")]
        p = subprocess.run(raw, capture_output=True, text=True, timeout=60, env=self.env)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("secret key file is accessible by group or others (mode 0440)", p.stderr)
        coord = self.start_pod(self.job, jobs, ports, "job")
        self.backgrounded.append(coord)
        worker = self.start_pod(self.workers, workers, ports, "worker")
        self.backgrounded.append(worker)
        _, err = coord.communicate(timeout=120)
        self.assertEqual(coord.returncode, 0, err)
        with open(os.path.join(jobs["state"], "report.json")) as f:
            report = yaml.safe_load(f)  # JSON is YAML
        self.assertEqual({(n["name"], n["status"], n["host"]) for n in report["nodes"]},
                         {("a", "succeeded", "zdag-worker-test"),
                          ("b", "succeeded", "zdag-worker-test")})
        # What the liveness probe asks, and the worker's numbers after the run.
        url = f"http://127.0.0.1:{ports[9101]}/metrics"
        for _ in range(600):  # the worker leaves the run a moment after its coordinator ends
            with urllib.request.urlopen(url, timeout=10) as r:
                text = r.read().decode()
            if "zdag_worker_connected 0\n" in text:
                break
            time.sleep(0.05)
        self.assertIn("zdag_worker_runs_joined_total 1\n", text)
        self.assertIn("zdag_worker_attempts_succeeded_total 2\n", text)
        self.assertIn("zdag_worker_cpus 2\n", text)
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
        self.assertEqual(worker.returncode, 143, err)


if __name__ == "__main__":
    unittest.main()
