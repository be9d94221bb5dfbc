"""Replay: re-deliver the dead-letter queue (invoked by an operator once a sink works again).

The CLI's ``aispm replay`` on the SQS store, bounded by ``max_messages`` so one invocation ends well
within the function's timeout; run it again while ``remaining`` > 0.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aispm import startup_done
from aispm.lambdas.runtime import logger, tracer
from aispm.replay import replay
from aispm.settings import Settings
from aispm.sinks.delivery.deadletter import SqsDeadLetter

DEFAULT_MAX_MESSAGES = 1000


def queue_depth(store: SqsDeadLetter) -> int:
    attrs = store.client.get_queue_attributes(QueueUrl=store.queue_url,
                                              AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    env = Settings()
    if not env.dead_letter_queue_url:
        raise ValueError("AISPM_DEAD_LETTER_QUEUE_URL is not set")
    event = event or {}
    limit = int(event.get("max_messages") or DEFAULT_MAX_MESSAGES)
    store = SqsDeadLetter(env.dead_letter_queue_url, max_messages=limit)
    letters = store.read()
    out_dir = Path(tempfile.gettempdir()) / "aispm" / "replay"
    delivered, remaining_items = replay(store, list(dict.fromkeys(event.get("sinks") or [])), out_dir, letters)
    remaining = queue_depth(store)
    logger.info("dead letters replayed", extra={"received": len(letters), "delivered": delivered,
                                                "still_failing": len(remaining_items), "remaining": remaining})
    return {"received": len(letters), "delivered": delivered, "remaining": remaining}


startup_done()   # the init phase's imports are done (aispm/__init__.py)
