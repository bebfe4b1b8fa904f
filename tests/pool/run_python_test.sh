#!/bin/bash
# Runs a Python end-to-end test with Debian's interpreter: $1 is the script,
# the rest are its arguments (tool paths).
exec /usr/bin/python3 -B "$@"
