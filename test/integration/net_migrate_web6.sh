#!/bin/bash
# net_migrate_web6: the seed scenario (net_migrate_web.sh) over IPv6: the
# hosts' and the service's addresses in fd00::/64, the client's keep-alive
# connection to [fd00::10]:8080, the address announced by an unsolicited
# neighbour advertisement.
NET_FAMILY=6 exec bash "$(dirname "$0")/net_migrate_web.sh" "$@"
