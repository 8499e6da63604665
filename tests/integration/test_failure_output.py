"""A failed node's output is shown at once: its name, the error, its log's path and the last
20 lines of its log, on stderr, before the run ends (also with -k)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402


class FailureOutputTest(ZdagTestCase):
    def test_tail_of_the_log_before_the_run_ends(self):
        go = self.path("go")
        text = f"""
nodes:
  cc_net_3: {{cmd: 'for i in $(seq 1 30); do echo "net.c:$i: error: oops"; done; exit 1'}}
  other: {{cmd: 't=0; while [ ! -e {go} ]; do t=$((t+1)); [ $t -gt 3000 ] && exit 9; sleep 0.02; done'}}
"""
        pipe = self.write("pipe.yaml", text)
        p = self.start("run", pipe, "-k", "-q")
        seen = []
        try:
            # The lines come while `other` still waits for us: the run has not ended.
            for line in p.stderr:
                seen.append(line.rstrip("\n"))
                if line.startswith("zdag:   | net.c:30:"):
                    break
            self.assertIsNone(p.poll(), "the run ended before the failure was shown")
        finally:
            open(go, "w").close()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        head = [s for s in seen if "cc_net_3" in s]
        self.assertTrue(head, seen)
        self.assertIn('node "cc_net_3" failed: exited with status 1 (log: ', head[0])
        self.assertIn("logs/cc_net_3.log)", head[0])
        tail = [s for s in seen if s.startswith("zdag:   | ")]
        self.assertEqual(tail, [f"zdag:   | net.c:{i}: error: oops" for i in range(11, 31)])


if __name__ == "__main__":
    unittest.main()
