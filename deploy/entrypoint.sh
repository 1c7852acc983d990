#!/bin/sh
# What an Omnistock container runs, chosen by its command:
#   inventory | reservations | orders | fulfilment | insights | webhooks   serve that service (gRPC)
#   migrate                                          apply every schema's migrations, then exit
#   anything else                                    run as given (python -m pytest ..., sh, ...)
# exec, so the process gets SIGTERM directly and drains before it exits.
set -eu

usage() {
    echo "usage: inventory | reservations | orders | fulfilment | insights | webhooks | migrate | <command> [args...]" >&2
}

if [ "$#" -eq 0 ]; then
    usage
    exit 64
fi

command="$1"
shift
case "$command" in
    inventory) exec python -m omnistock_inventory.entrypoints.main "$@" ;;
    reservations) exec python -m omnistock_reservations.entrypoints.main "$@" ;;
    orders) exec python -m omnistock_orders.entrypoints.main "$@" ;;
    fulfilment) exec python -m omnistock_fulfilment.entrypoints.main "$@" ;;
    insights) exec python -m omnistock_insights.entrypoints.main "$@" ;;
    webhooks) exec python -m omnistock_webhooks.entrypoints.main "$@" ;;
    migrate) exec omnistock migrate "$@" ;;
    help | -h | --help)
        usage
        exit 0
        ;;
    *) exec "$command" "$@" ;;
esac
