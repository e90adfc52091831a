"""The OpenAI Images API shape over the same flow: ``/v1/images/generations``,
``/v1/images/edits`` (multipart) and ``/v1/models``, so OpenAI clients (the ``openai`` SDKs,
Open WebUI, LiteLLM) work with a base URL of ``<api>/v1``.

Each request is translated into the service's own request, runs through the same ``Generator``,
and its ``Outcome`` is shaped into OpenAI's answer; errors keep the service's statuses and codes
in OpenAI's error shape. docs/openai.md lists every field and how it maps.
"""
