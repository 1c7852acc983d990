"""The benchmark runs end to end on a tiny catalogue and writes a report that reads back.
No figure is asserted: on a shared machine they say nothing about correctness."""

from __future__ import annotations

import json

from omnistock_bench.rows import BY_NAME
from omnistock_bench.runner import Bench, BenchConfig


async def test_every_row_runs_and_the_report_is_valid_json(omnistock_servers, tmp_path) -> None:
    database_url, nats_url = omnistock_servers
    config = BenchConfig(
        duration=0.5,
        warmup=0.2,
        concurrency=4,
        clients=2,
        skus=40,
        locations=4,
        sellout_units=20,
        max_lines=3,
        propagation_rate=20,
        output_dir=tmp_path,
        database_url=database_url or None,
        nats_url=nats_url or None,
    )
    report = await Bench(config).run()

    written = list(tmp_path.glob("*.json"))
    assert len(written) == 1
    loaded = json.loads(written[0].read_text())
    assert [row["name"] for row in loaded["rows"]] == list(BY_NAME)
    for row in loaded["rows"]:
        assert {"throughput", "p50_ms", "p95_ms", "p99_ms", "ratio_a", "ratio_b", "cpu", "limit"} <= row.keys()
        assert row["limit"]
    assert loaded["seed"]["invariant_violations_after_seed"] == 0
    checks = loaded["checks"]
    assert checks["oversold_units"] == 0
    assert checks["invariant_violation_count"] == 0, checks["invariant_violations"]
    rows = {row["name"]: row for row in loaded["rows"]}
    # The reference rows make their own calls: every one of them must have been answered.
    for name in ("ceiling-a", "ceiling-a-query", "ceiling-a-hop", "ceiling-a-stock"):
        assert rows[name]["ok"] > 0 and set(rows[name]["codes"]) <= {"OK"}, rows[name]["codes"]
    sellout = rows["sellout"]
    assert sellout["extra"]["units_granted"] <= config.sellout_units
    assert report["path"] == str(written[0])
