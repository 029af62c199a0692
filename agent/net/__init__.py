"""The network self-test's building blocks: pure parsers and codecs, and the I/O around them.

    links        /sys/class/net: which interfaces are up with carrier
    addresses    /proc/net/if_inet6 parsing (scope, tentative/deprecated/dadfailed)
    route        the source address and interface the kernel picks towards a host
    resolve      AAAA/A lookups, timed
    tcp          timed TCP connects with the cause of a failure in words
    sip          SIP OPTIONS request and response codec, UDP/TCP transport
    icmp         ICMPv6 echo over a raw socket
    stamp        RFC 8762 session-sender: packet codec, statistics, the session
    bandwidth    HTTP goodput with parallel streams
    iperf3       the iperf3 client and its JSON output
    figures      the heartbeat's ``network`` object from the check results

Every function takes addresses and ports as arguments; checks in
``agent/checks/`` turn the outcomes into results.
"""
