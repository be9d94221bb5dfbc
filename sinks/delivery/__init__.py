"""Delivery bookkeeping: reconcile against the lifecycle state, the state stores and the dead-letter stores."""
