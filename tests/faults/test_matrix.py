"""The fault matrix's cases (see tests/faults/matrix.py and tests/faults/playing.py)."""

from tests.faults.playing import matrix_test

test_a_rerun_finishes_with_every_invariant_held = matrix_test()
