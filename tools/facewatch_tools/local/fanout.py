"""Local mode for the fan-out: what moto's CloudFormation leaves out.

moto does not create ``AWS::SecretsManager::Secret`` from a template, so the local stack creates
the two fan-out secrets itself (same names as the template) and passes their ARNs to the
notifiers, whose environment otherwise comes from the template.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from facewatch_tools.template import resource

SECRETS = {
    "SlackWebhookSecret": "SLACK_WEBHOOK_SECRET_ARN",  # pragma: allowlist secret
    "ClipLinkKeySecret": "CLIP_LINK_KEY_SECRET_ARN",  # pragma: allowlist secret
}


def secret_name(logical_id: str, environment: str) -> str:
    name = resource(logical_id)["Properties"]["Name"]["Fn::Sub"]
    return str(name).replace("${Environment}", environment)


def create_local_secrets(
    secretsmanager: Any, environment: str, webhooks: Mapping[str, str]
) -> dict[str, str]:
    """Create the webhook secret (``webhooks``: route -> URL, e.g. a local capture server) and a
    random link-signing key; return the environment variables that point at them."""
    values = {
        "SlackWebhookSecret": json.dumps(dict(webhooks)),
        "ClipLinkKeySecret": secrets.token_urlsafe(48),
    }
    env: dict[str, str] = {}
    for logical_id, variable in SECRETS.items():
        name = secret_name(logical_id, environment)
        try:
            arn = secretsmanager.create_secret(Name=name, SecretString=values[logical_id])["ARN"]
        except secretsmanager.exceptions.ResourceExistsException:
            secretsmanager.put_secret_value(SecretId=name, SecretString=values[logical_id])
            arn = secretsmanager.describe_secret(SecretId=name)["ARN"]
        env[variable] = arn
    return env
