"""The root config: one section per module, every default giving the simulated 16-cell LFP pack.

Why the defaults matter: ``Config()`` *is* the embedded default (simulated 16-cell LFP pack on two
LTC6811 boards, 100 ms cycle), so the daemon runs without any file; ``config/bmsgateway.toml``
spells the same values out and a test keeps the two equal.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from bmsgateway.config.base import Section
from bmsgateway.config.can import CanConfig
from bmsgateway.config.envelope import check_envelope
from bmsgateway.config.estimation import EstimationConfig, PersistenceConfig
from bmsgateway.config.hardware import HardwareConfig
from bmsgateway.config.history import HistoryConfig
from bmsgateway.config.http import HttpConfig
from bmsgateway.config.modbus import ModbusConfig
from bmsgateway.config.mqtt import MqttConfig
from bmsgateway.config.pack import CHIP_GPIOS, PackConfig
from bmsgateway.config.protection import ProtectionConfig, check_protection_against_pack
from bmsgateway.config.simulator import SimulatorConfig
from bmsgateway.config.system import LoggingConfig, SystemConfig

__all__ = ["Config"]


class Config(Section):
    """Everything the daemon reads from its TOML file."""

    system: SystemConfig = SystemConfig()
    logging: LoggingConfig = LoggingConfig()
    pack: PackConfig = PackConfig()
    hardware: HardwareConfig = HardwareConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    protection: ProtectionConfig = ProtectionConfig()
    estimation: EstimationConfig = EstimationConfig()
    persistence: PersistenceConfig = PersistenceConfig()
    modbus: ModbusConfig = ModbusConfig()
    history: HistoryConfig = HistoryConfig()
    http: HttpConfig = HttpConfig()
    can: CanConfig = CanConfig()
    mqtt: MqttConfig = MqttConfig()
    config_version: int = Field(1, ge=1, le=1)

    @model_validator(mode="after")
    def _cross_section(self) -> Self:
        cs = self.hardware.current_sensor
        if cs.board >= len(self.pack.boards):
            raise ValueError(
                f"hardware.current_sensor.board = {cs.board} but the chain has "
                f"{len(self.pack.boards)} boards (allowed 0..{len(self.pack.boards) - 1})"
            )
        board = self.pack.boards[cs.board]
        if cs.gpio <= board.thermistors:
            raise ValueError(
                f"hardware.current_sensor.gpio = {cs.gpio} is used by a thermistor of board {cs.board} "
                f"(thermistors occupy GPIO1..{board.thermistors})"
            )
        bv = self.hardware.bus_voltage
        if bv.enabled:
            if bv.board >= len(self.pack.boards):
                raise ValueError(
                    f"hardware.bus_voltage.board = {bv.board} but the chain has "
                    f"{len(self.pack.boards)} boards (allowed 0..{len(self.pack.boards) - 1})"
                )
            if bv.gpio <= self.pack.boards[bv.board].thermistors:
                raise ValueError(
                    f"hardware.bus_voltage.gpio = {bv.gpio} is used by a thermistor of board {bv.board}"
                )
            if (bv.board, bv.gpio) == (cs.board, cs.gpio):
                raise ValueError(
                    f"hardware.bus_voltage.gpio = {bv.gpio} on board {bv.board} is the current sensor's input"
                )
        self._check_current_inputs()
        lim = self.pack.limits
        check_protection_against_pack(self.protection, lim.vmin_v, lim.vmax_v)
        check_envelope(self)
        return self

    def _check_current_inputs(self) -> None:
        """The optional current inputs (second sensor, low-range outputs): a board of the chain, a
        GPIO the chip has, no thermistor's and no other input's."""
        hw = self.hardware
        cs, ccs, bv = hw.current_sensor, hw.consumer_current_sensor, hw.bus_voltage
        taken: dict[tuple[int, int], str] = {(cs.board, cs.gpio): "hardware.current_sensor.gpio"}
        if bv.enabled:
            taken[(bv.board, bv.gpio)] = "hardware.bus_voltage.gpio"
        wanted: list[tuple[str, int, int]] = []
        if cs.low_range_used():
            wanted.append(("hardware.current_sensor.low_range_gpio", cs.board, cs.low_range_gpio))
        if ccs.enabled:
            wanted.append(("hardware.consumer_current_sensor.gpio", ccs.board, ccs.gpio))
            if ccs.low_range_used():
                wanted.append(("hardware.consumer_current_sensor.low_range_gpio", ccs.board, ccs.low_range_gpio))
        n = len(self.pack.boards)
        for key, board, gpio in wanted:
            if board >= n:
                raise ValueError(f"{key.rsplit('.', 1)[0]}.board = {board} but the chain has {n} boards "
                                 f"(allowed 0..{n - 1})")
            b = self.pack.boards[board]
            if gpio > CHIP_GPIOS[b.chip]:
                raise ValueError(f"{key} = {gpio}: an {b.chip} has GPIO1..{CHIP_GPIOS[b.chip]}")
            if gpio <= b.thermistors:
                raise ValueError(f"{key} = {gpio} is used by a thermistor of board {board} "
                                 f"(thermistors occupy GPIO1..{b.thermistors})")
            if (board, gpio) in taken:
                raise ValueError(f"{key} = {gpio} on board {board} is already {taken[(board, gpio)]}")
            taken[(board, gpio)] = key
