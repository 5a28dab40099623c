#!/bin/sh
# The image's entrypoint: run one Colony process by name, as PID 1 (exec), so that it gets
# SIGTERM directly and shuts down gracefully. Anything else is run as given
# (`docker run IMAGE colony audit`, `docker run IMAGE python -m infra.healthcheck payment`).
set -eu

usage="usage: IMAGE payment|wealth|credit|loan|insurance|gateway (or any command)"

if [ "$#" -eq 0 ]; then
    echo "$usage" >&2
    exit 64
fi

name="$1"
case "$name" in
    payment | wealth | credit | loan | insurance)
        shift
        exec python -m "services.$name" "$@"
        ;;
    gateway)
        shift
        exec python -m gateway "$@"
        ;;
    -h | --help | help)
        echo "$usage"
        exit 0
        ;;
    *)
        exec "$@"
        ;;
esac
