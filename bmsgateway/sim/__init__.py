"""The simulated battery: equivalent-circuit cells, thermal model, scenarios, outputs, faults.

``PackSimulator`` is the analog front end behind the LTC681x chip emulator, the ``DigitalIO`` of
the contactors and relays and the ``BusVoltageSensor`` of the DC link, all in one object because
on real hardware they share one physical pack.
"""

from bmsgateway.sim.faults import FaultInjector, Injection, parse_injection
from bmsgateway.sim.pack import PackSimulator
from bmsgateway.sim.scenario import Scenario, make_scenario

__all__ = ["FaultInjector", "Injection", "PackSimulator", "Scenario", "make_scenario", "parse_injection"]
