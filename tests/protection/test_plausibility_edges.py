"""Plausibility verdicts at their edges, through protection's fault table: which cells are named
implausible when some are missing."""

from __future__ import annotations

from tests.protection.conftest import NAN, Rig


def test_a_missing_cell_is_not_named_implausible_next_to_one_that_is() -> None:
    rig = Rig()
    rig.run(0.5)
    st = rig.run(1.0, cells=[3.30] * 14 + [NAN, 6.0])
    locations = sorted(a.location for a in st.active if a.condition == "cell_voltage_implausible")
    assert locations == [15]
