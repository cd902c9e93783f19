#!/usr/bin/env bash
# maillab.sh: a throw-away local mail lab (Dovecot 2.3 + Postfix 3.7) for vardval-agent tests.
#
# Everything (configs, certificates, queues, mailboxes, logs) lives under one directory DIR.
# Daemons listen on 127.0.0.1 only. Needs root (it creates the vmail user and starts daemons
# that drop privileges); as root it also apt-installs whatever packages are missing.
#
# Usage: maillab.sh COMMAND DIR [ARGS]
#   up DIR                         install missing packages, write configs, start both daemons (idempotent)
#   down DIR                       stop both daemons; leaves no process behind
#   status DIR                     show what runs; exit 0 only when both daemons run
#   selftest DIR                   end-to-end checks over IMAP/SMTP/LMTP; prints "N passed, 0 failed" and
#                                  removes its own messages again (clinic side: selftest@vc.test, kontakt@selftest.vc.test)
#   deliver DIR FILE.eml [RCPT [MAILBOX]]   doveadm save (no headers added, INTERNALDATE = now)
#   lmtp DIR FILE.eml [RCPT]       deliver over LMTP (127.0.0.1:LMTP port); Dovecot adds Return-Path/Received
#   smtp DIR FILE.eml [RCPT]       deliver through Postfix on the plain SMTP port (no AUTH), like a clinic would
#   append DIR FILE.eml "DD-Mon-YYYY HH:MM:SS +ZZZZ" [RCPT]   IMAP APPEND with a chosen INTERNALDATE
#   restart-imap DIR               stop and start Dovecot only (simulates an IMAP server restart)
#   stop-smtp DIR / start-smtp DIR stop / start Postfix only (SMTP outage tests)
#   env DIR                        print MAILLAB_* variables (ports, CA file, users) for test harnesses
#   clean DIR                      down, then remove DIR
# RCPT defaults to vardval@rjl.test.
#
# Ports (override with env vars at `up`; later commands read them back from DIR/maillab.env). The
# defaults allow one lab per machine; a second lab needs its own five ports:
#   MAILLAB_IMAP_PORT=10143        IMAP, STARTTLS offered, LOGIN/PLAIN also without TLS
#   MAILLAB_IMAPS_PORT=10993       IMAP over implicit TLS
#   MAILLAB_LMTP_PORT=10024        Dovecot LMTP (no recipient check)
#   MAILLAB_SMTP_PORT=10025        Postfix SMTP, no AUTH; accepts the rjl.test users below and any *@vc.test / *@*.vc.test
#   MAILLAB_SUBMISSION_PORT=10587  Postfix submission, AUTH required (PLAIN LOGIN XOAUTH2 OAUTHBEARER); relays to rjl.test and vc.test only
#
# Profiles (MAILLAB_PROFILE at `up`, recorded in DIR/maillab.env):
#   default       personal namespace without prefix, separator "/", MOVE offered
#   inbox-prefix  personal folders under "INBOX." with "." as separator (Courier/Cyrus style)
#                 and WITHOUT the MOVE capability; run it in its own DIR on its own ports
#                 (tests/run.sh uses 11143/11993/11024/11025/11587) beside the default lab.
#
# Users:  vardval@rjl.test / vardval-pass (OAuth2 bearer token: vardval-token)  <- the shared mailbox
#         granskare@rjl.test / granskare-pass (granskare-token)
#         ekonomi@rjl.test / ekonomi-pass (ekonomi-token)
#         any <name>@vc.test or <name>@<sub>.vc.test / clinic-pass
# TLS:    DIR/certs/ca.crt verifies the server as 127.0.0.1, localhost, mail.rjl.test, imap.rjl.test, smtp.rjl.test.
#
# Configuration facts and pitfalls: see the mail-lab notes (Dovecot+Postfix without systemd).
set -euo pipefail
umask 022

PROG=$(basename "$0")
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }

PACKAGES=(dovecot-core dovecot-imapd dovecot-lmtpd postfix swaks libnet-ssleay-perl openssl python3)
USERS_RJL=(vardval granskare ekonomi)

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit "${1:-2}"; }

# ---------------------------------------------------------------------------------------------
# paths and ports

