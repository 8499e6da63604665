"""The state directory (issue 10): the journal stays bounded however many runs came before, and
nothing in the directory is readable by other users. On zdag 0.1 the journal grew by one run's
records every run (10 runs: 10x the size of one) and .zdag/ was 0755 with 0644 logs."""
import hashlib
import os
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402

# 40 nodes with 1,000-byte results: one run's records are over the compaction floor (32 KiB).
PIPE = "nodes:\n" + "".join(
    f"  n{i}: {{cmd: 'head -c 1000 /dev/zero | tr \"\\\\0\" {chr(97 + i % 26)}'}}\n"
    for i in range(40))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class StateDirTest(ZdagTestCase):
    def journal(self):
        return self.path(".zdag", "pipe.yaml.journal")

    def test_journal_size_after_ten_runs_is_bounded(self):
        self.run_pipeline(PIPE)
        one = os.path.getsize(self.journal())
        sizes = [one]
        for _ in range(9):
            self.run_pipeline(PIPE)
            sizes.append(os.path.getsize(self.journal()))
        self.assertLessEqual(sizes[-1], 1.5 * one, sizes)
        self.assertLessEqual(max(sizes), 2 * one + 8192, sizes)
        # The journal still answers --resume: every node is cached.
        _, report = self.run_pipeline(PIPE, "--resume")
        self.assertEqual({n["status"] for n in report["nodes"]}, {"cached"}, report["nodes"])
        self.assertFalse(os.path.exists(self.journal() + ".tmp"))

    def test_removed_nodes_leave_the_journal(self):
        for _ in range(3):
            self.run_pipeline(PIPE)
        big = os.path.getsize(self.journal())
        self.run_pipeline("nodes:\n  n0: {cmd: 'echo one'}\n")
        self.assertLess(os.path.getsize(self.journal()), big / 10)

    def test_permissions_of_a_new_state_dir(self):
        self.run_pipeline("nodes:\n  a: {cmd: 'echo secret'}\n")
        sd = self.path(".zdag")
        self.assertEqual(mode(sd), 0o700)
        self.assertEqual(mode(os.path.join(sd, "logs")), 0o700)
        self.assertEqual(mode(os.path.join(sd, "logs", "a.log")), 0o600)
        self.assertEqual(mode(self.journal()), 0o600)
        self.assertEqual(mode(os.path.join(sd, "lock")), 0o600)

    def test_an_old_state_dir_is_tightened(self):
        sd = self.path(".zdag")
        os.makedirs(os.path.join(sd, "logs"))
        os.chmod(sd, 0o755)
        os.chmod(os.path.join(sd, "logs"), 0o755)
        old_log = os.path.join(sd, "logs", "a.log")
        with open(old_log, "w") as f:
            f.write("old\n")
        os.chmod(old_log, 0o644)
        self.run_pipeline("nodes:\n  a: {cmd: 'echo secret'}\n")
        self.assertEqual(mode(sd), 0o700)
        self.assertEqual(mode(os.path.join(sd, "logs")), 0o700)
        self.assertEqual(mode(old_log), 0o600)
        with open(old_log) as f:
            self.assertEqual(f.read(), "secret\n")

    def test_results_no_record_refers_to_are_removed(self):
        store = self.path(".zdag", "results")
        names = []
        for ch in "XY":
            cmd = f"head -c 10000 /dev/zero | tr '\\\\0' {ch}"
            self.run_pipeline(f'nodes:\n  big: {{cmd: "{cmd}"}}\n')
            names.append(hashlib.sha256(ch.encode() * 10000).hexdigest())
            self.assertIn(names[-1], os.listdir(store))
        self.assertEqual(sorted(os.listdir(store)), [names[1]])  # X's result is gone
        self.assertEqual(mode(store), 0o700)  # its files are 0444: read-only, and private here
        _, report = self.run_pipeline(f'nodes:\n  big: {{cmd: "{cmd}"}}\n', "--resume")
        self.assertEqual(report["nodes"][0]["status"], "cached")


if __name__ == "__main__":
    unittest.main()
