"""tests/bench/syscalls.py: reading perf's counts and rendering the table."""
import unittest

import syscalls


class SyscallsTest(unittest.TestCase):
    def test_parse_perf_csv(self):
        text = ("# started on Thu Dec  3\n\n"
                "23762,,raw_syscalls:sys_enter,412542592,100.00,,\n"
                "10651,,syscalls:sys_enter_io_uring_enter,412542592,100.00,,\n"
                "<not supported>,,syscalls:sys_enter_epoll_pwait,0,100.00,,\n")
        self.assertEqual(syscalls.parse_perf(text),
                         {"raw_syscalls:sys_enter": 23762,
                          "syscalls:sys_enter_io_uring_enter": 10651})

    def test_render_rows_and_errors(self):
        results = {"time": "T", "seconds": 5, "command": "tests/bench/syscalls.py", "rows": [
            {"scenario": "hello-2w", "label": "uwsgi-fast", "requests": 1000,
             "per_request": {"syscalls": 1.5, "io_uring_enter": 0.5, "epoll_wait": 0.0}},
            {"scenario": "hello-2w", "label": "bjoern", "error": "not ready"}]}
        md = syscalls.render(results)
        self.assertIn("| hello-2w | uwsgi-fast | 1000 | 1.50 | 0.50 | 0.00 |", md)
        self.assertIn("| hello-2w | bjoern | - | not ready | | |", md)


if __name__ == "__main__":
    unittest.main()
