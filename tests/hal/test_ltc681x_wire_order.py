"""The driver's bytes against the protocol text itself (protocols.md 4.1), without the emulator."""

from __future__ import annotations

import math

from bmsgateway.hal.ltc681x import ConfigRegisters, LTC681xChain
from bmsgateway.hal.ltc681x.commands import RDCV, WRCFGA, WRCFGB, frame
from bmsgateway.hal.ltc681x.pec import append_pec, check_pec
from bmsgateway.hal.ltc681x.registers import encode_cfga


class Recorder:
    """A transport that records what it sends and answers with canned replies."""

    def __init__(self, replies: list[bytes] | None = None) -> None:
        self.sent: list[bytes] = []
        self.replies = replies or []
        self.woken: list[int] = []

    def transfer(self, tx: bytes) -> bytes:
        self.sent.append(tx)
        return self.replies.pop(0) if self.replies else b"\xff" * len(tx)

    def wakeup(self, chain_length: int) -> None:
        self.woken.append(chain_length)


def test_write_sends_the_top_board_first() -> None:
    rec = Recorder()
    chain = LTC681xChain(rec, ["LTC6811"] * 3)
    chain.set_discharge([0x001, 0x002, 0x004])
    (tx,) = rec.sent
    assert tx[:4] == frame(WRCFGA)
    slots = [tx[4 + 8 * i : 12 + 8 * i] for i in range(3)]
    assert all(check_pec(s) for s in slots)
    assert [s[4] for s in slots] == [0x04, 0x02, 0x01]  # DCC byte: board 2, 1, 0


def test_6813_in_chain_also_writes_cfgb() -> None:
    rec = Recorder()
    chain = LTC681xChain(rec, ["LTC6811", "LTC6813"])
    chain.set_discharge([0, 1 << 17])
    assert [tx[:4] for tx in rec.sent] == [frame(WRCFGA), frame(WRCFGB)]
    assert rec.sent[1][4 + 1] == 0b10  # first slot = top board (the LTC6813): DCC18


def test_read_assigns_the_first_slot_to_board_0() -> None:
    def group(c: int) -> bytes:
        return append_pec(c.to_bytes(2, "little") * 3)

    reply = b"\xff" * 4 + group(11_111) + group(22_222)
    rec = Recorder([reply] + [b"\xff" * 20] * 20)
    chain = LTC681xChain(rec, ["LTC6811", "LTC6811"], pec_retries=0)
    read = chain.read_cell_voltages()
    assert rec.sent[0] == frame(RDCV[0]) + b"\xff" * 16
    assert read.values[0][:3] == [1.1111] * 3 and read.values[1][:3] == [2.2222] * 3
    assert all(math.isnan(v) for v in read.values[0][3:])  # groups B-D got 0xFF: PEC fails
    assert read.ok == [False, False]


def test_short_reply_counts_as_failure() -> None:
    rec = Recorder([b"\x00"] * 10)
    chain = LTC681xChain(rec, ["LTC6811"], pec_retries=1)
    read = chain.read_config()
    assert read.ok == [False] and read.values == [None]
    assert chain.pec_errors == [2]


def test_wakeup_passes_the_chain_length() -> None:
    rec = Recorder()
    LTC681xChain(rec, ["LTC6811"] * 4).wakeup()
    assert rec.woken == [4]


def test_default_config_written_verbatim() -> None:
    rec = Recorder()
    chain = LTC681xChain(rec, ["LTC6811"])
    chain.write_config([ConfigRegisters(refon=True)])
    assert rec.sent[0][4:10] == encode_cfga(ConfigRegisters(refon=True))