setup_paths() {
  [ -n "${1:-}" ] || die "missing DIR"
  case "$1" in /*) DIR=$1 ;; *) DIR=$PWD/$1 ;; esac
  DIR=${DIR%/}
  # normalise without requiring existence
  DIR=$(cd / && readlink -m -- "$DIR")
  [ "$DIR" != "/" ] || die "refusing DIR=/"
  case "$DIR" in *[[:space:]]*) die "DIR must not contain whitespace (it ends up in Dovecot/Postfix configs): $DIR" ;; esac
  DC_CONF=$DIR/dovecot/dovecot.conf
  DC_PID=$DIR/run/dovecot/master.pid
  PF_CONF=$DIR/postfix
  PF_PID=$DIR/spool/postfix/pid/master.pid
  ENV_FILE=$DIR/maillab.env
  # Port precedence: an explicit MAILLAB_*_PORT variable, then the ports `up` recorded in
  # DIR/maillab.env, then the defaults.
  local e_imap=${MAILLAB_IMAP_PORT-} e_imaps=${MAILLAB_IMAPS_PORT-} e_lmtp=${MAILLAB_LMTP_PORT-}
  local e_smtp=${MAILLAB_SMTP_PORT-} e_sub=${MAILLAB_SUBMISSION_PORT-}
  local f_imap= f_imaps= f_lmtp= f_smtp= f_sub=
  if [ -f "$ENV_FILE" ]; then
    f_imap=$(sed -n 's/^MAILLAB_IMAP_PORT=//p' "$ENV_FILE")
    f_imaps=$(sed -n 's/^MAILLAB_IMAPS_PORT=//p' "$ENV_FILE")
    f_lmtp=$(sed -n 's/^MAILLAB_LMTP_PORT=//p' "$ENV_FILE")
    f_smtp=$(sed -n 's/^MAILLAB_SMTP_PORT=//p' "$ENV_FILE")
    f_sub=$(sed -n 's/^MAILLAB_SUBMISSION_PORT=//p' "$ENV_FILE")
  fi
  IMAP_PORT=${e_imap:-${f_imap:-10143}}
  IMAPS_PORT=${e_imaps:-${f_imaps:-10993}}
  LMTP_PORT=${e_lmtp:-${f_lmtp:-10024}}
  SMTP_PORT=${e_smtp:-${f_smtp:-10025}}
  SUBMISSION_PORT=${e_sub:-${f_sub:-10587}}
  local p
  for p in "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT" "$SMTP_PORT" "$SUBMISSION_PORT"; do
    case "$p" in ''|*[!0-9]*) die "bad port number: '$p'" ;; esac
  done
  ALL_PORTS=("$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT" "$SMTP_PORT" "$SUBMISSION_PORT")
  local f_profile=
  [ -f "$ENV_FILE" ] && f_profile=$(sed -n 's/^MAILLAB_PROFILE=//p' "$ENV_FILE")
  PROFILE=${MAILLAB_PROFILE:-${f_profile:-default}}
  case "$PROFILE" in default|inbox-prefix) ;; *) die "unknown MAILLAB_PROFILE: $PROFILE (default or inbox-prefix)" ;; esac
}

# ---------------------------------------------------------------------------------------------
# process helpers (only pids from our own pid files, and their children)

pid_alive() { # PID -> 0 when the process exists and is not a zombie (init here may reap late)
  local line
  [ -n "${1:-}" ] || return 1
  { IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  line=${line##*) }
  [ "${line%% *}" != Z ]
}

read_pid() { # FILE -> pid if the file exists and the process lives
  local f=$1 p
  [ -f "$f" ] || return 1
  p=$(tr -dc '0-9' <"$f" 2>/dev/null || true)
  pid_alive "$p" || return 1
  printf '%s\n' "$p"
}

dovecot_pid() {
  local p
  p=$(read_pid "$DC_PID") || return 1
  # guard against pid reuse: the process must be a dovecot master using our config
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$DC_CONF" || return 1
  printf '%s\n' "$p"
}

postfix_pid() {
  local p
  p=$(read_pid "$PF_PID") || return 1
  grep -q 'master' "/proc/$p/comm" 2>/dev/null || return 1
  printf '%s\n' "$p"
}

children_of() { # PID -> direct children pids (pure bash: procps may be absent)
  local pp=$1 st line rest
  for st in /proc/[0-9]*/stat; do
    { IFS= read -r line <"$st"; } 2>/dev/null || continue
    rest=${line##*) }          # after the comm field, which may contain spaces
    rest=${rest#* }            # drop the state field; ppid comes next
    if [ "${rest%% *}" = "$pp" ]; then
      st=${st#/proc/}; printf '%s\n' "${st%/stat}"
    fi
  done
}

wait_gone() { # MILLISECONDS PID... -> 0 when all are gone (exited or zombie)
  local left=$1 p alive; shift
  while :; do
    alive=0
    for p in "$@"; do pid_alive "$p" && { alive=1; break; }; done
    [ $alive = 0 ] && return 0
    [ "$left" -le 0 ] && return 1
    sleep 0.05; left=$((left - 50))
  done
}

kill_tree() { # NAME PID [graceful-command...]: stop PID and the children it had, and wait
  local name=$1 pid=$2; shift 2
  local kids
  kids=$(children_of "$pid" | tr '\n' ' ')
  if [ $# -gt 0 ]; then "$@" </dev/null >>"$DIR/log/$name-stop.log" 2>&1 || true; fi
  pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone 10000 "$pid"; then
    say "$name master $pid did not stop within 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone 5000 "$pid" || die "$name master $pid survives SIGKILL"
  fi
  # Children normally exit with the master. Dovecot's auth/log/stats processes linger while
  # clients (e.g. Postfix smtpd on the SASL socket) stay connected: end them too.
  # shellcheck disable=SC2086
  if [ -n "$kids" ] && ! wait_gone 300 $kids; then
    # shellcheck disable=SC2086
    kill -TERM $kids 2>/dev/null || true
    # shellcheck disable=SC2086
    if ! wait_gone 3000 $kids; then
      # shellcheck disable=SC2086
      kill -KILL $kids 2>/dev/null || true
      # shellcheck disable=SC2086
      wait_gone 5000 $kids || die "$name processes survive SIGKILL: $kids"
    fi
  fi
}

port_open() { # PORT -> 0 when something accepts a TCP connection on 127.0.0.1:PORT
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

port_banner() { # PORT -> 0 when the port answers with a greeting line starting with PREFIX
  local port=$1 prefix=$2 line
  line=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; IFS= read -r l <&3; printf '%s' \"\$l\"" 2>/dev/null) || return 1
  case "$line" in "$prefix"*) return 0 ;; *) return 1 ;; esac
}

wait_ports() { # SECONDS -> waits until every port answers
  local limit=$1 end p ok
  end=$((SECONDS + limit))
  while :; do
    ok=1
    port_banner "$IMAP_PORT" '* OK' || ok=0
    [ $ok = 1 ] && { port_open "$IMAPS_PORT" || ok=0; }
    [ $ok = 1 ] && { port_banner "$LMTP_PORT" '220' || ok=0; }
    [ $ok = 1 ] && { port_banner "$SMTP_PORT" '220' || ok=0; }
    [ $ok = 1 ] && { port_banner "$SUBMISSION_PORT" '220' || ok=0; }
    [ $ok = 1 ] && return 0
    if [ $SECONDS -ge $end ]; then
      for p in "${ALL_PORTS[@]}"; do port_open "$p" || say "port $p does not answer"; done
      return 1
    fi
    sleep 0.1
  done
}

wait_dovecot_ports() {
  local end=$((SECONDS + ${1:-20}))
  until port_banner "$IMAP_PORT" '* OK' && port_open "$IMAPS_PORT" && port_banner "$LMTP_PORT" '220'; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.05
  done
}

wait_postfix_ports() {
  local end=$((SECONDS + ${1:-20}))
  until port_banner "$SMTP_PORT" '220' && port_banner "$SUBMISSION_PORT" '220'; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.05
  done
}

log_tail() { # FILE: print the end of a log, never failing (pitfall: set -e in error handlers)
  [ -f "$1" ] && { echo "--- tail $1" >&2; tail -n 25 "$1" >&2 || true; }
  return 0
}

# ---------------------------------------------------------------------------------------------
# installation

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

ensure_packages() {
  local missing=() p
  if ! command -v dpkg-query >/dev/null 2>&1; then
    for p in dovecot postfix doveadm openssl python3; do
      command -v "$p" >/dev/null 2>&1 || die "$p not found and this is not a Debian system: install Dovecot 2.3, Postfix, openssl and python3"
    done
    return 0
  fi
  for p in "${PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); run as root to install them, or: apt-get install ${missing[*]}"
  say "installing: ${missing[*]}"
  local t0=$SECONDS created_policy=0 rc=0
  export DEBIAN_FRONTEND=noninteractive
  # pitfall 1: no debconf prompt; "No configuration" leaves /etc/postfix/main.cf absent, which is fine
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string mail.rjl.test" | debconf-set-selections
  # pitfall 2: keep postinst from starting the system-wide daemons (ports 25/143/993)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    created_policy=1
    # shellcheck disable=SC2064
    trap "rm -f /usr/sbin/policy-rc.d" EXIT
  fi
  # pitfall 4: wait for another apt/dpkg process instead of failing at once
  apt-get -o DPkg::Lock::Timeout=600 -q update </dev/null >"${APT_LOG:-/dev/stderr}" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then say "apt-get update failed (rc=$rc); trying the install with the lists already present"; fi
  rc=0
  apt-get -o DPkg::Lock::Timeout=600 -q -y --no-install-recommends install "${missing[@]}" </dev/null >"${APT_LOG:-/dev/stderr}" 2>&1 || rc=$?
  if [ $created_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  [ $rc -eq 0 ] || die "apt-get install ${missing[*]} failed (rc=$rc)"
  say "packages installed in $((SECONDS - t0)) s"
  # postinst must not have left system daemons running on our behalf; we never touch them.
}

ensure_vmail() {
  if ! getent passwd vmail >/dev/null; then
    [ "$(id -u)" = 0 ] || die "user vmail is missing; run as root"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vmail
  fi
  VMAIL_UID=$(id -u vmail)
  VMAIL_GID=$(id -g vmail)
  getent passwd dovenull >/dev/null || die "user dovenull missing (dovecot-core postinst creates it)"
  getent passwd postfix >/dev/null || die "user postfix missing (postfix postinst creates it)"
}

# ---------------------------------------------------------------------------------------------
# certificates

make_certs() {
  local c=$DIR/certs
  mkdir -p "$c"
  if [ -s "$c/ca.crt" ] && [ -s "$c/server.key" ] && [ -s "$c/server-chain.crt" ] &&
     openssl verify -CAfile "$c/ca.crt" "$c/server.crt" >/dev/null 2>&1; then
    return 0   # keep existing certs: clients may hold the CA already
  fi
  (
    cd "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout ca.key -out ca.crt -subj "/O=maillab test CA/CN=maillab test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr \
      -subj "/O=maillab/CN=localhost" >/dev/null 2>&1
    cat >server.ext <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,DNS:mail.rjl.test,DNS:imap.rjl.test,DNS:smtp.rjl.test,IP:127.0.0.1
EOF
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
      -extfile server.ext -out server.crt >/dev/null 2>&1
    cat server.crt ca.crt >server-chain.crt
    rm -f server.csr server.ext ca.srl
    chmod 0600 ca.key server.key
    chmod 0644 ca.crt server.crt server-chain.crt
  ) || die "openssl failed to create the certificates in $c"
}

# ---------------------------------------------------------------------------------------------
# configuration

write_env() {
  cat >"$ENV_FILE" <<EOF
# written by maillab.sh up; sourced by the other commands
MAILLAB_DIR=$DIR
MAILLAB_HOST=127.0.0.1
MAILLAB_IMAP_PORT=$IMAP_PORT
MAILLAB_IMAPS_PORT=$IMAPS_PORT
MAILLAB_LMTP_PORT=$LMTP_PORT
MAILLAB_SMTP_PORT=$SMTP_PORT
MAILLAB_SUBMISSION_PORT=$SUBMISSION_PORT
MAILLAB_CA_FILE=$DIR/certs/ca.crt
MAILLAB_USER=vardval@rjl.test
MAILLAB_PASSWORD=vardval-pass
MAILLAB_OAUTH_TOKEN=vardval-token
MAILLAB_CLINIC_PASSWORD=clinic-pass
MAILLAB_PROFILE=$PROFILE
EOF
}

# The personal namespace of the chosen profile.
dovecot_profile_conf() {
  case "$PROFILE" in
    default) printf '  separator = /\n' ;;
    inbox-prefix) printf '  prefix = INBOX.\n  separator = .\n' ;;
  esac
}

# The capability list of the chosen profile (default: Dovecot's own).
dovecot_capability_conf() {
  [ "$PROFILE" = inbox-prefix ] || return 0
  # Dovecot 2.3's own post-login list without MOVE: a server that only has COPY.
  echo "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY SPECIAL-USE"
}

write_dovecot_conf() {
  local d=$DIR/dovecot u
  mkdir -p "$d"
  : >"$d/users.tmp"; : >"$d/tokens.tmp"
  for u in "${USERS_RJL[@]}"; do
    printf '%s@rjl.test:{PLAIN}%s-pass::::::\n' "$u" "$u" >>"$d/users.tmp"
    printf '%s@rjl.test:{PLAIN}%s-token::::::\n' "$u" "$u" >>"$d/tokens.tmp"
  done
  mv "$d/users.tmp" "$d/users"; mv "$d/tokens.tmp" "$d/tokens"
  chmod 0644 "$d/users" "$d/tokens"
  cat >"$DC_CONF.tmp" <<EOF
# written by maillab.sh; self-contained (/etc/dovecot is not read)
instance_name = maillab
hostname = mail.rjl.test
base_dir = $DIR/run/dovecot
state_dir = $DIR/state/dovecot
protocols = imap lmtp
listen = 127.0.0.1
log_path = $DIR/log/dovecot.log
info_log_path = $DIR/log/dovecot.log
debug_log_path = $DIR/log/dovecot.log

ssl = yes
ssl_cert = <$DIR/certs/server-chain.crt
ssl_key = <$DIR/certs/server.key
ssl_min_protocol = TLSv1.2

disable_plaintext_auth = no
auth_failure_delay = 0 secs
login_trusted_networks = 127.0.0.0/8
auth_mechanisms = plain login xoauth2 oauthbearer
auth_username_format = %Lu

mail_uid = $VMAIL_UID
mail_gid = $VMAIL_GID
first_valid_uid = $VMAIL_UID
last_valid_uid = $VMAIL_UID
first_valid_gid = $VMAIL_GID
last_valid_gid = $VMAIL_GID
mail_location = maildir:~/Maildir
default_login_user = dovenull
default_internal_user = dovecot

# OAuth2 bearer tokens: Dovecot hands the token to the passdb like a plain password,
# so a passwd-file restricted to the oauth mechanisms is a static token check.
passdb {
  driver = passwd-file
  mechanisms = xoauth2 oauthbearer
  args = $d/tokens
}
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = $d/users
}
# every clinic address (vc.test and its subdomains) shares one password
passdb {
  driver = static
  mechanisms = plain login
  username_filter = *@vc.test *@*.vc.test
  args = password=clinic-pass
}
userdb {
  driver = passwd-file
  args = $d/users
  default_fields = home=$DIR/mail/%d/%n
}
# catch-all; Postfix decides who may receive over SMTP
userdb {
  driver = static
  args = home=$DIR/mail/%d/%n allow_all_users=yes
}

namespace inbox {
  inbox = yes
$(dovecot_profile_conf)
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}
mailbox_idle_check_interval = 1 secs
$(dovecot_capability_conf)

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
# mode 0 disables the per-IP auth penalty (a wrong password would stall later logins 4-15 s)
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
EOF
  mv "$DC_CONF.tmp" "$DC_CONF"
}

