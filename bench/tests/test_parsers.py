"""Parsers against real output captured on the bench machine (tests/fixtures/).

Run: python3 -m unittest discover -s bench/tests -v
"""
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ringbench import parsers  # noqa: E402


def fixture(name):
    return (HERE / "fixtures" / name).read_text()


class WrkTest(unittest.TestCase):
    def test_small_keepalive(self):
        r = parsers.wrk(fixture("wrk_small_nginx.txt"))
        self.assertEqual(r["requests"], 91989)
        self.assertAlmostEqual(r["req_s"], 45920.96)
        self.assertAlmostEqual(r["seconds"], 2.00)
        self.assertAlmostEqual(r["p50"], 1.27)
        self.assertAlmostEqual(r["p75"], 1.54)
        self.assertAlmostEqual(r["p90"], 1.74)
        self.assertAlmostEqual(r["p99"], 2.21)
        self.assertAlmostEqual(r["bytes"], 30.88 * 1024**2)
        self.assertEqual(r["errors"], 0)

    def test_microsecond_percentiles_and_gigabytes(self):
        r = parsers.wrk(fixture("wrk_64k_direct.txt"))
        self.assertEqual(r["requests"], 60519)
        self.assertAlmostEqual(r["bytes_s"], 1.85 * 1024**3)
        self.assertAlmostEqual(r["p50"], 1.49)
        self.assertAlmostEqual(r["p99"], 2.22)

    def test_connection_close(self):
        r = parsers.wrk(fixture("wrk_close_haproxy.txt"))
        self.assertEqual(r["requests"], 32863)
        self.assertAlmostEqual(r["req_s"], 16355.84)
        self.assertAlmostEqual(r["seconds"], 2.01)

    def test_non_2xx_counts_as_errors(self):
        r = parsers.wrk(fixture("wrk_non2xx.txt"))
        self.assertEqual(r["non_2xx"], 56480)
        self.assertEqual(r["errors"], 56480)
        self.assertAlmostEqual(r["p50"], 1.33)

    def test_microseconds_unit(self):
        text = fixture("wrk_small_nginx.txt").replace("     50%    1.27ms", "     50%  780.00us")
        self.assertAlmostEqual(parsers.wrk(text)["p50"], 0.78)

    def test_without_latency_flag_fails(self):
        text = fixture("wrk_small_nginx.txt").split("  Latency Distribution")[0]
        with self.assertRaises(parsers.ParseError):
            parsers.wrk(text)

    def test_garbage_fails(self):
        with self.assertRaises(parsers.ParseError):
            parsers.wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


class H2loadTest(unittest.TestCase):
    def test_tls_keepalive(self):
        r = parsers.h2load(fixture("h2load_tls_ka_nginx.txt"))
        self.assertAlmostEqual(r["req_s"], 36923.00)
        self.assertAlmostEqual(r["seconds"], 2.01)
        self.assertEqual(r["requests"], 73846)
        self.assertEqual(r["errors"], 0)
        self.assertAlmostEqual(r["bytes_s"], 12.39 * 1024**2)
        self.assertAlmostEqual(r["req_mean_ms"], 1.71)
        self.assertAlmostEqual(r["req_min_ms"], 0.751)
        self.assertEqual(r["tls"]["protocol"], "TLSv1.3")
        self.assertEqual(r["tls"]["cipher"], "TLS_AES_128_GCM_SHA256")
        self.assertIn("prime256v1", r["tls"]["temp_key"])

    def test_failures_are_counted(self):
        text = fixture("h2load_tls_ka_nginx.txt").replace(
            "73846 succeeded, 0 failed, 0 errored, 0 timeout",
            "73800 succeeded, 40 failed, 6 errored, 0 timeout")
        r = parsers.h2load(text)
        self.assertEqual(r["requests"], 73800)
        self.assertEqual(r["errors"], 46)

    def test_missing_summary_fails(self):
        with self.assertRaises(parsers.ParseError):
            parsers.h2load(fixture("h2load_tls_ka_nginx.txt").split("finished in")[0])


class Iperf3Test(unittest.TestCase):
    def test_one_stream(self):
        r = parsers.iperf3(fixture("iperf3_1stream_nginx.json"))
        self.assertEqual(r["streams"], 1)
        self.assertAlmostEqual(r["bits_s"] / 1e9, 11.228227, places=5)
        self.assertEqual(r["bytes"], 2812272352)
        self.assertAlmostEqual(r["seconds"], 2.003716, places=5)
        self.assertEqual(r["retransmits"], 254)

    def test_eight_streams(self):
        r = parsers.iperf3(fixture("iperf3_8streams_haproxy.json"))
        self.assertEqual(r["streams"], 8)
        self.assertAlmostEqual(r["bits_s"] / 1e9, 7.280613, places=5)
        self.assertEqual(r["bytes"], 1820710314)

    def test_error_document_fails(self):
        with self.assertRaises(parsers.ParseError):
            parsers.iperf3('{"start": {}, "intervals": [], "end": {}, '
                           '"error": "unable to connect to server: Connection refused"}')

    def test_not_json_fails(self):
        with self.assertRaises(parsers.ParseError):
            parsers.iperf3("iperf3: error - unable to connect to server")


class PerfStatTest(unittest.TestCase):
    def test_human_format(self):
        r = parsers.perf_stat(fixture("perf_stat_nginx.txt"))
        self.assertEqual(r["count"], 299908)
        self.assertAlmostEqual(r["seconds"], 2.262692406)

    def test_csv_format(self):
        self.assertEqual(parsers.perf_stat(fixture("perf_stat_csv_haproxy.txt"))["count"], 242704)

    def test_not_counted_is_zero(self):
        self.assertEqual(parsers.perf_stat(fixture("perf_stat_idle.txt"))["count"], 0)

    def test_thousands_separators(self):
        text = fixture("perf_stat_nginx.txt").replace("299908", "299,908")
        self.assertEqual(parsers.perf_stat(text)["count"], 299908)

    def test_other_event_fails(self):
        with self.assertRaises(parsers.ParseError):
            parsers.perf_stat(fixture("perf_stat_nginx.txt"), event="cycles")


class STimeTest(unittest.TestCase):
    def test_full_handshakes(self):
        r = parsers.s_time(fixture("s_time_new_nginx.txt"))
        self.assertEqual(r["connections"], 995)
        self.assertEqual(r["full"], 995)
        self.assertEqual(r["resumed"], 0)

    def test_resumed_handshakes(self):
        r = parsers.s_time(fixture("s_time_reuse_nginx.txt"))
        self.assertEqual(r["connections"], 1567)
        self.assertEqual(r["resumed"], 1567)

    def test_missing_summary_fails(self):
        with self.assertRaises(parsers.ParseError):
            parsers.s_time("connect: Connection refused\n")


if __name__ == "__main__":
    unittest.main()
