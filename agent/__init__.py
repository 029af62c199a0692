"""bridge-room agent: keeps a meeting room's equipment and network path to the MCU honest.

The package is split by failure domain: ``config`` (one typed configuration),
``checks`` (one small check per module, listed in one registry), ``commands``
(one module per ``bridge-agent`` subcommand) and ``output`` (human and JSON
rendering shared by every subcommand).
"""

__version__ = "0.3.0"
