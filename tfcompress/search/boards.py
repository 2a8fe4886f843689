"""Board presets: the SRAM and flash of a few common microcontroller boards, as a budget.

``budget: {board: stm32f746}`` in a recipe (or ``Budget.from_config({"board": ...})``) bounds the TFLM arena by
the board's SRAM (``max_arena_bytes``) and the ``.tflite`` file by its flash (``max_bytes``); keys given beside
``board`` override the preset. These are the whole memories of the chip: the application, its stack and
TFLM's own code need some of both, so give smaller numbers when you know what they take.
"""

from tfcompress.errors import ConfigError

#: name -> memory in bytes, the core, and where the numbers come from (the vendors' datasheets).
BOARDS = {
    "stm32f746": {"ram_bytes": 320 * 1024, "flash_bytes": 1024 * 1024, "cpu": "Cortex-M7, 216 MHz",
                  "source": "ST STM32F746xx datasheet (STM32F746G-DISCO; the MCUNet setting)"},
    "stm32h743": {"ram_bytes": 1024 * 1024, "flash_bytes": 2 * 1024 * 1024, "cpu": "Cortex-M7, 480 MHz",
                  "source": "ST STM32H743xI datasheet (all SRAM domains together)"},
    "nrf52840": {"ram_bytes": 256 * 1024, "flash_bytes": 1024 * 1024, "cpu": "Cortex-M4F, 64 MHz",
                 "source": "Nordic nRF52840 product specification (Arduino Nano 33 BLE Sense)"},
    "rp2040": {"ram_bytes": 264 * 1024, "flash_bytes": 2 * 1024 * 1024, "cpu": "dual Cortex-M0+, 133 MHz",
               "source": "Raspberry Pi RP2040 datasheet; 2 MB QSPI flash of the Raspberry Pi Pico"},
    "apollo3": {"ram_bytes": 384 * 1024, "flash_bytes": 1024 * 1024, "cpu": "Cortex-M4F, 48/96 MHz",
                "source": "Ambiq Apollo3 Blue datasheet (SparkFun Edge)"},
}


def board_budget(name):
    """``{"max_bytes": flash, "max_arena_bytes": SRAM}`` of a board in ``BOARDS``.

    Raises:
        ConfigError: an unknown board (the message lists the known ones).
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in BOARDS:
        raise ConfigError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}. Or give max_bytes (flash) "
                          "and max_arena_bytes (RAM) yourself.")
    board = BOARDS[key]
    return {"max_bytes": board["flash_bytes"], "max_arena_bytes": board["ram_bytes"]}


__all__ = ["BOARDS", "board_budget"]
