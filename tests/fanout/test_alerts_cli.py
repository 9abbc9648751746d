"""`facewatch alerts test --site S` against the local stack: the site's real routes (the Slack
app's channel for the site, the alerts topic with the site attribute) and what Slack answered."""

from __future__ import annotations

import pytest

from facewatch.fleet.inventory import Camera, Inventory, Site
from facewatch_tools.cli import main
from facewatch_tools.local.stack import LocalStack

pytestmark = pytest.mark.integration


def test_a_marked_test_alert_goes_through_the_sites_routes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalStack(slack_routes=["seoul-hq", "seoul"]) as stack:
        stack.load_registry(
            Inventory(
                sites=[
                    # Its alerts go to the "seoul" route's channel, as the notifier sends them.
                    Site(id="seoul-hq", name="Seoul HQ", slack_route="seoul"),
                    Site(id="berlin", name="Berlin"),
                ],
                cameras=[Camera(id="cam-1", site="seoul-hq", display_name="Door")],
            )
        )
        stack.subscribe_phones(["+821055501234"], {"site": ["seoul-hq"]})
        stack.subscribe_phones(["+4915550100"], {"site": ["berlin"]})
        # what `sam deploy` of a local stack would hold: the Slack API at the local sink
        lam = stack.client("lambda")
        name = stack.deployed.outputs["SlackNotifierFunctionArn"]
        env = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        lam.update_function_configuration(
            FunctionName=name,
            Environment={
                "Variables": {
                    **{k: str(v) for k, v in env.items()},
                    "SLACK_API_URL": stack.slack.api_url,
                }
            },
        )
        for key, value in stack.endpoint.env().items():  # the local account's credentials
            monkeypatch.setenv(key, value)
        outputs = stack.deployed.outputs
        target = [
            "--endpoint-url",
            stack.endpoint.url,
            "--slack-function",
            outputs["SlackNotifierFunctionArn"],
            "--sms-function",
            outputs["SmsNotifierFunctionArn"],
            "--table",
            outputs["TableName"],
        ]
        assert (
            main(["alerts", "test", "--site", "seoul-hq", *target, "--region", stack.region]) == 0
        )
        out = capsys.readouterr().out
        (message,) = stack.slack.top_level()
        assert message.channel == stack.slack_channel("seoul")  # the site's route, not its id
        assert f"channel {message.channel}, ts {message.ts}" in out  # Slack's answer
        assert message.current.text().startswith("[TEST] Unknown face at Seoul HQ")
        texts = stack.sms_messages()
        assert [phone for phone, _ in texts] == ["+821055501234"]  # the site's phone only
        assert texts[0][1].startswith("TEST Unknown face: Seoul HQ / facewatch test")
        assert "SNS message" in out
        # A site the registry does not hold has no routes to test: said, nothing sent.
        args = ["alerts", "test", "--site", "lisbon", *target, "--region", stack.region]
        assert main(args) != 0
        assert "site lisbon is not in the registry" in capsys.readouterr().err
        assert len(stack.slack.top_level()) == 1 and len(stack.sms_messages()) == 1
