"""The ``bridge-agent run`` service: schedule checks, build heartbeats, deliver them.

Modules, each small and testable alone:

- ``sdnotify``   the systemd notification datagram (READY, WATCHDOG, STATUS)
- ``logfmt``     one key=value line per event on stderr, never a secret
- ``fsutil``     durable writes: temp file, fsync, rename, fsync the directory
- ``seqstore``   the heartbeat stream: instance id and a sequence number that only increases
- ``spool``      durable, bounded, ordered queue of heartbeats on disk
- ``backoff``    exponential backoff with jitter for retries
- ``delivery``   the HTTPS client that posts one heartbeat and classifies the answer
- ``sender``     the thread draining the spool in order
- ``heartbeat``  the heartbeat document (collector/schema/heartbeat-v1.schema.json)
- ``schedule``   which checks are due now, and what is deferred during a meeting
- ``state``      the state file read by ``bridge-agent status``
- ``reload``     configuration file watching and reload
- ``service``    the main loop tying them together
"""
