#!/bin/sh
# Create the Unix users of the local-privsep site (role jaws -> jaws, role jtm -> jaws_jtm),
# each with its own group, and jaws_other: another local user, the attacker of
# tests/test_security.py. jaws is also a member of group jaws_jtm, as JAWS sets its users up
# (JGI-Bioinformatics/jaws test/integration/define-env: the jaws user belongs to the jaws and
# jtm groups, the jtm user to the jtm group only): a deployment run as jaws, without root,
# gives jaws_jtm its files through that group (pytest_jaws/host/perms.py). Idempotent: existing
# users are left as they are, the membership is added when missing. Needs root.
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
if id -nG jaws | tr ' ' '\n' | grep -qx jaws_jtm; then
    echo "user jaws is in group jaws_jtm"
else
    usermod -a -G jaws_jtm jaws
    echo "user jaws added to group jaws_jtm"
fi
