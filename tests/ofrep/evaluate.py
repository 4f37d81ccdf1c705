"""Evaluates flags through OpenFeature's Python SDK and its OFREP provider, as a
service in another language would: the client side of tests/tests/ofrep.rs.

Reads {"url": ..., "cases": [{"flag", "type", "default", "context"}]} on stdin; prints
one answer per case: {"value", "variant", "reason", "error"}.
"""

import json
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext


def main() -> None:
    request = json.load(sys.stdin)
    api.set_provider(OFREPProvider(base_url=request["url"]))
    client = api.get_client()
    resolve = {
        "boolean": client.get_boolean_details,
        "string": client.get_string_details,
        "integer": client.get_integer_details,
        "float": client.get_float_details,
        "object": client.get_object_details,
    }
    answers = []
    for case in request["cases"]:
        attributes = dict(case["context"])
        context = EvaluationContext(
            targeting_key=attributes.pop("targetingKey", None), attributes=attributes
        )
        details = resolve[case["type"]](case["flag"], case["default"], context)
        answers.append(
            {
                "value": details.value,
                "variant": details.variant,
                "reason": getattr(details.reason, "value", details.reason),
                "error": getattr(details.error_code, "value", details.error_code),
            }
        )
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
