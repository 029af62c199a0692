"""bridge-room collector: the control centre's side of the meeting-room network.

Heartbeat API, offline detection, dashboard, metrics, and the test responder
(``collector.probe``) that rooms measure their path against.
"""

__version__ = "0.3.0"
