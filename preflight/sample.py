"""The service's own settings and request body for a stack, built by the ``service`` package.

The doctor's first call must be the call the Lambda will make: validating the stack's model
settings with ``service.config`` and building the body with the service's adapter means a
catalogue or adapter mistake shows up before the deploy, not in the first user's request.
"""

from __future__ import annotations

from datetime import date

from preflight.stack import StackSettings
from service import config
from service.adapters import for_family
from service.catalogue import Catalogue
from service.config import Settings
from service.request import ImageRequest
from service.validation import parse_request

PROMPT = "a lighthouse at dusk, watercolor"
SEED = 1  # fixed and non-random: every catalogue model accepts it


def service_settings(stack: StackSettings, catalogue: Catalogue) -> Settings:
    """The Lambda's settings for this stack; raises ``ConfigError`` as the Lambda would."""
    env = {
        config.BUCKET: "unused-by-the-doctor",  # required by validation; nothing is stored
        config.REGION: stack.region,
        config.DEFAULT_MODEL: stack.default_model,
        config.ALLOWED_MODELS: ",".join(stack.allowed_models),
        config.ENABLED_RETIRED_MODELS: ",".join(stack.enabled_retired_models),
        # Empty means all of them to the service, as an unset allowedOperations does to infra.
        config.ALLOWED_OPERATIONS: ",".join(stack.allowed_operations),
    }
    return Settings.from_env(env, catalogue)


def request_for(
    name: str, settings: Settings, catalogue: Catalogue, today: date
) -> tuple[ImageRequest, dict]:
    """The validated one-image request for model ``name`` and the body the adapter sends;
    raises the service's ``ImageGenError`` when the service would refuse the request."""
    request = parse_request(
        {"prompt": PROMPT, "model": name, "seed": SEED}, settings, catalogue, today
    )
    return request, for_family(request.model.family).request_body(request, 1, SEED)