write_postfix_conf() {
  local p=$PF_CONF
  mkdir -p "$p"
  cat >"$p/vmailbox" <<'EOF'
vardval@rjl.test OK
granskare@rjl.test OK
ekonomi@rjl.test OK
@vc.test OK
EOF
  # clinics may use subdomains (kontakt@bjorkdalen.vc.test); a regexp table is built into Postfix
  cat >"$p/vmailbox.regexp" <<'EOF'
/^[^@]+@([a-z0-9-]+\.)*vc\.test$/ OK
EOF
  cat >"$p/vdomains.regexp" <<'EOF'
/^([a-z0-9-]+\.)*vc\.test$/ OK
EOF
  cat >"$p/main.cf" <<EOF
# written by maillab.sh; use with postfix -c $p
compatibility_level = 3.6
queue_directory = $DIR/spool/postfix
data_directory = $DIR/state/postfix
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $DIR/log/postfix.log
maillog_file_prefixes = $DIR/log
myhostname = mail.rjl.test
mydomain = rjl.test
myorigin = rjl.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 local delivery disabled in maillab
relayhost =
relay_domains =
default_transport = error:5.7.1 maillab delivers only to rjl.test and vc.test
virtual_mailbox_domains = rjl.test, vc.test, regexp:$p/vdomains.regexp
virtual_mailbox_maps = texthash:$p/vmailbox, regexp:$p/vmailbox.regexp
virtual_transport = lmtp:unix:$DIR/run/dovecot/lmtp
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient
smtputf8_enable = yes
smtpd_tls_cert_file = $DIR/certs/server-chain.crt
smtpd_tls_key_file = $DIR/certs/server.key
smtpd_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DIR/run/dovecot/auth-postfix
smtpd_sasl_auth_enable = no
smtpd_banner = \$myhostname ESMTP maillab
biff = no
readme_directory = no
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s
message_size_limit = 52428800
EOF
  # every service with chroot = n: chroot would hide the absolute socket paths under DIR
  cat >"$p/master.cf" <<EOF
# written by maillab.sh
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
  -o syslog_name=maillab-postfix/smtp
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=maillab-postfix/submission
  -o smtpd_tls_security_level=may
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=no
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=reject_unauth_destination
  -o smtpd_recipient_restrictions=
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

make_dirs() {
  mkdir -p "$DIR"/{certs,dovecot,postfix,run/dovecot,state/dovecot,state/postfix,spool/postfix,log,mail}
  # pitfall 14: DIR and its parents must be traversable by dovenull, vmail and postfix
  chmod 0755 "$DIR" "$DIR"/{certs,dovecot,postfix,run,state,spool,log}
  local d=$DIR mode
  while [ "$d" != "/" ]; do
    d=$(dirname "$d")
    mode=$(stat -c '%a' "$d")
    if [ $(( 8#$mode & 1 )) -eq 0 ]; then
      say "warning: $d is not traversable by others; dovenull/vmail/postfix may fail to reach $DIR"
    fi
  done
  chown "$VMAIL_UID:$VMAIL_GID" "$DIR/mail"
  chmod 0770 "$DIR/mail"
  chown postfix: "$DIR/state/postfix"
  touch "$DIR/log/dovecot.log" "$DIR/log/postfix.log"
}

# ---------------------------------------------------------------------------------------------
# start / stop

start_dovecot() {
  if dovecot_pid >/dev/null; then return 0; fi
  rm -f "$DC_PID"
  dovecot -c "$DC_CONF" </dev/null >>"$DIR/log/dovecot-start.log" 2>&1 || {
    log_tail "$DIR/log/dovecot-start.log"; log_tail "$DIR/log/dovecot.log"
    die "dovecot failed to start"
  }
  wait_dovecot_ports 20 || {
    log_tail "$DIR/log/dovecot-start.log"; log_tail "$DIR/log/dovecot.log"
    die "dovecot started but its ports ($IMAP_PORT $IMAPS_PORT $LMTP_PORT) do not answer"
  }
}

stop_dovecot() {
  local p
  p=$(dovecot_pid) || { rm -f "$DC_PID"; return 0; }
  kill_tree dovecot "$p"
  rm -f "$DC_PID"
}

start_postfix() {
  if postfix_pid >/dev/null; then return 0; fi
  # `postfix start` runs the same integrity checks as `postfix check` (and creates the queue
  # directories with the right owners); only on failure run `postfix check` for the diagnosis.
  if ! postfix -c "$PF_CONF" start </dev/null >>"$DIR/log/postfix-start.log" 2>&1; then
    # pitfall 6: without syslog, fatal messages only show on a tty
    postfix -c "$PF_CONF" check </dev/null >"$DIR/log/postfix-check.log" 2>&1 || true
    if command -v script >/dev/null; then
      script -qc "postfix -c '$PF_CONF' check" /dev/null </dev/null >>"$DIR/log/postfix-check.log" 2>&1 || true
    fi
    log_tail "$DIR/log/postfix-start.log"; log_tail "$DIR/log/postfix-check.log"; log_tail "$DIR/log/postfix.log"
    die "postfix failed to start"
  fi
  wait_postfix_ports 20 || {
    log_tail "$DIR/log/postfix-start.log"; log_tail "$DIR/log/postfix.log"
    die "postfix started but its ports ($SMTP_PORT $SUBMISSION_PORT) do not answer"
  }
}

stop_postfix() {
  local p
  p=$(postfix_pid) || return 0
  kill_tree postfix "$p" postfix -c "$PF_CONF" stop
}

check_ports_free() { # the ports of the daemon(s) we are about to start must be free
  local p busy=()
  for p in "$@"; do port_open "$p" && busy+=("$p"); done
  [ ${#busy[@]} -eq 0 ] && return 0
  die "port(s) ${busy[*]} on 127.0.0.1 already in use (another maillab DIR running? ports are per machine: stop it, or set MAILLAB_*_PORT)"
}

# ---------------------------------------------------------------------------------------------
# commands

cmd_up() {
  local t0=$SECONDS dc=0 pf=0
  dovecot_pid >/dev/null 2>&1 && dc=1
  postfix_pid >/dev/null 2>&1 && pf=1
  if [ $dc = 1 ] && [ $pf = 1 ]; then
    say "already running in $DIR (dovecot $(dovecot_pid), postfix $(postfix_pid))"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "up must run as root"
  ensure_packages
  ensure_vmail
  [ $dc = 0 ] && check_ports_free "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT"
  [ $pf = 0 ] && check_ports_free "$SMTP_PORT" "$SUBMISSION_PORT"
  make_dirs
  make_certs
  write_env
  [ $dc = 0 ] && write_dovecot_conf
  [ $pf = 0 ] && write_postfix_conf
  start_dovecot
  start_postfix
  wait_ports 20 || die "not every port answers; logs in $DIR/log"
  say "up in $((SECONDS - t0)) s: IMAP $IMAP_PORT, IMAPS $IMAPS_PORT, LMTP $LMTP_PORT, SMTP $SMTP_PORT, submission $SUBMISSION_PORT; CA $DIR/certs/ca.crt"
}

cmd_down() {
  stop_postfix
  stop_dovecot
  local p left=()
  for p in "${ALL_PORTS[@]}"; do port_open "$p" && left+=("$p"); done
  [ ${#left[@]} -eq 0 ] || say "warning: port(s) ${left[*]} still answer (not ours?)"
  say "down: $DIR"
}

cmd_status() {
  local rc=0 p
  if p=$(dovecot_pid); then echo "dovecot: running (pid $p)"; else echo "dovecot: stopped"; rc=1; fi
  if p=$(postfix_pid); then echo "postfix: running (pid $p)"; else echo "postfix: stopped"; rc=1; fi
  for p in IMAP:$IMAP_PORT IMAPS:$IMAPS_PORT LMTP:$LMTP_PORT SMTP:$SMTP_PORT SUBMISSION:$SUBMISSION_PORT; do
    if port_open "${p#*:}"; then echo "${p%%:*} 127.0.0.1:${p#*:}: open"; else echo "${p%%:*} 127.0.0.1:${p#*:}: closed"; fi
  done
  return $rc
}

cmd_env() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE missing: run up first"
  grep -v '^#' "$ENV_FILE"
}

cmd_clean() {
  if [ -d "$DIR" ]; then
    cmd_down
    rm -rf -- "$DIR"
  fi
  say "removed $DIR"
}

need_running_dovecot() { dovecot_pid >/dev/null || die "dovecot is not running in $DIR (run up)"; }

cmd_deliver() {
  local file=${1:-} rcpt=${2:-vardval@rjl.test} mbox=${3:-INBOX}
  [ -f "$file" ] || die "deliver: no such file: $file"
  need_running_dovecot
  doveadm -c "$DC_CONF" save -u "$rcpt" -m "$mbox" <"$file"
}

run_py() { # script on stdin, args after
  command -v python3 >/dev/null || die "python3 not found"
  MAILLAB_DIR=$DIR MAILLAB_IMAP_PORT=$IMAP_PORT MAILLAB_IMAPS_PORT=$IMAPS_PORT \
  MAILLAB_LMTP_PORT=$LMTP_PORT MAILLAB_SMTP_PORT=$SMTP_PORT MAILLAB_SUBMISSION_PORT=$SUBMISSION_PORT \
    python3 - "$@"
}

cmd_lmtp() {
  local file=${1:-} rcpt=${2:-vardval@rjl.test}
  [ -f "$file" ] || die "lmtp: no such file: $file"
  need_running_dovecot
  run_py "$file" "$rcpt" <<'PY'
import os, re, smtplib, sys
path, rcpt = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
raw = re.sub(rb"\r?\n", b"\r\n", raw)
sender = os.environ.get("MAILLAB_SENDER", "maillab@rjl.test")
with smtplib.LMTP("127.0.0.1", int(os.environ["MAILLAB_LMTP_PORT"])) as s:
    s.ehlo("maillab")
    opts = ["BODY=8BITMIME"] if s.has_extn("8bitmime") else []
    refused = s.sendmail(sender, [rcpt], raw, mail_options=opts)
    if refused:
        sys.exit("lmtp refused: %r" % refused)
PY
}

cmd_smtp() {
  local file=${1:-} rcpt=${2:-vardval@rjl.test}
  [ -f "$file" ] || die "smtp: no such file: $file"
  postfix_pid >/dev/null || die "postfix is not running in $DIR (run up or start-smtp)"
  run_py "$file" "$rcpt" <<'PY'
import os, re, smtplib, sys
path, rcpt = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
raw = re.sub(rb"\r?\n", b"\r\n", raw)
sender = os.environ.get("MAILLAB_SENDER", "maillab@vc.test")
with smtplib.SMTP("127.0.0.1", int(os.environ["MAILLAB_SMTP_PORT"])) as s:
    s.ehlo("maillab-client")
    opts = ["BODY=8BITMIME"] if s.has_extn("8bitmime") else []
    s.sendmail(sender, [rcpt], raw, mail_options=opts)
PY
}

cmd_append() {
  local file=${1:-} date=${2:-} rcpt=${3:-vardval@rjl.test}
  [ -f "$file" ] || die "append: no such file: $file"
  [ -n "$date" ] || die 'append: need a date like "15-Feb-2026 23:59:30 +0100"'
  need_running_dovecot
  local pw=clinic-pass
  case "$rcpt" in *@rjl.test) pw=${rcpt%@rjl.test}-pass ;; esac
  run_py "$file" "$date" "$rcpt" "$pw" <<'PY'
import imaplib, os, sys
path, date, user, pw = sys.argv[1:5]
raw = open(path, "rb").read()
M = imaplib.IMAP4("127.0.0.1", int(os.environ["MAILLAB_IMAP_PORT"]))
M.login(user, pw)
typ, data = M.append("INBOX", None, '"%s"' % date.strip('"'), raw)
if typ != "OK":
    sys.exit("append failed: %r" % data)
M.logout()
PY
}

cmd_restart_imap() {
  [ -f "$DC_CONF" ] || die "$DC_CONF missing: run up first"
  stop_dovecot
  start_dovecot
  say "dovecot restarted (pid $(dovecot_pid))"
}

cmd_stop_smtp() { stop_postfix; say "postfix stopped"; }

cmd_start_smtp() {
  [ -f "$PF_CONF/main.cf" ] || die "$PF_CONF/main.cf missing: run up first"
  dovecot_pid >/dev/null || say "warning: dovecot is not running; Postfix will queue mail and SASL will fail"
  start_postfix
  say "postfix started (pid $(postfix_pid))"
}

cmd_selftest() {
  need_running_dovecot
  postfix_pid >/dev/null || die "postfix is not running in $DIR"
  run_py <<'PY'
import base64, imaplib, os, re, smtplib, socket, ssl, subprocess, sys, time, uuid

DIR = os.environ["MAILLAB_DIR"]
H = "127.0.0.1"
IMAP, IMAPS = int(os.environ["MAILLAB_IMAP_PORT"]), int(os.environ["MAILLAB_IMAPS_PORT"])
LMTP, SMTP, SUB = (int(os.environ[k]) for k in ("MAILLAB_LMTP_PORT", "MAILLAB_SMTP_PORT", "MAILLAB_SUBMISSION_PORT"))
CA = os.path.join(DIR, "certs", "ca.crt")
USER, PW, TOKEN = "vardval@rjl.test", "vardval-pass", "vardval-token"
RUN = "selftest-" + uuid.uuid4().hex[:10]   # every message subject carries it; removed again at the end
CLINIC1, CLINIC2 = "selftest@vc.test", "kontakt@selftest.vc.test"   # never a fixture clinic's mailbox
passed = failed = 0

def check(name):
    def deco(fn):
        global passed, failed
        t0 = time.monotonic()
        try:
            note = fn()
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %-68s %s: %s" % (name, type(e).__name__, e), flush=True)
        else:
            passed += 1
            print("ok   %-68s %5.0f ms%s" % (name, (time.monotonic() - t0) * 1000, "  (%s)" % note if note else ""), flush=True)
        return fn
    return deco

def ctx():
    return ssl.create_default_context(cafile=CA)

def imap_login(user=USER, pw=PW):
    M = imaplib.IMAP4(H, IMAP)
    M.login(user, pw)
    return M

def msg(subject, frm="klinik@vc.test", to=USER, body="Hej!\r\n"):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@maillab.test>\r\n"
            "Date: Mon, 02 Feb 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s"
            % (frm, to, subject, uuid.uuid4().hex, body)).encode()

def wait_subject(M, subject, mailbox="INBOX", timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        M.select(mailbox)
        typ, d = M.uid("SEARCH", None, "HEADER", "Subject", subject)
        if typ == "OK" and d[0].split():
            return d[0].split()
        if time.monotonic() > end:
            raise AssertionError("no message with subject %r in %s after %.0f s" % (subject, mailbox, timeout))
        time.sleep(0.1)

def xoauth2(user, token):
    return ("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode()

@check("IMAP LOGIN with password (plaintext, port %d)" % IMAP)
def _():
    M = imap_login(); typ, _ = M.select("INBOX"); assert typ == "OK"; M.logout()

@check("IMAP STARTTLS, certificate verified against ca.crt")
def _():
    M = imaplib.IMAP4(H, IMAP)
    assert "STARTTLS" in M.capabilities, M.capabilities
    M.starttls(ssl_context=ctx()); M.login(USER, PW)
    assert M.sock.version() in ("TLSv1.2", "TLSv1.3"); M.logout()

@check("IMAPS (port %d) verified as localhost and 127.0.0.1" % IMAPS)
def _():
    for host in ("localhost", "127.0.0.1"):
        M = imaplib.IMAP4_SSL(host, IMAPS, ssl_context=ctx()); M.login(USER, PW); M.logout()

@check("TLS verification fails without the lab CA")
def _():
    try:
        imaplib.IMAP4_SSL(H, IMAPS, ssl_context=ssl.create_default_context()).logout()
    except ssl.SSLCertVerificationError:
        return
    raise AssertionError("server certificate accepted without ca.crt")

@check("IMAP AUTHENTICATE XOAUTH2 with bearer token")
def _():
    M = imaplib.IMAP4(H, IMAP); M.starttls(ssl_context=ctx())
    typ, _ = M.authenticate("XOAUTH2", lambda _: xoauth2(USER, TOKEN)); assert typ == "OK"; M.logout()

@check("IMAP AUTHENTICATE OAUTHBEARER with bearer token")
def _():
    M = imaplib.IMAP4(H, IMAP)
    s = "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (USER, H, IMAP, TOKEN)
    typ, _ = M.authenticate("OAUTHBEARER", lambda _: s.encode()); assert typ == "OK"; M.logout()

@check("wrong password and wrong token refused; next login immediate")
def _():
    M = imaplib.IMAP4(H, IMAP)
    try:
        M.login(USER, "wrong-" + RUN); raise AssertionError("wrong password accepted")
    except imaplib.IMAP4.error:
        pass
    M = imaplib.IMAP4(H, IMAP)
    try:
        M.authenticate("XOAUTH2", lambda _: xoauth2(USER, PW)); raise AssertionError("password accepted as token")
    except imaplib.IMAP4.error:
        pass
    M = imaplib.IMAP4(H, IMAP)
    try:
        M.login(USER, TOKEN); raise AssertionError("token accepted as password")
    except imaplib.IMAP4.error:
        pass
    t0 = time.monotonic(); imap_login().logout(); dt = time.monotonic() - t0
    assert dt < 1.5, "login after failure took %.1f s (auth penalty active?)" % dt

@check("granskare@rjl.test, ekonomi@rjl.test, clinic logins")
def _():
    for u, p in (("granskare@rjl.test", "granskare-pass"), ("ekonomi@rjl.test", "ekonomi-pass"),
                 (CLINIC1, "clinic-pass"), (CLINIC2, "clinic-pass")):
        imap_login(u, p).logout()

@check("capabilities IDLE MOVE UIDPLUS SPECIAL-USE; folders with special-use")
def _():
    M = imap_login()
    typ, d = M.capability()
    caps = set(d[0].decode().upper().split())
    missing = {"IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE", "CONDSTORE"} - caps
    assert not missing, "missing capabilities %s in %s" % (missing, sorted(caps))
    typ, data = M.list()
    text = b"\n".join(data).decode()
    for f, su in (("Sent", "\\Sent"), ("Trash", "\\Trash"), ("Archive", "\\Archive"), ("Junk", "\\Junk"), ("Drafts", "\\Drafts")):
        assert re.search(r"\(.*%s.*\) \"/\" %s" % (re.escape(su), f), text), "%s (%s) not listed: %s" % (f, su, text)
    M.logout()

@check("IDLE: '* N EXISTS' after SMTP delivery on port %d" % SMTP)
def _():
    M = imap_login(); M.select("INBOX")
    tag = M._new_tag(); M.send(tag + b" IDLE\r\n")
    line = M.readline(); assert line.startswith(b"+"), line
    subject = "idle-%s" % RUN
    t0 = time.monotonic()
    with smtplib.SMTP(H, SMTP) as s:
        s.sendmail("klinik@vc.test", [USER], msg(subject))
    M.sock.settimeout(8)
    line = M.readline()
    dt = time.monotonic() - t0
    assert re.match(rb"\* \d+ EXISTS", line), line
    M.sock.settimeout(None)
    M.send(b"DONE\r\n")
    while not M.readline().startswith(tag):
        pass
    wait_subject(M, subject)
    M.logout()
    return "EXISTS %.0f ms after the SMTP delivery started" % (dt * 1000)

@check("SMTP %d: no AUTH offered, unknown rjl.test user 550, relay 554" % SMTP)
def _():
    with smtplib.SMTP(H, SMTP) as s:
        s.ehlo()
        assert not s.has_extn("auth"), "AUTH offered on the plain port"
        s.mail("klinik@vc.test")
        code, _ = s.rcpt("nobody@rjl.test"); assert code == 550, code
        code, _ = s.rcpt("someone@example.com"); assert code == 554, code
        s.rset()

@check("SMTP %d accepts mail for any clinic (*@vc.test, *@*.vc.test)" % SMTP)
def _():
    subject = "clinic-in-%s" % RUN
    rcpts = [CLINIC1, CLINIC2]
    with smtplib.SMTP(H, SMTP) as s:
        s.sendmail("vardval@rjl.test", rcpts, msg(subject, frm=USER, to=", ".join(rcpts)))
    for r in rcpts:
        M = imap_login(r, "clinic-pass"); wait_subject(M, subject); M.logout()

@check("submission %d: AUTH required, STARTTLS verified" % SUB)
def _():
    with smtplib.SMTP(H, SUB) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        s.mail(USER)
        code, _ = s.rcpt("klinik@vc.test")
        assert code >= 500, "unauthenticated submission accepted (%d)" % code
        s.rset()
        s.starttls(context=ctx()); s.ehlo()
        mechs = s.esmtp_features.get("auth", "").upper().split()
        for m in ("PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"):
            assert m in mechs, "AUTH %s not offered: %s" % (m, mechs)

@check("submission AUTH PLAIN relays receipt to clinic, read back over IMAP")
def _():
    subject = "kvitto-%s" % RUN
    with smtplib.SMTP(H, SUB) as s:
        s.starttls(context=ctx()); s.login(USER, PW)
        s.sendmail(USER, [CLINIC2, CLINIC1], msg(subject, frm=USER, to=CLINIC2, body="Tack, vi har tagit emot er projektplan.\r\n"))
    for rcpt in (CLINIC2, CLINIC1):
        C = imap_login(rcpt, "clinic-pass"); uids = wait_subject(C, subject)
        typ, d = C.uid("FETCH", uids[-1], "(BODY.PEEK[])")
        assert "tagit emot".encode() in d[0][1], d
        C.logout()

@check("submission AUTH XOAUTH2 (no TLS) to rjl.test; relay elsewhere refused")
def _():
    subject = "xoauth2-%s" % RUN
    with smtplib.SMTP(H, SUB) as s:
        s.ehlo()
        code, resp = s.docmd("AUTH", "XOAUTH2 " + base64.b64encode(xoauth2(USER, TOKEN)).decode())
        assert code == 235, (code, resp)
        s.mail(USER)
        code, _ = s.rcpt("someone@example.com"); assert code >= 500, "relay to example.com accepted: %d" % code
        s.rset()
        s.sendmail(USER, ["granskare@rjl.test"], msg(subject, frm=USER, to="granskare@rjl.test"))
    M = imap_login("granskare@rjl.test", "granskare-pass"); wait_subject(M, subject); M.logout()

@check("LMTP on port %d delivers (adds Received/Return-Path)" % LMTP)
def _():
    subject = "lmtp-%s" % RUN
    with smtplib.LMTP(H, LMTP) as s:
        s.sendmail("klinik@vc.test", [USER], msg(subject))
    M = imap_login(); uids = wait_subject(M, subject)
    typ, d = M.uid("FETCH", uids[-1], "(BODY.PEEK[HEADER])")
    assert b"Return-Path:" in d[0][1] and b"with LMTP" in d[0][1], d[0][1][:400]
    M.logout()

@check("doveadm save: byte-exact BODY[] (CRLF), INTERNALDATE now")
def _():
    subject = "deliver-%s" % RUN
    raw = (b"From: klinik@vc.test\nTo: vardval@rjl.test\nSubject: " + subject.encode() +
           b"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n"
           b"Content-Transfer-Encoding: 8bit\n\nR\xe4ksm\xf6rg\xe5s\ttrailing  \n.leading dot\n")
    p = subprocess.run(["doveadm", "-c", os.path.join(DIR, "dovecot", "dovecot.conf"), "save", "-u", USER, "-m", "INBOX"],
                       input=raw, capture_output=True)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    M = imap_login(); uids = wait_subject(M, subject)
    typ, d = M.uid("FETCH", uids[-1], "(INTERNALDATE BODY.PEEK[])")
    body = d[0][1]
    assert body == raw.replace(b"\n", b"\r\n"), "BODY[] differs"
    ts = imaplib.Internaldate2tuple(d[0][0])
    assert abs(time.mktime(ts) - time.time()) < 120, d[0][0]
    M.logout()

@check("APPEND with a chosen INTERNALDATE keeps the instant")
def _():
    subject = "append-%s" % RUN
    M = imap_login()
    typ, _ = M.append("INBOX", None, '"15-Feb-2026 23:59:30 +0100"', msg(subject)); assert typ == "OK"
    uids = wait_subject(M, subject)
    typ, d = M.uid("FETCH", uids[-1], "(INTERNALDATE)")
    ts = imaplib.Internaldate2tuple(d[0])
    assert time.mktime(ts) == 1771196370, (d, time.mktime(ts))
    M.logout()

@check("UID MOVE INBOX -> Archive")
def _():
    subject = "move-%s" % RUN
    with smtplib.SMTP(H, SMTP) as s:
        s.sendmail("klinik@vc.test", [USER], msg(subject))
    M = imap_login(); uids = wait_subject(M, subject)
    typ, d = M.uid("MOVE", uids[-1], "Archive"); assert typ == "OK", d
    M.select("INBOX"); typ, d = M.uid("SEARCH", None, "HEADER", "Subject", subject)
    assert d[0].split() == [], "still in INBOX"
    wait_subject(M, subject, mailbox="Archive", timeout=2)
    M.logout()

def cleanup():
    """Remove this run's messages so that tests see the mailboxes as they were."""
    for user, pw in ((USER, PW), ("granskare@rjl.test", "granskare-pass"), (CLINIC1, "clinic-pass"), (CLINIC2, "clinic-pass")):
        M = imap_login(user, pw)
        for mbox in ("INBOX", "Archive"):
            M.select(mbox)
            typ, d = M.uid("SEARCH", None, "HEADER", "Subject", RUN)
            if d[0].split():
                M.uid("STORE", b",".join(d[0].split()), "+FLAGS.SILENT", r"(\Deleted)")
                M.expunge()
        M.logout()

try:
    cleanup()
except Exception as e:  # noqa: BLE001
    print("warning: cleanup failed: %s" % e)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
}

# ---------------------------------------------------------------------------------------------

main() {
  local cmd=${1:-}
  [ -n "$cmd" ] || usage
  case "$cmd" in -h|--help|help) usage 0 ;; esac
  shift
  setup_paths "${1:-}"
  shift
  case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    selftest) cmd_selftest ;;
    deliver) cmd_deliver "$@" ;;
    lmtp) cmd_lmtp "$@" ;;
    smtp) cmd_smtp "$@" ;;
    append) cmd_append "$@" ;;
    restart-imap) cmd_restart_imap ;;
    stop-smtp) cmd_stop_smtp ;;
    start-smtp) cmd_start_smtp ;;
    env) cmd_env ;;
    clean) cmd_clean ;;
    *) usage ;;
  esac
}

main "$@"
