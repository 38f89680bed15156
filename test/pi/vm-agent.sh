#!/bin/bash
# The test VM's agent (installed by vm-image.sh as piwire-vm-agent.service): runs the
# host's commands on the virtio serial port given as $1, one at a time.
#
# Protocol, one line each way: the host sends a command as base64 (so it may hold any
# byte and newlines); the agent runs it with bash as root, stdin empty, and answers
# "STATUS BASE64-OF-STDOUT-AND-STDERR". A command that never ends blocks the agent: the
# host bounds its wait and the VM is thrown away with the test.
#
# While no host is connected, reads on the port end at once (end of file): the agent
# then waits a little and opens the port again, so a host may connect, go and come back.
set -u
port="$1"
while :; do
  exec 3<>"$port" || { sleep 1; continue; }
  while IFS= read -r request <&3; do
    command="$(printf '%s' "$request" | base64 -d 2>/dev/null)" || command='echo "bad request"; exit 2'
    output="$(bash -c "$command" </dev/null 2>&1)"
    status=$?
    printf '%d %s\n' "$status" "$(printf '%s' "$output" | base64 -w 0)" >&3
  done
  exec 3>&-
  sleep 0.5
done
