"""zdag keygen NAME: the two key files, their modes and formats, and refusals."""
import os
import re
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from zdagtest import ZdagTestCase  # noqa: E402

Z85 = r"[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class KeygenTest(ZdagTestCase):
    def test_writes_key_pair(self):
        p = self.zdag("keygen", "worker1", check=0)
        self.assertEqual(p.stdout, "worker1.key\nworker1.pub\n")
        self.assertEqual(p.stderr, "")
        key, pub = self.path("worker1.key"), self.path("worker1.pub")
        self.assertEqual(mode(key), 0o600)
        self.assertEqual(mode(pub), 0o644)
        with open(key) as f:
            key_text = f.read()
        with open(pub) as f:
            pub_text = f.read()
        m = re.fullmatch(f"public: ({Z85})\nsecret: ({Z85})\n", key_text)
        self.assertIsNotNone(m, key_text)
        self.assertEqual(pub_text, m.group(1) + "\n")
        self.assertNotEqual(m.group(1), m.group(2))

    def test_modes_do_not_follow_umask(self):
        old = os.umask(0o077)
        try:
            self.zdag("keygen", "a", check=0)
        finally:
            os.umask(old)
        os.umask(0)
        try:
            self.zdag("keygen", "b", check=0)
        finally:
            os.umask(old)
        for name in ("a", "b"):
            self.assertEqual(mode(self.path(name + ".key")), 0o600)
            self.assertEqual(mode(self.path(name + ".pub")), 0o644)

    def test_path_and_distinct_pairs(self):
        os.mkdir(self.path("keys"))
        self.zdag("keygen", "keys/w1", check=0)
        self.zdag("keygen", os.path.join(self.dir, "keys", "w2"), check=0)
        with open(self.path("keys", "w1.pub")) as f1, open(self.path("keys", "w2.pub")) as f2:
            self.assertNotEqual(f1.read(), f2.read())

    def test_refuses_to_overwrite(self):
        self.zdag("keygen", "w", check=0)
        with open(self.path("w.key")) as f:
            before = f.read()
        p = self.zdag("keygen", "w", check=2)
        self.assertIn("already exists", p.stderr)
        self.assertEqual(p.stdout, "")
        with open(self.path("w.key")) as f:
            self.assertEqual(f.read(), before)
        # Either half existing is enough to refuse, and nothing new is left behind.
        self.write("only.pub", "mine\n")
        p = self.zdag("keygen", "only", check=2)
        self.assertIn("only.pub", p.stderr)
        self.assertFalse(os.path.exists(self.path("only.key")))
        self.write("half.key", "mine\n")
        p = self.zdag("keygen", "half", check=2)
        self.assertIn("half.key", p.stderr)
        self.assertFalse(os.path.exists(self.path("half.pub")))
        with open(self.path("half.key")) as f:
            self.assertEqual(f.read(), "mine\n")

    def test_usage_errors(self):
        self.assertIn("usage: zdag keygen NAME", self.zdag("keygen", check=2).stderr)
        self.zdag("keygen", "a", "b", check=2)
        self.zdag("keygen", "", check=2)
        self.zdag("keygen", "--bits", check=2)
        self.zdag("keygen", "dir/", check=2)
        self.assertEqual(os.listdir(self.dir), ["tmp"])
        self.assertIn("NAME.pub", self.zdag("keygen", "--help", check=0).stdout)
        self.assertIn("NAME.key", self.zdag("help", "keygen", check=0).stdout)
        self.assertIn("keygen NAME", self.zdag("help", check=0).stdout)

    def test_unwritable_directory_exits_3(self):
        p = self.zdag("keygen", "no/such/dir/w", check=3)
        self.assertIn("no/such/dir/w.key", p.stderr)


if __name__ == "__main__":
    unittest.main()
