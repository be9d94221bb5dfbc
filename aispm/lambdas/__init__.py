"""AWS Lambda handlers of the deployed workflow (Plan, Collect, Deliver, Replay).

The shapes of their events and results are fixed by infra/README.md ("Contract for the handler code");
the work itself is the CLI's pipeline (``aispm.pipeline``), run one step per function.
"""
