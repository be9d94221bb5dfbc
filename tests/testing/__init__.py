"""Tests of the local fakes themselves (the fakes live in ``aispm.testing``)."""
