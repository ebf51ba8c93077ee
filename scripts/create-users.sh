#!/bin/sh
# Create the Unix users of the local-privsep site (role jaws -> jaws, role jtm -> jaws_jtm),
# each with its own group, and jaws_other: another local user, the attacker of
# tests/test_security.py. Idempotent: existing users are left as they are. Needs root.
set -eu
if [ "$(id -u)" != 0 ]; then
    echo "create-users.sh: must run as root (try: sudo $0)" >&2
    exit 1
fi
for user in jaws jaws_jtm jaws_other; do
    if getent passwd "$user" >/dev/null; then
        echo "user $user exists"
    else
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$user"
        echo "user $user created"
    fi
done
