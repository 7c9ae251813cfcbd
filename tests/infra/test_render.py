"""The committed monitoring template is exactly a fresh rendering of dashboards.py."""

from __future__ import annotations

import json

from infra import render
from observability import dashboards
from tests.support.cloudformation import resources_of_type


def test_committed_monitoring_template_equals_a_fresh_rendering() -> None:
    assert render.TEMPLATE_PATH.read_text() == render.render_text(), (
        "infra/cloudformation/monitoring.yaml is stale: run python -m infra.render"
    )
    assert render.main(["--check"]) == 0


def test_check_fails_on_a_stale_template(tmp_path, monkeypatch) -> None:
    stale = tmp_path / "monitoring.yaml"
    stale.write_text(render.render_text().replace("RequestCount", "RequestCnt"))
    monkeypatch.setattr(render, "TEMPLATE_PATH", stale)
    assert render.main(["--check"]) == 1


def test_every_alarm_of_the_definition_notifies_the_topic(templates) -> None:
    alarms = resources_of_type(templates["monitoring"], "AWS::CloudWatch::Alarm")
    assert set(alarms) == {f"{alarm.key}Alarm" for alarm in dashboards.ALARMS}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    topic = resources_of_type(templates["monitoring"], "AWS::SNS::Topic")["AlarmTopic"]
    assert "KmsMasterKeyId" in topic["Properties"]


def test_dashboard_names_only_metrics_the_code_emits(templates) -> None:
    (dashboard,) = resources_of_type(templates["monitoring"], "AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    ours = {
        line[1]
        for widget in body["widgets"]
        for line in widget["properties"]["metrics"]
        if line and line[0] == "${MetricsNamespace}"
    }
    assert ours <= dashboards.metric_names_used()
    assert set(dashboards.SCALING_METRICS.values()) <= ours
    declared = set(templates["monitoring"]["Parameters"])
    assert set(dashboards.ALARM_PARAMETERS) - {"AlarmTopicArn"} <= declared
