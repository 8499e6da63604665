"""--help, the man page zdag.1 and the bash completion come from one option table: every option
the parser accepts appears in all three, and the parser accepts every option they name. The
contract's options (SPEC section 1) are the independent list checked against them."""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZDAG, ZdagTestCase  # noqa: E402

BUILD = os.environ.get("ZDAG_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..",
                                                      "build"))
COMMANDS = ["run", "map", "check", "graph", "status", "report", "worker", "keygen", "help"]

# The options the contract names for each command (long forms), plus --help everywhere.
CONTRACT = {
    "run": ["jobs", "local-workers", "cpus", "listen", "curve-secret", "authorized-keys",
            "insecure", "priority", "keep-going", "resume", "state-dir", "target", "exclude",
            "report", "trace", "results", "quiet", "progress", "heartbeat", "io-slots", "html",
            "slurm", "slurm-max-jobs", "slurm-idle"],
    "worker": ["connect", "slots", "cpus", "resource", "host-id", "curve-secret",
               "coordinator-key", "insecure", "forever", "idle-exit", "allocation"],
    "check": ["remote"],
    "status": ["state-dir", "json", "watch"],
    "report": ["html"],
}

OPTION_LINE = re.compile(r"^  (?:-(\w), |    )--([a-z][a-z-]*)(?: (\S+))?")


def help_options(text):
    """{long name: (short name or None, argument name or None)} from a command's --help."""
    found = {}
    for line in text.splitlines():
        m = OPTION_LINE.match(line)
        if m:
            found[m.group(2)] = (m.group(1), m.group(3))
    return found


class CliDocsTest(ZdagTestCase):
    def help_of(self, cmd):
        return help_options(self.zdag(cmd, "--help", check=0).stdout)

    def man(self):
        return self.zdag("help", "--man", check=0).stdout

    def completion(self, *words):
        """The words bash completion offers after `zdag WORDS`."""
        script = self.zdag("help", "--completion", check=0).stdout
        line = " ".join(["zdag", *words])
        prog = (script + "\nCOMP_WORDS=(" + line + ")\nCOMP_CWORD=" + str(len(words)) +
                "\n_zdag\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
        p = subprocess.run(["bash", "-c", prog], cwd=self.dir, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        return set(p.stdout.split())

    def test_the_contract_options_are_in_help(self):
        for cmd, names in CONTRACT.items():
            listed = self.help_of(cmd)
            for name in names + ["help"]:
                self.assertIn(name, listed, f"zdag {cmd} --help omits --{name}")
        # The ones run --help used to leave out.
        run = self.help_of("run")
        for name in ("resume", "listen", "curve-secret", "authorized-keys", "insecure",
                     "heartbeat"):
            self.assertIn(name, run)

    def test_parser_accepts_every_listed_option_and_only_those(self):
        pipe = self.write("p.yaml", "nodes:\n  a: {cmd: 'true'}\n")
        values = {"priority": "user", "connect": "ipc:///nonexistent/zdag-test"}
        for cmd in COMMANDS:
            # map: usage errors exit 255 as GNU parallel's; ":::" with no argument after the
            # command (here the file) runs no job instead of reading stdin.
            usage, tail = (255, [":::"]) if cmd == "map" else (2, [])
            p = self.zdag(cmd, "--no-such-option", pipe, *tail, check=usage)
            self.assertIn(f'zdag {cmd}: unknown option "--no-such-option"', p.stderr)
            for name, (short, arg) in self.help_of(cmd).items():
                if name == "help" or (cmd == "worker" and name == "forever"):
                    continue
                value = [values.get(name, "1")] if arg else []
                # Whatever else it says (keygen wants a NAME, a worker --connect...), an option
                # it lists is one it knows.
                for spelling in [f"--{name}"] + ([f"-{short}"] if short else []):
                    p = self.zdag(cmd, spelling, *value, pipe, *tail, timeout=60)
                    self.assertNotIn("unknown option", p.stderr, (cmd, spelling, p.stderr))

    def test_man_page_lists_every_option(self):
        man = self.man()
        self.assertTrue(man.startswith(".TH ZDAG 1"), man[:80])
        for cmd in COMMANDS:
            self.assertIn(f".SS \"zdag {cmd} ", man)
            for name, (short, _) in self.help_of(cmd).items():
                self.assertIn("\\fB\\-\\-" + name.replace("-", "\\-") + "\\fR", man, name)
                if short:
                    self.assertIn(f"\\fB\\-{short}\\fR", man)
        # The build made the same page (installed to man1 by cmake --install).
        built = os.path.join(BUILD, "zdag.1")
        if os.path.exists(built):
            with open(built) as f:
                self.assertEqual(f.read(), man)
        p = subprocess.run(["man", "-l", "-"], input=man, capture_output=True, text=True,
                           env=dict(self.env, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))
        if p.returncode == 0:
            self.assertIn("--authorized-keys", p.stdout.replace("‐", "-"))

    def test_completion_offers_every_option(self):
        self.assertEqual(self.completion(""), set(COMMANDS) | {"--help", "--version"})
        for cmd in COMMANDS:
            opts = self.help_of(cmd)
            want = {f"--{n}" for n in opts} | {f"-{s}" for s, _ in opts.values() if s}
            self.assertEqual(self.completion(cmd, "-"), want, cmd)
        self.assertEqual(self.completion("run", "--priority", ""),
                         {"critical-path", "compound", "user"})
        self.assertEqual(self.completion("run", "--res"), {"--resume", "--results"})
        built = os.path.join(BUILD, "zdag.bash-completion")
        if os.path.exists(built):
            with open(built) as f:
                self.assertEqual(f.read(), self.zdag("help", "--completion", check=0).stdout)


if __name__ == "__main__":
    unittest.main()
